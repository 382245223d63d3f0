#include "formats/formats.hpp"
#include "amn/error.hpp"
namespace amn::formats {
OutLayout layout_safetensors(std::vector<OutTensor>&, const std::vector<MetaEntry>&) { throw Error(ErrorCode::Unsupported, "safetensors writer not built yet"); }
}
