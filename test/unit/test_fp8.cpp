// Covers FP8 checkpoints (src/kernels/fp8, src/stages/schemes/fp8.cpp): E4M3/E5M2 weights with
// per-tensor, per-channel and DeepSeek-V3 block scales, bit for bit against HF transformers'
// Fp8Dequantize (test/fixtures/fp8, made by test/fixtures/gen/gen_fp8.py); which companions leave
// the output; and the refusal of scales that fit no layout (hostile-inputs.md case 60).
#include <doctest/doctest.h>

#include <set>

#include "kernels/convert.hpp"
#include "kernels/fp8/fp8.hpp"
#include "scheme_fixtures.hpp"
#include "stages/schemes/recognisers.hpp"

namespace {

using amn::DType;
using amn::stages::SchemeContext;
using amn::stages::SchemeMatch;
using amn::stages::SideJson;

const std::string kFixtureDir = AMN_SOURCE_DIR "/test/fixtures/fp8/";

std::set<std::string> consumed_names(const SchemeMatch& match, const amn::Catalog& catalog) {
  std::set<std::string> names;
  for (size_t tensor_idx : match.consumed) names.insert(catalog.tensors[tensor_idx].name);
  return names;
}

}  // namespace

TEST_CASE("FP8 kernel: per-tensor E4M3 and 200x300 block-wise rows equal transformers' Fp8Dequantize") {
  SUBCASE("per-tensor") {
    auto model = scheme_test::read_tensors(kFixtureDir + "per-tensor-e4m3/model.safetensors");
    auto expected = scheme_test::read_tensors(kFixtureDir + "per-tensor-e4m3/expected.safetensors");
    const std::string name = "model.layers.0.self_attn.q_proj.weight";
    const size_t rows = 64, cols = 96;
    std::vector<float> scale = scheme_test::widen(DType::F32, model[name + "_scale"]);
    REQUIRE(scale.size() == 1);
    std::vector<float> got(rows * cols);
    for (size_t row = 0; row < rows; ++row) {
      amn::kernels::fp8::dequant_row(DType::F8_E4M3, model[name].data() + row * cols, cols, scale.data(), cols,
                                     got.data() + row * cols);
    }
    scheme_test::check_bits(got, scheme_test::as_floats(expected[name]), name);
  }
  SUBCASE("block-wise, partial edge blocks") {
    auto model = scheme_test::read_tensors(kFixtureDir + "block-128/model.safetensors");
    auto expected = scheme_test::read_tensors(kFixtureDir + "block-128/expected.safetensors");
    const std::string name = "model.layers.0.mlp.gate_proj.weight";
    const size_t rows = 200, cols = 300, block = 128, grid_cols = 3;
    std::vector<float> grid = scheme_test::widen(DType::F32, model[name + "_scale_inv"]);
    REQUIRE(grid.size() == 2 * grid_cols);
    std::vector<float> got(rows * cols);
    for (size_t row = 0; row < rows; ++row) {
      amn::kernels::fp8::dequant_row(DType::F8_E4M3, model[name].data() + row * cols, cols,
                                     grid.data() + (row / block) * grid_cols, block, got.data() + row * cols);
    }
    scheme_test::check_bits(got, scheme_test::as_floats(expected[name]), name);
  }
}

TEST_CASE("FP8 scheme: every fixture, any row window, bit for bit; companions leave, bystanders stay") {
  struct Case {
    std::string dir;
    std::set<std::string> consumed_extra;  ///< consumed tensors besides the FP8 weights
    std::string scheme;
  };
  const std::string layer = "model.layers.0.";
  const std::vector<Case> cases = {
      {"per-tensor-e4m3",
       {layer + "self_attn.q_proj.weight_scale", layer + "self_attn.q_proj.input_scale",
        layer + "self_attn.o_proj.weight_scale", layer + "self_attn.o_proj.input_scale", layer + "self_attn.k_scale",
        layer + "self_attn.v_scale"},
       "FP8 E4M3 (per-tensor, unscaled)"},
      {"per-channel-e5m2",
       {layer + "mlp.gate_proj.weight_scale", layer + "mlp.up_proj.weight_scale", layer + "mlp.down_proj.weight_scale"},
       "FP8 E5M2 (per-channel)"},
      {"block-128", {layer + "mlp.gate_proj.weight_scale_inv", layer + "mlp.down_proj.weight_scale_inv"},
       "FP8 E4M3 (block 128×128)"},
      {"block-64x32", {layer + "self_attn.kv_b_proj.weight_scale_inv"}, "FP8 E4M3 (block 64×32)"},
  };
  for (const auto& test_case : cases) {
    CAPTURE(test_case.dir);
    amn::Catalog catalog = amn::open_model(kFixtureDir + test_case.dir + "/model.safetensors");
    SchemeContext context = amn::stages::make_scheme_context(catalog);
    std::optional<SchemeMatch> match = amn::stages::recognise_fp8(context);
    REQUIRE(match);
    CHECK(match->scheme == test_case.scheme);
    amn::io::TensorData data(catalog, amn::Limits{});
    auto expected = scheme_test::read_tensors(kFixtureDir + test_case.dir + "/expected.safetensors");
    scheme_test::check_outputs(*match, data, expected);

    std::set<std::string> want = test_case.consumed_extra;
    for (const auto& output : match->outputs) want.insert(output.name);
    CHECK(consumed_names(*match, catalog) == want);
    // What is neither consumed nor an output passes through: exactly the bystanders in expected.
    for (const auto& tensor : catalog.tensors) {
      CAPTURE(tensor.name);
      CHECK(expected.contains(tensor.name) == !test_case.consumed_extra.contains(tensor.name));
    }
  }
}

