#include "formats/formats.hpp"
#include "amn/error.hpp"
namespace amn::formats {
Catalog read_pth(const std::string& path, const Limits&) { fail_unsupported(path, "pth reader not built yet"); }
}
