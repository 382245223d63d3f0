#include "formats/formats.hpp"
#include "amn/error.hpp"
namespace amn::formats {
Catalog read_npy(const std::string& path, const Limits&) { fail_unsupported(path, "npy reader not built yet"); }
Catalog read_npz(const std::string& path, const Limits&) { fail_unsupported(path, "npz reader not built yet"); }
}