TEST_CASE("FP8 scheme: absent without FP8 tensors") {
  amn::Catalog catalog = scheme_test::header_catalog({{"w", DType::BF16, {4, 4}}, {"logit_scale", DType::F32, {}}});
  CHECK_FALSE(amn::stages::recognise_fp8(amn::stages::make_scheme_context(catalog)));
}

TEST_CASE("FP8 scheme refuses scales that fit no layout, naming both tensors") {
  using Tensors = std::vector<std::tuple<std::string, DType, std::vector<int64_t>>>;
  struct Refusal {
    std::string what;
    Tensors tensors;
    std::string config;
    amn::ErrorCode code;
    std::string fragment;
  };
  const std::vector<Refusal> refusals = {
      {"block grid of the wrong size",
       {{"x.weight", DType::F8_E4M3, {200, 300}}, {"x.weight_scale_inv", DType::F32, {2, 2}}},
       "",
       amn::ErrorCode::Parse,
       "tensor 'x.weight_scale_inv' [2, 2] (scale of 'x.weight' [200, 300]) matches no FP8 scale layout"},
      {"grid of the default block while config.json says 64×64",
       {{"x.weight", DType::F8_E4M3, {200, 300}}, {"x.weight_scale_inv", DType::F32, {2, 3}}},
       R"({"quantization_config": {"quant_method": "fp8", "weight_block_size": [64, 64]}})",
       amn::ErrorCode::Parse,
       "[4, 5] (blocks of 64×64)"},
      {"per-input-channel scale",
       {{"x.weight", DType::F8_E5M2, {8, 16}}, {"x.weight_scale", DType::BF16, {1, 16}}},
       "",
       amn::ErrorCode::Parse,
       "'x.weight_scale' [1, 16] (scale of 'x.weight' [8, 16])"},
      {"integer scale",
       {{"x.weight", DType::F8_E4M3, {8, 16}}, {"x.weight_scale", DType::I32, {8}}},
       "",
       amn::ErrorCode::Unsupported,
       "'x.weight_scale' [8] (scale of 'x.weight' [8, 16]) is I32"},
      {"two scales",
       {{"x.weight", DType::F8_E4M3, {8, 16}}, {"x.weight_scale", DType::F32, {}}, {"x.weight_scale_inv", DType::F32, {1, 1}}},
       "",
       amn::ErrorCode::Parse,
       "tensor 'x.weight' has two scales, 'x.weight_scale' and 'x.weight_scale_inv'"},
      {"channel scale on a 3-d weight",
       {{"x.weight", DType::F8_E4M3, {2, 8, 16}}, {"x.weight_scale", DType::F32, {2, 1}}},
       "",
       amn::ErrorCode::Unsupported,
       "need a 2-d weight"},
      {"malformed block size",
       {{"x.weight", DType::F8_E4M3, {8, 16}}, {"x.weight_scale_inv", DType::F32, {2, 2}}},
       R"({"quantization_config": {"weight_block_size": [0, 128]}})",
       amn::ErrorCode::Parse,
       "quantization_config.weight_block_size: expected two positive integers"},
  };
  for (const auto& refusal : refusals) {
    CAPTURE(refusal.what);
    amn::Catalog catalog = scheme_test::header_catalog(refusal.tensors);
    SchemeContext context = amn::stages::make_scheme_context(catalog);
    context.config = refusal.config.empty() ? SideJson() : SideJson::text("/nonexistent/config.json", refusal.config);
    auto [code, message] = scheme_test::refusal(amn::stages::recognise_fp8, context);
    CAPTURE(message);
    CHECK(code == refusal.code);
    CHECK(message.find(refusal.fragment) != std::string::npos);
    CHECK(message.find("/nonexistent/") == 0);
  }
}

TEST_CASE("FP8 scheme: scales of shape [1, 1] are per-tensor; compressed-tensors block_structure sets the block") {
  amn::Catalog catalog = scheme_test::header_catalog({{"x.weight", DType::F8_E4M3, {200, 300}},
                                                      {"x.weight_scale", DType::F32, {1, 1}},
                                                      {"y.weight", DType::F8_E4M3, {200, 300}},
                                                      {"y.weight_scale", DType::BF16, {4, 10}}});
  SchemeContext context = amn::stages::make_scheme_context(catalog);
  context.config = SideJson::text("config.json", R"({"quantization_config": {"quant_method": "compressed-tensors", "config_groups": {
      "group_0": {"weights": {"num_bits": 8, "type": "float", "strategy": "block", "block_structure": [64, 32]}}}}})");
  auto match = amn::stages::recognise_fp8(context);
  REQUIRE(match);
  CHECK(match->scheme == "FP8 E4M3 (block 64×32, per-tensor)");
}

TEST_CASE("FP8 scheme: the hostile corpus (test/hostile/fp8) is refused with typed errors") {
  scheme_test::check_refusals(AMN_SOURCE_DIR "/test/hostile/fp8");
}
