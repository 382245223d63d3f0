// Covers AWQ dequantisation (src/kernels/awq, src/stages/schemes/awq.cpp, qweight.cpp): AutoAWQ's
// GEMM layout with its interleaved nibble order, group size from config.json or the shapes, f16
// and bf16 scales; bit for bit against AutoAWQ's dequantize_gemm in
// test/fixtures/awq/<case>/expected.safetensors (test/fixtures/gen/gen_awq.py), through the kernel
// and through the row sources cut at any row; and the refusals of hostile-inputs.md case 60 (AWQ)
// in test/hostile/awq/expect_remember.tsv.
#include <doctest/doctest.h>

#include "kernels/awq/awq.hpp"
#include "kernels/convert.hpp"
#include "scheme_fixtures.hpp"

namespace {

namespace awq = amn::kernels::awq;
using scheme_test::check_bits;
using scheme_test::Opened;

const std::string kFixtures = AMN_SOURCE_DIR "/test/fixtures/awq/";
const std::string kQProj = "model.layers.0.self_attn.q_proj";
const std::string kDownProj = "model.layers.0.mlp.down_proj";

}  // namespace

TEST_CASE("AWQ nibble order is the inverse of AutoAWQ's packing order [0, 2, 4, 6, 1, 3, 5, 7]") {
  constexpr unsigned kPackOrder[] = {0, 2, 4, 6, 1, 3, 5, 7};
  for (unsigned nibble = 0; nibble < awq::kPerWord; ++nibble) CHECK(awq::kNibbleOfColumn[kPackOrder[nibble]] == nibble);
}

TEST_CASE("AWQ kernel equals AutoAWQ's dequantize_gemm") {
  for (const char* name : {"gemm-g128", "gemm-g64-bf16"}) {
    CAPTURE(name);
    Opened model(kFixtures + name + "/model.safetensors");
    Opened expected(kFixtures + name + "/expected.safetensors");
    for (const auto& base : {kQProj, kDownProj}) {
      const auto& shape = expected.catalog.tensors[expected.index(base + ".weight")].shape;
      const auto out = static_cast<uint64_t>(shape[0]);
      const auto in = static_cast<uint64_t>(shape[1]);
      auto qweight = model.values<uint32_t>(base + ".qweight");
      auto qzeros = model.values<uint32_t>(base + ".qzeros");
      const amn::DType scale_type = model.catalog.tensors[model.index(base + ".scales")].dtype;
      auto raw_scales = model.values<uint16_t>(base + ".scales");
      std::vector<float> scales(raw_scales.size());
      for (size_t elem = 0; elem < scales.size(); ++elem) {
        scales[elem] = scale_type == amn::DType::BF16 ? amn::kernels::bf16_to_f32(raw_scales[elem])
                                                      : amn::kernels::f16_to_f32(raw_scales[elem]);
      }
      awq::Window window;
      window.qweight = qweight.data();
      window.qzeros = qzeros.data();
      window.scales = scales.data();
      window.words = out / awq::kPerWord;
      window.first = 0;
      window.count = out;
      window.in_features = in;
      window.group_size = in / (scales.size() / out);
      window.scale_type = scale_type;
      std::vector<float> got(out * in);
      awq::dequant_window_ref(window, got.data());
      check_bits(got, expected.values<float>(base + ".weight"), base);
    }
  }
}

TEST_CASE("AWQ recogniser: outputs, companions consumed, rows cut anywhere") {
  const std::set<std::string> kept = {"model.layers.0.input_layernorm.weight", kQProj + ".bias"};
  scheme_test::check_case(kFixtures + "gemm-g128", "AWQ 4-bit GEMM, group 128", kept, ".qweight");
  scheme_test::check_case(kFixtures + "gemm-g64-bf16", "AWQ 4-bit GEMM", kept, ".qweight");
}

TEST_CASE("AWQ hostile companions are refused naming file and tensors (case 60)") {
  size_t cases = scheme_test::check_refusals(AMN_SOURCE_DIR "/test/hostile/awq");
  CHECK(cases > 10);
}
