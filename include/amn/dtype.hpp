// amn — element types and block-quantised storage types.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace amn {

/// Every storage type amn knows: plain element types (the safetensors set) and the GGUF block
/// types. A plain type stores one element in `bits` bits; a block type stores `block_elems`
/// elements in `block_bytes` bytes.
enum class DType : uint8_t {
  // plain element types
  BOOL, U8, I8, U16, I16, U32, I32, U64, I64,
  F4, F6_E2M3, F6_E3M2, F8_E4M3, F8_E5M2, F8_E8M0,
  F16, BF16, F32, F64, C64,
  // GGUF block types
  Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1,
  Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K,
  IQ2_XXS, IQ2_XS, IQ3_XXS, IQ1_S, IQ4_NL, IQ3_S, IQ2_S, IQ4_XS, IQ1_M,
  TQ1_0, TQ2_0, MXFP4, NVFP4, Q1_0, Q2_0,
  kCount
};

/// Static facts about one DType.
struct DTypeInfo {
  DType type;
  std::string_view name;       ///< safetensors spelling for plain types ("F32"), ggml's for blocks ("Q4_K")
  uint32_t block_elems;        ///< elements per block (1 for plain types)
  uint32_t block_bits;         ///< bits per block (element bits for plain types)
  int32_t gguf_id;             ///< ggml type id, or -1 when GGUF cannot hold the type
  bool is_float;               ///< a floating-point plain type (dequantisation target candidates)
};

/// The facts for `type`.
[[nodiscard]] const DTypeInfo& info(DType type);
/// All known types, in enum order.
[[nodiscard]] std::span<const DTypeInfo> all_dtypes();
/// The type spelled exactly `name` (case-sensitive, as safetensors requires), if any.
[[nodiscard]] std::optional<DType> dtype_from_name(std::string_view name);
/// The type with ggml id `id`, if ggml defines it today.
[[nodiscard]] std::optional<DType> dtype_from_gguf_id(uint32_t id);
/// True for GGUF block-quantised types.
[[nodiscard]] inline bool is_block_type(DType type) { return type >= DType::Q4_0 && type < DType::kCount; }

/// Bytes needed for `elems` elements of `type`, or nullopt when the count does not fill whole
/// blocks / whole bytes, or the result overflows.
[[nodiscard]] std::optional<uint64_t> byte_size(DType type, uint64_t elems);

/// Product of dims with overflow and negativity checks; nullopt on overflow or a negative dim.
[[nodiscard]] std::optional<uint64_t> element_count(std::span<const int64_t> shape);

}  // namespace amn
