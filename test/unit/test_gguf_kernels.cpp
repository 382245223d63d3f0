// Covers GGUF block dequantisation (src/kernels/gguf): block layouts against the dtype table, and
// every block type in test/fixtures/ggml (quantised by ggml) bit for bit against ggml's own
// dequantize_row_* output stored beside it (see that folder's README.md).
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "amn/amn.hpp"
#include "io/tensor_data.hpp"
#include "kernels/convert.hpp"
#include "kernels/dequant.hpp"
#include "kernels/gguf/blocks.hpp"

namespace {

namespace gguf = amn::kernels::gguf;
using amn::DType;

const std::string kGgmlFixtureDir = AMN_SOURCE_DIR "/test/fixtures/ggml/";

template <class Block>
void check_geometry(DType type) {
  CAPTURE(amn::info(type).name);
  CHECK(Block::kElems == amn::info(type).block_elems);
  CHECK(sizeof(Block) * 8 == amn::info(type).block_bits);
}

/// Dequantises `blocks` and compares with `expected` bit for bit; reports the first difference.
void check_bit_exact(DType type, const std::byte* blocks, size_t block_count, const std::vector<std::byte>& expected) {
  std::vector<float> got(expected.size() / sizeof(float));
  REQUIRE(got.size() == block_count * amn::info(type).block_elems);
  amn::kernels::dequant_elements(type, blocks, block_count, DType::F32, reinterpret_cast<std::byte*>(got.data()));
  for (size_t elem = 0; elem < got.size(); ++elem) {
    uint32_t got_bits;
    uint32_t want_bits;
    std::memcpy(&got_bits, &got[elem], sizeof(got_bits));
    std::memcpy(&want_bits, expected.data() + elem * sizeof(float), sizeof(want_bits));
    if (got_bits != want_bits) {
      FAIL_CHECK("element " << elem << ": got 0x" << std::hex << got_bits << ", ggml 0x" << want_bits);
      return;
    }
  }
}

}  // namespace

TEST_CASE("GGUF block structs match the dtype table geometry") {
  check_geometry<gguf::BlockQ4_0>(DType::Q4_0);
  check_geometry<gguf::BlockQ4_1>(DType::Q4_1);
  check_geometry<gguf::BlockQ5_0>(DType::Q5_0);
  check_geometry<gguf::BlockQ5_1>(DType::Q5_1);
  check_geometry<gguf::BlockQ8_0>(DType::Q8_0);
  check_geometry<gguf::BlockQ8_1>(DType::Q8_1);
  check_geometry<gguf::BlockQ2_K>(DType::Q2_K);
  check_geometry<gguf::BlockQ3_K>(DType::Q3_K);
  check_geometry<gguf::BlockQ4_K>(DType::Q4_K);
  check_geometry<gguf::BlockQ5_K>(DType::Q5_K);
  check_geometry<gguf::BlockQ6_K>(DType::Q6_K);
  check_geometry<gguf::BlockQ8_K>(DType::Q8_K);
  check_geometry<gguf::BlockIq2Xxs>(DType::IQ2_XXS);
  check_geometry<gguf::BlockIq2Xs>(DType::IQ2_XS);
  check_geometry<gguf::BlockIq3Xxs>(DType::IQ3_XXS);
  check_geometry<gguf::BlockIq1S>(DType::IQ1_S);
  check_geometry<gguf::BlockIq4Nl>(DType::IQ4_NL);
  check_geometry<gguf::BlockIq3S>(DType::IQ3_S);
  check_geometry<gguf::BlockIq2S>(DType::IQ2_S);
  check_geometry<gguf::BlockIq4Xs>(DType::IQ4_XS);
  check_geometry<gguf::BlockIq1M>(DType::IQ1_M);
  check_geometry<gguf::BlockTq1_0>(DType::TQ1_0);
  check_geometry<gguf::BlockTq2_0>(DType::TQ2_0);
  check_geometry<gguf::BlockMxfp4>(DType::MXFP4);
  check_geometry<gguf::BlockNvfp4>(DType::NVFP4);
  check_geometry<gguf::BlockQ1_0>(DType::Q1_0);
  check_geometry<gguf::BlockQ2_0>(DType::Q2_0);
}

TEST_CASE("every GGUF block type can be dequantised, plain types cannot") {
  for (const auto& entry : amn::all_dtypes()) {
    CAPTURE(entry.name);
    CHECK(amn::kernels::can_dequant(entry.type) == amn::is_block_type(entry.type));
  }
}

TEST_CASE("GGUF dequantisation equals ggml's bit for bit") {
  const auto quantised = amn::open_model(kGgmlFixtureDir + "all_types.gguf");
  const auto dequantised = amn::open_model(kGgmlFixtureDir + "all_types.expected_f32.npz");
  amn::io::TensorData quantised_data(quantised, {});
  amn::io::TensorData dequantised_data(dequantised, {});
  std::map<std::string, size_t> expected_index;
  for (size_t tensor_idx = 0; tensor_idx < dequantised.tensors.size(); ++tensor_idx) {
    expected_index[dequantised.tensors[tensor_idx].name] = tensor_idx;
  }

  std::set<DType> covered;
  for (size_t tensor_idx = 0; tensor_idx < quantised.tensors.size(); ++tensor_idx) {
    const auto& tensor = quantised.tensors[tensor_idx];
    if (!amn::is_block_type(tensor.dtype)) continue;
    CAPTURE(tensor.name);
    covered.insert(tensor.dtype);
    const auto found = expected_index.find(tensor.name);
    REQUIRE(found != expected_index.end());
    REQUIRE(dequantised.tensors[found->second].dtype == DType::F32);

    const auto blocks = quantised_data.read_all(tensor_idx);
    const auto expected = dequantised_data.read_all(found->second);
    const size_t block_count = blocks.size() * 8 / amn::info(tensor.dtype).block_bits;
    check_bit_exact(tensor.dtype, blocks.data(), block_count, expected);

    // blocks need no alignment
    std::vector<std::byte> shifted(blocks.size() + 1);
    std::memcpy(shifted.data() + 1, blocks.data(), blocks.size());
    check_bit_exact(tensor.dtype, shifted.data() + 1, block_count, expected);
  }
  // every block type except Q8_1 and Q8_K, ggml's dot-product formats, which ggml_quantize_chunk
  // does not produce
  CHECK(covered.size() == 25);
}
