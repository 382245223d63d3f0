// Human and JSON reports of a catalog (inspect, parse) and of a conversion.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

#include "amn/amn.hpp"

namespace amn::cli {

/// "1.7 KiB", "3.2 GiB": binary units, one decimal.
[[nodiscard]] std::string human_bytes(uint64_t bytes);

/// What a report says about recovering precision: the scheme (named by remember's recognisers)
/// and the size of the file `amn remember [--dtype]` would write, or why it would refuse.
struct Recovery {
  std::string scheme;                  ///< "" = none
  std::optional<uint64_t> bytes;       ///< remember's output size, when it would not refuse
  std::string dtype;                   ///< "bf16", "f16", "f32", or "" for remember's default
  std::string refusal;                 ///< remember's error message, when it would refuse
};

/// Names the scheme and plans `amn remember` (options.dequantize, `dtype`) without writing.
[[nodiscard]] Recovery recovery_of(const Catalog& catalog, std::optional<DType> dtype, const std::string& dtype_name,
                                   const Limits& limits);

/// Prints the summary of `catalog` (and, with `per_tensor`, the tensor table, metadata and
/// non-tensor values) as text or as one JSON object.
void print_catalog(std::ostream& out, const std::string& path, const Catalog& catalog, const Recovery& recovery,
                   bool per_tensor, bool json);

}  // namespace amn::cli
