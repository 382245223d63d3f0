// Covers GPTQ dequantisation (src/kernels/gptq, src/stages/schemes/gptq.cpp, qweight.cpp): 2/3/4/8
// bits, groups, act-order g_idx, v1 and v2 zero-points, f16 and bf16 scales, settings from
// quantize_config.json, config.json, __metadata__ or the shapes; bit for bit against GPTQModel's
// TorchLinear.dequantize_weight in test/fixtures/gptq/<case>/expected.safetensors
// (test/fixtures/gen/gen_gptq.py), through the kernels and through the row sources cut at any
// row; and the refusals of hostile-inputs.md case 59 in test/hostile/gptq/expect_remember.tsv.
#include <doctest/doctest.h>

#include "kernels/convert.hpp"
#include "kernels/gptq/gptq.hpp"
#include "scheme_fixtures.hpp"

namespace {

namespace gptq = amn::kernels::gptq;
using scheme_test::check_bits;
using scheme_test::Opened;

const std::string kFixtures = AMN_SOURCE_DIR "/test/fixtures/gptq/";
const std::string kQProj = "model.layers.0.self_attn.q_proj";
const std::string kDownProj = "model.layers.0.mlp.down_proj";

/// A fixture case and what its config says.
struct Case {
  const char* name;
  const char* scheme;
  unsigned bits;
  bool v1;
};

const std::vector<Case> kCases = {
    {"4bit-g128-sym", "GPTQ 4-bit, group 128", 4, true},
    {"4bit-actorder", "GPTQ 4-bit, group 64", 4, true},
    {"3bit-g64-asym", "GPTQ 3-bit, group 64", 3, true},
    {"2bit-g32-asym", "GPTQ 2-bit, group 32", 2, true},
    {"8bit-g128-sym", "GPTQ 8-bit, group 128", 8, true},
    {"4bit-gall-asym", "GPTQ 4-bit, one group", 4, true},
    {"4bit-g64-asym-v2", "GPTQ 4-bit v2, group 64", 4, false},
    {"4bit-metadata", "GPTQ 4-bit, group 32", 4, true},
    {"4bit-shapes", "GPTQ 4-bit", 4, true},
    {"4bit-bf16-scales", "GPTQ 4-bit, group 64", 4, true},
};

/// Every zero-point of a whole qzeros tensor [groups][out].
std::vector<int32_t> all_zero_points(Opened& model, const std::string& base, uint64_t out, unsigned bits, bool v1) {
  auto words = model.values<uint32_t>(base + ".qzeros");
  const uint64_t row_words = gptq::words_for(out, bits);
  const uint64_t groups = words.size() / row_words;
  std::vector<int32_t> zeros(groups * out);
  for (uint64_t group = 0; group < groups; ++group) {
    gptq::zero_points(words.data() + group * row_words, 0, out, bits, v1, zeros.data() + group * out);
  }
  return zeros;
}

/// A scales tensor as f32 values and its type.
std::pair<std::vector<float>, amn::DType> scales_of(Opened& model, const std::string& base) {
  const auto& tensor = model.catalog.tensors[model.index(base + ".scales")];
  auto raw = model.values<uint16_t>(base + ".scales");
  std::vector<float> scales(raw.size());
  for (size_t elem = 0; elem < raw.size(); ++elem) {
    scales[elem] = tensor.dtype == amn::DType::BF16 ? amn::kernels::bf16_to_f32(raw[elem])
                                                    : amn::kernels::f16_to_f32(raw[elem]);
  }
  return {scales, tensor.dtype};
}

}  // namespace

TEST_CASE("GPTQ kernel equals GPTQModel's TorchLinear.dequantize_weight") {
  for (const auto& fixture : kCases) {
    CAPTURE(fixture.name);
    Opened model(kFixtures + fixture.name + "/model.safetensors");
    Opened expected(kFixtures + fixture.name + "/expected.safetensors");
    for (const auto& base : {kQProj, kDownProj}) {
      const auto& shape = expected.catalog.tensors[expected.index(base + ".weight")].shape;
      const auto out = static_cast<uint64_t>(shape[0]);
      const auto in = static_cast<uint64_t>(shape[1]);
      auto rows_major = model.values<uint32_t>(base + ".qweight");
      const uint64_t qweight_rows = rows_major.size() / out;
      std::vector<uint32_t> qweight(rows_major.size());  // each feature's column, contiguous
      for (uint64_t row = 0; row < qweight_rows; ++row) {
        for (uint64_t feature = 0; feature < out; ++feature) {
          qweight[feature * qweight_rows + row] = rows_major[row * out + feature];
        }
      }
      auto zeros = all_zero_points(model, base, out, fixture.bits, fixture.v1);
      auto [scales, scale_type] = scales_of(model, base);
      auto g_idx = model.values<int32_t>(base + ".g_idx");
      gptq::Window window;
      window.qweight = qweight.data();
      window.zeros = zeros.data();
      window.scales = scales.data();
      window.g_idx = g_idx.data();
      window.groups = scales.size() / out;
      window.count = out;
      window.in_features = in;
      window.qweight_rows = qweight_rows;
      window.bits = fixture.bits;
      window.scale_type = scale_type;
      std::vector<float> got(out * in);
      gptq::dequant_window_ref(window, got.data());
      check_bits(got, expected.values<float>(base + ".weight"), base);
    }
  }
}

TEST_CASE("GPTQ zero-points decode the same from any first feature (3-bit fields straddle words)") {
  for (const char* name : {"3bit-g64-asym", "2bit-g32-asym", "8bit-g128-sym"}) {
    CAPTURE(name);
    const Case& fixture =
        *std::find_if(kCases.begin(), kCases.end(), [&](const Case& entry) { return std::string(entry.name) == name; });
    Opened model(kFixtures + name + "/model.safetensors");
    const uint64_t out = 32;  // q_proj
    auto words = model.values<uint32_t>(kQProj + ".qzeros");
    auto whole = all_zero_points(model, kQProj, out, fixture.bits, fixture.v1);
    for (uint64_t first = 0; first < out; ++first) {
      for (uint64_t count : {uint64_t{1}, out - first}) {
        std::vector<int32_t> part(count);
        gptq::zero_points(words.data() + first * fixture.bits / gptq::kWordBits, first, count, fixture.bits, fixture.v1,
                          part.data());
        CHECK(std::equal(part.begin(), part.end(), whole.begin() + static_cast<std::ptrdiff_t>(first)));
      }
    }
  }
}

TEST_CASE("GPTQ recogniser: outputs, companions consumed, rows cut anywhere") {
  for (const auto& fixture : kCases) {
    scheme_test::check_case(kFixtures + fixture.name, fixture.scheme,
                             {"model.layers.0.input_layernorm.weight", kQProj + ".bias"}, ".qweight");
  }
}

TEST_CASE("GPTQ hostile companions are refused naming file and tensors (case 59)") {
  size_t cases = scheme_test::check_refusals(AMN_SOURCE_DIR "/test/hostile/gptq");
  CHECK(cases > 20);
}
