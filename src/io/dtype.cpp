// The dtype table: names, block geometry and ggml ids.
#include <array>
#include <limits>

#include "amn/dtype.hpp"

namespace amn {
namespace {

// Block geometry of ggml types as in ggml-common.h: {elements per block, bytes per block}.
constexpr std::array<DTypeInfo, static_cast<size_t>(DType::kCount)> kTable = {{
    {DType::BOOL, "BOOL", 1, 8, -1, false},
    {DType::U8, "U8", 1, 8, -1, false},
    {DType::I8, "I8", 1, 8, 24, false},
    {DType::U16, "U16", 1, 16, -1, false},
    {DType::I16, "I16", 1, 16, 25, false},
    {DType::U32, "U32", 1, 32, -1, false},
    {DType::I32, "I32", 1, 32, 26, false},
    {DType::U64, "U64", 1, 64, -1, false},
    {DType::I64, "I64", 1, 64, 27, false},
    {DType::F4, "F4", 1, 4, -1, true},
    {DType::F6_E2M3, "F6_E2M3", 1, 6, -1, true},
    {DType::F6_E3M2, "F6_E3M2", 1, 6, -1, true},
    {DType::F8_E4M3, "F8_E4M3", 1, 8, -1, true},
    {DType::F8_E5M2, "F8_E5M2", 1, 8, -1, true},
    {DType::F8_E8M0, "F8_E8M0", 1, 8, -1, true},
    {DType::F16, "F16", 1, 16, 1, true},
    {DType::BF16, "BF16", 1, 16, 30, true},
    {DType::F32, "F32", 1, 32, 0, true},
    {DType::F64, "F64", 1, 64, 28, true},
    {DType::C64, "C64", 1, 64, -1, false},
    {DType::Q4_0, "Q4_0", 32, 18 * 8, 2, false},
    {DType::Q4_1, "Q4_1", 32, 20 * 8, 3, false},
    {DType::Q5_0, "Q5_0", 32, 22 * 8, 6, false},
    {DType::Q5_1, "Q5_1", 32, 24 * 8, 7, false},
    {DType::Q8_0, "Q8_0", 32, 34 * 8, 8, false},
    {DType::Q8_1, "Q8_1", 32, 36 * 8, 9, false},
    {DType::Q2_K, "Q2_K", 256, 84 * 8, 10, false},
    {DType::Q3_K, "Q3_K", 256, 110 * 8, 11, false},
    {DType::Q4_K, "Q4_K", 256, 144 * 8, 12, false},
    {DType::Q5_K, "Q5_K", 256, 176 * 8, 13, false},
    {DType::Q6_K, "Q6_K", 256, 210 * 8, 14, false},
    {DType::Q8_K, "Q8_K", 256, 292 * 8, 15, false},
    {DType::IQ2_XXS, "IQ2_XXS", 256, 66 * 8, 16, false},
    {DType::IQ2_XS, "IQ2_XS", 256, 74 * 8, 17, false},
    {DType::IQ3_XXS, "IQ3_XXS", 256, 98 * 8, 18, false},
    {DType::IQ1_S, "IQ1_S", 256, 50 * 8, 19, false},
    {DType::IQ4_NL, "IQ4_NL", 32, 18 * 8, 20, false},
    {DType::IQ3_S, "IQ3_S", 256, 110 * 8, 21, false},
    {DType::IQ2_S, "IQ2_S", 256, 82 * 8, 22, false},
    {DType::IQ4_XS, "IQ4_XS", 256, 136 * 8, 23, false},
    {DType::IQ1_M, "IQ1_M", 256, 56 * 8, 29, false},
    {DType::TQ1_0, "TQ1_0", 256, 54 * 8, 34, false},
    {DType::TQ2_0, "TQ2_0", 256, 66 * 8, 35, false},
    {DType::MXFP4, "MXFP4", 32, 17 * 8, 39, false},
    {DType::NVFP4, "NVFP4", 64, 36 * 8, 40, false},
    {DType::Q1_0, "Q1_0", 128, 18 * 8, 41, false},
    {DType::Q2_0, "Q2_0", 64, 18 * 8, 42, false},
}};

constexpr bool table_in_enum_order() {
  for (size_t idx = 0; idx < kTable.size(); ++idx) {
    if (static_cast<size_t>(kTable[idx].type) != idx) return false;
  }
  return true;
}
static_assert(table_in_enum_order(), "kTable must list DType values in enum order");

}  // namespace

const DTypeInfo& info(DType type) { return kTable[static_cast<size_t>(type)]; }

std::span<const DTypeInfo> all_dtypes() { return kTable; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& entry : kTable) {
    if (entry.name == name) return entry.type;
  }
  return std::nullopt;
}

std::optional<DType> dtype_from_gguf_id(uint32_t id) {
  for (const auto& entry : kTable) {
    if (entry.gguf_id >= 0 && static_cast<uint32_t>(entry.gguf_id) == id) return entry.type;
  }
  return std::nullopt;
}

std::optional<uint64_t> byte_size(DType type, uint64_t elems) {
  const auto& entry = info(type);
  if (elems % entry.block_elems != 0) return std::nullopt;
  uint64_t blocks = elems / entry.block_elems;
  if (blocks != 0 && entry.block_bits > std::numeric_limits<uint64_t>::max() / blocks) return std::nullopt;
  uint64_t bits = blocks * entry.block_bits;
  if (bits % 8 != 0) return std::nullopt;
  return bits / 8;
}

std::optional<uint64_t> element_count(std::span<const int64_t> shape) {
  uint64_t count = 1;
  for (int64_t dim : shape) {
    if (dim < 0) return std::nullopt;
    auto udim = static_cast<uint64_t>(dim);
    if (udim != 0 && count > std::numeric_limits<uint64_t>::max() / udim) return std::nullopt;
    count *= udim;
  }
  // Keep counts representable as int64 (dims are int64 on every format).
  if (count > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
  return count;
}

}  // namespace amn
