// The list of scheme recognisers (one file per scheme in src/stages/schemes/).
#pragma once

#include <vector>

#include "stages/schemes/schemes.hpp"

namespace amn::stages {

// Declare each recogniser here and add it to kRecognisers.

/// BitsAndBytes 4-bit (NF4/FP4, double quant) and LLM.int8 (src/stages/schemes/bnb.cpp).
[[nodiscard]] std::optional<SchemeMatch> recognise_bnb(const SchemeContext& context);

/// NVFP4 as compressed-tensors and ModelOpt write it (src/stages/schemes/fp4.cpp).
[[nodiscard]] std::optional<SchemeMatch> recognise_nvfp4(const SchemeContext& context);
/// MXFP4 MoE experts as gpt-oss ships them (src/stages/schemes/fp4.cpp).
[[nodiscard]] std::optional<SchemeMatch> recognise_mxfp4(const SchemeContext& context);

/// FP8 E4M3/E5M2 weights with per-tensor, per-channel or block scales (src/stages/schemes/fp8.cpp).
[[nodiscard]] std::optional<SchemeMatch> recognise_fp8(const SchemeContext& context);
/// compressed-tensors pack-quantized int4/int8 (src/stages/schemes/compressed_tensors.cpp).
[[nodiscard]] std::optional<SchemeMatch> recognise_compressed_tensors(const SchemeContext& context);
/// GPTQ 2/3/4/8-bit, v1 and v2, act-order (src/stages/schemes/gptq.cpp).
[[nodiscard]] std::optional<SchemeMatch> recognise_gptq(const SchemeContext& context);
/// AWQ 4-bit, AutoAWQ's GEMM layout (src/stages/schemes/awq.cpp).
[[nodiscard]] std::optional<SchemeMatch> recognise_awq(const SchemeContext& context);

/// In order: a recogniser sees which tensors the earlier ones claimed (SchemeContext::claimed),
/// so the FP4 schemes, whose block scales are F8_E4M3, come before FP8.
inline const std::vector<Recogniser> kRecognisers = {recognise_bnb, recognise_nvfp4, recognise_mxfp4, recognise_fp8, recognise_compressed_tensors, recognise_gptq, recognise_awq};

}  // namespace amn::stages
