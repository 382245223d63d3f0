// Covers the kernel ISA levels (src/kernels/isa.hpp, src/kernels/simd/): every SIMD level this CPU
// runs gives the scalar reference's bytes for every GGUF block type and output type (ggml's real
// blocks, every f16 scale, random bytes with NaN/inf scales, unaligned buffers), the same for
// f32 → bf16/f16 narrowing, and AMN_FORCE_ISA picks the level it names.
#include <doctest/doctest.h>

#include <bit>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "amn/amn.hpp"
#include "io/tensor_data.hpp"
#include "kernels/convert.hpp"
#include "kernels/dequant.hpp"
#include "kernels/isa.hpp"

namespace {

using amn::DType;
using amn::kernels::Isa;

const std::string kGgmlFixture = AMN_SOURCE_DIR "/test/fixtures/ggml/all_types.gguf";
constexpr DType kOutputs[] = {DType::F32, DType::BF16, DType::F16};

/// A zeroed buffer of `size` bytes starting `offset` bytes past a 64-byte boundary.
class OffsetBuffer {
 public:
  OffsetBuffer(size_t size, size_t offset) : storage_(size + kAlignment + offset), size_(size) {
    const auto address = reinterpret_cast<uintptr_t>(storage_.data());
    data_ = storage_.data() + (kAlignment - address % kAlignment) % kAlignment + offset;
  }
  [[nodiscard]] std::byte* data() { return data_; }
  [[nodiscard]] std::vector<std::byte> bytes() const { return {data_, data_ + size_}; }

 private:
  static constexpr size_t kAlignment = 64;
  std::vector<std::byte> storage_;
  std::byte* data_;
  size_t size_;
};

/// First differing element of two byte buffers of `elem_size`-byte elements, or -1.
long first_difference(const std::vector<std::byte>& got, const std::vector<std::byte>& want, size_t elem_size) {
  for (size_t offset = 0; offset < want.size(); offset += elem_size) {
    if (std::memcmp(got.data() + offset, want.data() + offset, elem_size) != 0) return static_cast<long>(offset / elem_size);
  }
  return -1;
}

/// Dequantises `blocks` with every SIMD level and every output type, into a buffer `out_offset`
/// bytes past a 64-byte boundary (input at an odd address), and compares with the scalar
/// reference. Aligned outputs of 1 MiB and more take the non-temporal store path.
void check_levels_match_reference(DType type, const std::vector<std::byte>& blocks, size_t out_offset = 1) {
  const size_t block_count = blocks.size() * 8 / amn::info(type).block_bits;
  const size_t elems = block_count * amn::info(type).block_elems;
  OffsetBuffer shifted_input(blocks.size(), 1);
  std::memcpy(shifted_input.data(), blocks.data(), blocks.size());
  for (const DType to : kOutputs) {
    const size_t out_size = amn::info(to).block_bits / 8;
    std::vector<std::byte> want(elems * out_size);
    amn::kernels::dequant_with(Isa::Scalar, type, blocks.data(), block_count, to, want.data());
    for (const Isa isa : amn::kernels::supported_isas()) {
      if (isa == Isa::Scalar) continue;
      CAPTURE(amn::kernels::isa_name(isa));
      CAPTURE(amn::info(to).name);
      OffsetBuffer output(want.size(), out_offset);
      amn::kernels::dequant_with(isa, type, shifted_input.data(), block_count, to, output.data());
      const long differs = first_difference(output.bytes(), want, out_size);
      CHECK_MESSAGE(differs < 0, "first difference at element " << differs);
    }
  }
}

}  // namespace

TEST_CASE("ISA levels: names, support, selection") {
  using amn::kernels::select_isa;
  const auto supported = amn::kernels::supported_isas();
  REQUIRE(!supported.empty());
  CHECK(supported.front() == Isa::Scalar);
  for (const Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Avx512Bf16}) {
    CAPTURE(amn::kernels::isa_name(isa));
    CHECK(amn::kernels::isa_from_name(amn::kernels::isa_name(isa)) == isa);
    if (amn::kernels::isa_supported(isa)) {
      CHECK(select_isa(std::string(amn::kernels::isa_name(isa)).c_str()) == isa);
    } else {
      CHECK(select_isa(std::string(amn::kernels::isa_name(isa)).c_str()) < isa);
    }
  }
  CHECK(select_isa(nullptr) == supported.back());
  CHECK(select_isa("sse9") == supported.back());
  CHECK(!amn::kernels::isa_from_name("AVX2"));
}

