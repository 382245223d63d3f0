#include "formats/formats.hpp"
#include "amn/error.hpp"
namespace amn::formats {
Catalog read_gguf(const std::string& path, const Limits&) { fail_unsupported(path, "gguf reader not built yet"); }
}
