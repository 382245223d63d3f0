// Element conversions between plain float types.
#include "kernels/convert.hpp"

#include <bit>
#include <cmath>
#include <vector>

#include "kernels/dequant.hpp"
#include "kernels/simd/kernel_set.hpp"

namespace amn::kernels {
namespace {

constexpr size_t kBatch = 4096;  // elements decoded to f32 before narrowing

float bits_to_f32(uint32_t bits) { return std::bit_cast<float>(bits); }

/// OCP FP8 E4M3 (torch float8_e4m3fn): bias 7, no infinities, S.1111.111 is NaN.
float e4m3_to_f32(uint8_t byte) {
  uint32_t sign = static_cast<uint32_t>(byte & 0x80u) << 24;
  uint32_t exponent = (byte >> 3) & 0xfu;
  uint32_t mantissa = byte & 0x7u;
  if (exponent == 0xf && mantissa == 0x7) return bits_to_f32(sign | 0x7f800000u | (mantissa << 20));  // quiet NaN, payload kept
  if (exponent == 0) {
    // subnormal: mantissa × 2^-9
    float magnitude = std::ldexp(static_cast<float>(mantissa), -9);
    return sign ? -magnitude : magnitude;
  }
  return bits_to_f32(sign | ((exponent + 127 - 7) << 23) | (mantissa << 20));
}

/// FP8 E5M2 (torch float8_e5m2): the top byte of an IEEE half.
float e5m2_to_f32(uint8_t byte) { return f16_to_f32(static_cast<uint16_t>(byte) << 8); }

void decode_f32(DType from, const std::byte* src, size_t count, float* dst) {
  switch (from) {
    case DType::F32:
      std::memcpy(dst, src, count * sizeof(float));
      return;
    case DType::F64:
      for (size_t idx = 0; idx < count; ++idx) {
        double value;
        std::memcpy(&value, src + idx * sizeof(double), sizeof(double));
        dst[idx] = static_cast<float>(value);
      }
      return;
    case DType::F16:
    case DType::BF16:
      for (size_t idx = 0; idx < count; ++idx) {
        uint16_t half;
        std::memcpy(&half, src + idx * 2, 2);
        dst[idx] = from == DType::F16 ? f16_to_f32(half) : bf16_to_f32(half);
      }
      return;
    case DType::F8_E4M3:
    case DType::F8_E5M2:
      for (size_t idx = 0; idx < count; ++idx) {
        auto byte = static_cast<uint8_t>(src[idx]);
        dst[idx] = from == DType::F8_E4M3 ? e4m3_to_f32(byte) : e5m2_to_f32(byte);
      }
      return;
    default:
      return;
  }
}

}  // namespace

uint16_t f32_to_f16(float value) {
  uint32_t bits = std::bit_cast<uint32_t>(value);
  auto sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((magnitude >> 13) & 0x3ffu));
  if (magnitude >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to ≥ 65520: inf
  if (magnitude < 0x38800000u) {
    // Result is subnormal (or zero): value / 2^-24 rounded to nearest even.
    if (magnitude < 0x33000000u) return sign;  // below half the smallest subnormal
    uint32_t shift = 126 - (magnitude >> 23);  // 14..24
    uint32_t mant = (magnitude & 0x7fffffu) | 0x800000u;
    uint32_t half_mant = mant >> shift;
    uint32_t rest = mant & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half_mant & 1u))) ++half_mant;
    return static_cast<uint16_t>(sign | half_mant);
  }
  // Normal: rebias the exponent and round the 13 dropped mantissa bits to nearest even.
  uint32_t rebased = magnitude - (112u << 23);
  uint32_t rounded = rebased + 0xfffu + ((rebased >> 13) & 1u);
  return static_cast<uint16_t>(sign | (rounded >> 13));
}

bool can_convert(DType from, DType to) {
  bool float_source = from == DType::F64 || from == DType::F32 || from == DType::F16 || from == DType::BF16 ||
                      from == DType::F8_E4M3 || from == DType::F8_E5M2;
  bool float_target = to == DType::F32 || to == DType::F16 || to == DType::BF16;
  return float_source && float_target;
}

void store_f32_with(Isa isa, const float* src, size_t count, DType to, std::byte* dst) {
  const simd::KernelSet* set = simd::kernel_set(isa);
  switch (to) {
    case DType::F32:
      std::memcpy(dst, src, count * sizeof(float));
      return;
    case DType::BF16:
      if (set) {
        set->narrow_bf16(src, count, dst);
        return;
      }
      for (size_t idx = 0; idx < count; ++idx) {
        uint16_t half = f32_to_bf16(src[idx]);
        std::memcpy(dst + idx * 2, &half, 2);
      }
      return;
    case DType::F16:
      if (set) {
        set->narrow_f16(src, count, dst);
        return;
      }
      for (size_t idx = 0; idx < count; ++idx) {
        uint16_t half = f32_to_f16(src[idx]);
        std::memcpy(dst + idx * 2, &half, 2);
      }
      return;
    default:
      return;
  }
}

void store_f32(const float* src, size_t count, DType to, std::byte* dst) {
  store_f32_with(active_isa(), src, count, to, dst);
}

void convert_elements(DType from, const std::byte* src, size_t count, DType to, std::byte* dst) {
  const size_t in_size = info(from).block_bits / 8;
  const size_t out_size = info(to).block_bits / 8;
  if (from == to) {
    std::memcpy(dst, src, count * in_size);
    return;
  }
  std::vector<float> batch(std::min(count, kBatch));
  for (size_t done = 0; done < count; done += batch.size()) {
    size_t step = std::min(batch.size(), count - done);
    decode_f32(from, src + done * in_size, step, batch.data());
    store_f32(batch.data(), step, to, dst + done * out_size);
  }
}

void dequant_elements(DType from, const std::byte* src, size_t blocks, DType to, std::byte* dst) {
  dequant_with(active_isa(), from, src, blocks, to, dst);
}

}  // namespace amn::kernels
