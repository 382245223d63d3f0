// Human and JSON reports of a catalog (inspect, parse) and of a conversion.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>

#include "amn/amn.hpp"

namespace amn::cli {

/// "1.7 KiB", "3.2 GiB": binary units, one decimal.
[[nodiscard]] std::string human_bytes(uint64_t bytes);

/// Prints the summary of `catalog` (and, with `per_tensor`, the tensor table, metadata and
/// non-tensor values) as text or as one JSON object.
void print_catalog(std::ostream& out, const std::string& path, const Catalog& catalog, bool per_tensor, bool json);

}  // namespace amn::cli