TEST_CASE("AMN_FORCE_ISA selects the level it names") {
  // meson runs this case once per level with AMN_FORCE_ISA set (test/meson.build)
  const char* forced = std::getenv(amn::kernels::kForceIsaVariable);
  CHECK(amn::kernels::active_isa() == amn::kernels::select_isa(forced));
  if (forced && amn::kernels::isa_from_name(forced) && amn::kernels::isa_supported(*amn::kernels::isa_from_name(forced))) {
    CHECK(amn::kernels::isa_name(amn::kernels::active_isa()) == forced);
  }
}

TEST_CASE("ISA levels equal the reference on ggml's blocks") {
  const auto catalog = amn::open_model(kGgmlFixture);
  amn::io::TensorData data(catalog, {});
  for (size_t tensor_idx = 0; tensor_idx < catalog.tensors.size(); ++tensor_idx) {
    const DType type = catalog.tensors[tensor_idx].dtype;
    if (!amn::is_block_type(type)) continue;
    CAPTURE(amn::info(type).name);
    check_levels_match_reference(type, data.read_all(tensor_idx));
  }
}

TEST_CASE("ISA levels equal the reference on random blocks") {
  // random bytes: every field value, including NaN and infinite scales
  constexpr size_t kBlocks = 2048;
  std::mt19937 random(7);
  for (const auto& entry : amn::all_dtypes()) {
    if (!amn::is_block_type(entry.type)) continue;
    CAPTURE(entry.name);
    std::vector<std::byte> blocks(kBlocks * entry.block_bits / 8);
    for (auto& byte : blocks) byte = static_cast<std::byte>(random());
    check_levels_match_reference(entry.type, blocks);
  }
}

TEST_CASE("ISA levels equal the reference with non-temporal stores") {
  // outputs of at least 1 MiB at a 64-byte aligned address are streamed
  constexpr size_t kElems = size_t{1} << 19;
  std::mt19937 random(5);
  for (const auto& entry : amn::all_dtypes()) {
    if (!amn::is_block_type(entry.type)) continue;
    CAPTURE(entry.name);
    std::vector<std::byte> blocks(kElems / entry.block_elems * entry.block_bits / 8);
    for (auto& byte : blocks) byte = static_cast<std::byte>(random());
    check_levels_match_reference(entry.type, blocks, 0);
  }
}

TEST_CASE("ISA levels equal the reference for every f16 scale") {
  // Q8_0 blocks whose d runs through all 65536 half values (subnormals, inf, NaN payloads)
  constexpr size_t kBlockBytes = 34;
  std::vector<std::byte> blocks(65536 * kBlockBytes);
  for (uint32_t half = 0; half < 65536; ++half) {
    std::byte* block = blocks.data() + half * kBlockBytes;
    block[0] = static_cast<std::byte>(half & 0xff);
    block[1] = static_cast<std::byte>(half >> 8);
    for (size_t code = 0; code < 32; ++code) block[2 + code] = static_cast<std::byte>(code * 8 + half % 8);
  }
  check_levels_match_reference(DType::Q8_0, blocks);
}

TEST_CASE("ISA levels narrow f32 like the reference") {
  // special values, random bit patterns (NaN payloads, subnormals, ties), and counts with tails
  std::vector<uint32_t> bits = {0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7f800001, 0xffbfffff,
                                0x7fc00000, 0x00000001, 0x007fffff, 0x80400000, 0x3f808000, 0x3f818000,
                                0x7f7fffff, 0x477ff000, 0x477fefff, 0x33000000, 0x33000001, 0x38800000};
  std::mt19937 random(11);
  while (bits.size() < (1u << 19) + 7) bits.push_back(static_cast<uint32_t>(random()));
  std::vector<float> values(bits.size());
  std::memcpy(values.data(), bits.data(), bits.size() * sizeof(float));
  for (const DType to : {DType::BF16, DType::F16}) {
    for (const size_t count : {values.size(), size_t{5}, size_t{16}, size_t{33}, size_t{1} << 19}) {
      std::vector<std::byte> want(count * 2);
      amn::kernels::store_f32_with(Isa::Scalar, values.data(), count, to, want.data());
      for (const Isa isa : amn::kernels::supported_isas()) {
        CAPTURE(amn::kernels::isa_name(isa));
        CAPTURE(amn::info(to).name);
        CAPTURE(count);
        // 2^19 elements aligned: 1 MiB of non-temporal stores; the others unaligned
        OffsetBuffer output(want.size(), count == size_t{1} << 19 ? 0 : 1);
        amn::kernels::store_f32_with(isa, values.data(), count, to, output.data());
        const long differs = first_difference(output.bytes(), want, 2);
        CHECK_MESSAGE(differs < 0, "first difference at element " << differs << " (f32 bits 0x" << std::hex
                                                                  << (differs < 0 ? 0 : bits[differs]) << ")");
      }
    }
  }
}
