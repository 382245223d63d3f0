#include "formats/formats.hpp"
#include "amn/error.hpp"
namespace amn::formats {
OutLayout layout_gguf(std::vector<OutTensor>&, const std::vector<MetaEntry>&) { throw Error(ErrorCode::Unsupported, "gguf writer not built yet"); }
}
