// Covers compressed-tensors pack-quantized checkpoints (src/kernels/compressed,
// src/stages/schemes/compressed_tensors.cpp): int4/int8, channel and group strategies, symmetric
// and asymmetric, F32/BF16/F16 scales, bit for bit against compressed-tensors' own
// PackedQuantizationCompressor.decompress (test/fixtures/compressed, made by
// test/fixtures/gen/gen_compressed.py); and the refusal of malformed companions
// (hostile-inputs.md cases 59-60 applied to this scheme).
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <set>

#include "kernels/compressed/pack_quantized.hpp"
#include "kernels/convert.hpp"
#include "scheme_fixtures.hpp"
#include "stages/schemes/recognisers.hpp"

namespace {

using amn::DType;
using amn::stages::SchemeContext;
using amn::stages::SchemeMatch;
using amn::stages::SideJson;

const std::string kFixtureDir = AMN_SOURCE_DIR "/test/fixtures/compressed/";

/// Dequantises one channel-strategy module of a fixture with the kernels alone.
void check_channel_module(const std::string& dir, const std::string& module, unsigned bits, DType scale_type, size_t rows,
                          size_t cols) {
  auto model = scheme_test::read_tensors(kFixtureDir + dir + "/model.safetensors");
  auto expected = scheme_test::read_tensors(kFixtureDir + dir + "/expected.safetensors");
  const auto& packed = model.at(module + ".weight_packed");
  const size_t row_bytes = packed.size() / rows;
  std::vector<float> scales = scheme_test::widen(scale_type, model.at(module + ".weight_scale"));
  std::vector<int8_t> zeros;
  if (model.contains(module + ".weight_zero_point")) {
    // One group: the zero points of all rows are one bit stream.
    zeros.resize(rows);
    amn::kernels::compressed::unpack(model.at(module + ".weight_zero_point").data(), 0, rows, bits, zeros.data());
  }
  std::vector<int8_t> values(cols);
  std::vector<float> got(rows * cols);
  for (size_t row = 0; row < rows; ++row) {
    amn::kernels::compressed::unpack(packed.data() + row * row_bytes, 0, cols, bits, values.data());
    amn::kernels::compressed::dequant_row(values.data(), cols, scales.data() + row, zeros.empty() ? nullptr : &zeros[row],
                                          cols, scale_type, got.data() + row * cols);
  }
  scheme_test::check_bits(got, scheme_test::as_floats(expected.at(module + ".weight")), module);
}

amn::Tensor* find(amn::Catalog& catalog, const std::string& name) {
  auto it = std::find_if(catalog.tensors.begin(), catalog.tensors.end(), [&](const auto& tensor) { return tensor.name == name; });
  REQUIRE(it != catalog.tensors.end());
  return &*it;
}

}  // namespace

TEST_CASE("compressed-tensors kernels: unpack_from_int32 + dequantize in the scale dtype") {
  SUBCASE("int8, symmetric, F16 scales, partial last word") {
    check_channel_module("int8-channel-sym", "model.layers.0.mlp.up_proj", 8, DType::F16, 48, 102);
  }
  SUBCASE("int4, asymmetric, F32 scales, zero points ending mid-word") {
    check_channel_module("int4-channel-asym-f32", "model.layers.0.self_attn.q_proj", 4, DType::F32, 20, 100);
  }
}

TEST_CASE("compressed-tensors scheme: every fixture, any row window, bit for bit; companions leave") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"int4-group32-asym", "compressed-tensors pack-quantized int4"},
      {"int8-channel-sym", "compressed-tensors pack-quantized int8"},
      {"int4-channel-asym-f32", "compressed-tensors pack-quantized int4"},
  };
  for (const auto& [dir, scheme] : cases) {
    CAPTURE(dir);
    amn::Catalog catalog = amn::open_model(kFixtureDir + dir + "/model.safetensors");
    SchemeContext context = amn::stages::make_scheme_context(catalog);
    REQUIRE(context.config.present());
    std::optional<SchemeMatch> match = amn::stages::recognise_compressed_tensors(context);
    REQUIRE(match);
    CHECK(match->scheme == scheme);
    CHECK(match->outputs.size() == 4);
    amn::io::TensorData data(catalog, amn::Limits{});
    auto expected = scheme_test::read_tensors(kFixtureDir + dir + "/expected.safetensors");
    scheme_test::check_outputs(*match, data, expected);
    std::set<size_t> consumed(match->consumed.begin(), match->consumed.end());
    for (size_t tensor_idx = 0; tensor_idx < catalog.tensors.size(); ++tensor_idx) {
      const std::string& name = catalog.tensors[tensor_idx].name;
      CAPTURE(name);
      bool companion = name.ends_with(".weight_packed") || name.ends_with(".weight_scale") ||
                       name.ends_with(".weight_zero_point") || name.ends_with(".weight_shape");
      CHECK(consumed.contains(tensor_idx) == companion);
      CHECK(expected.contains(name) == !companion);
    }
  }
}

TEST_CASE("compressed-tensors scheme: bit width from the tensors alone when config.json is absent") {
  amn::Catalog catalog = amn::open_model(kFixtureDir + "int4-group32-asym/model.safetensors");
  SchemeContext context = amn::stages::make_scheme_context(catalog);
  context.config = SideJson();
  auto match = amn::stages::recognise_compressed_tensors(context);
  REQUIRE(match);
  amn::io::TensorData data(catalog, amn::Limits{});
  scheme_test::check_outputs(*match, data, scheme_test::read_tensors(kFixtureDir + "int4-group32-asym/expected.safetensors"));
}

TEST_CASE("compressed-tensors scheme refuses malformed companions, naming the tensors") {
  // Each case breaks q_proj of the int4 group-32 asymmetric fixture: [60, 64], 2 groups of 32.
  struct Refusal {
    std::string what;
    void (*mutate)(amn::Catalog&, std::string& config_json);
    amn::ErrorCode code;
    std::string fragment;
  };
  const std::vector<Refusal> refusals = {
      {"missing weight_shape",
       [](amn::Catalog& catalog, std::string&) { find(catalog, "model.layers.0.self_attn.q_proj.weight_shape")->name = "moved"; },
       amn::ErrorCode::Parse, "its companion 'model.layers.0.self_attn.q_proj.weight_shape' is missing"},
      {"scale rows differ from the weight's",
       [](amn::Catalog& catalog, std::string&) { find(catalog, "model.layers.0.self_attn.q_proj.weight_scale")->shape = {59, 2}; },
       amn::ErrorCode::Parse, "'model.layers.0.self_attn.q_proj.weight_scale' [59, 2] (scale of 'model.layers.0.self_attn.q_proj.weight_packed') does not fit the weight [60, 64]"},
      {"zero points of the wrong shape",
       [](amn::Catalog& catalog, std::string&) { find(catalog, "model.layers.0.self_attn.q_proj.weight_zero_point")->shape = {7, 2}; },
       amn::ErrorCode::Parse, "expected I32 [8, 2] (zero points of 'model.layers.0.self_attn.q_proj.weight_packed'"},
      {"packed rows differ from weight_shape",
       [](amn::Catalog& catalog, std::string&) { find(catalog, "model.layers.0.self_attn.q_proj.weight_packed")->shape = {61, 8}; },
       amn::ErrorCode::Parse, "[61, 8] does not fit 'model.layers.0.self_attn.q_proj.weight_shape' = [60, 64]"},
      {"packed width fits no bit width",
       [](amn::Catalog& catalog, std::string&) { find(catalog, "model.layers.0.self_attn.q_proj.weight_packed")->shape = {60, 9}; },
       amn::ErrorCode::Parse, "[60, 9] (weight [60, 64], 'model.layers.0.self_attn.q_proj.weight_scale' [60, 2], a zero point) fits neither 4- nor 8-bit packing"},
      {"config.json says 8 bits",
       [](amn::Catalog&, std::string& config_json) {
         config_json = R"({"quantization_config": {"quant_method": "compressed-tensors", "format": "pack-quantized",
             "config_groups": {"group_0": {"weights": {"num_bits": 8, "type": "int", "symmetric": false, "strategy": "group", "group_size": 32}}}}})";
       },
       amn::ErrorCode::Parse, "matches no pack-quantized config group of"},
      {"NVFP4-style uint8 packing",
       [](amn::Catalog& catalog, std::string&) { find(catalog, "model.layers.0.self_attn.q_proj.weight_packed")->dtype = DType::U8; },
       amn::ErrorCode::Unsupported, "'model.layers.0.self_attn.q_proj.weight_packed' [60, 8] is U8"},
      {"integer scales",
       [](amn::Catalog& catalog, std::string&) { find(catalog, "model.layers.0.self_attn.q_proj.weight_scale")->dtype = DType::I8; },
       amn::ErrorCode::Unsupported, "is I8; scales must be F32, BF16 or F16"},
      {"per-tensor strategy",
       [](amn::Catalog& catalog, std::string&) { find(catalog, "model.layers.0.self_attn.q_proj.weight_scale")->shape = {1}; },
       amn::ErrorCode::Unsupported, "only channel and group strategies"},
      {"activation order",
       [](amn::Catalog& catalog, std::string&) { find(catalog, "model.norm.weight")->name = "model.layers.0.self_attn.q_proj.weight_g_idx"; },
       amn::ErrorCode::Unsupported, "(weight_g_idx) are not supported"},
  };
  for (const auto& refusal : refusals) {
    CAPTURE(refusal.what);
    amn::Catalog catalog = amn::open_model(kFixtureDir + "int4-group32-asym/model.safetensors");
    std::ifstream config_file(kFixtureDir + "int4-group32-asym/config.json");
    std::string config_json((std::istreambuf_iterator<char>(config_file)), std::istreambuf_iterator<char>());
    refusal.mutate(catalog, config_json);
    SchemeContext context = amn::stages::make_scheme_context(catalog);
    context.config = SideJson::text(context.config.path(), config_json);
    auto [code, message] = scheme_test::refusal(amn::stages::recognise_compressed_tensors, context);
    CAPTURE(message);
    CHECK(code == refusal.code);
    CHECK(message.find(refusal.fragment) != std::string::npos);
    CHECK(message.find("model.safetensors: ") != std::string::npos);
  }
}

TEST_CASE("compressed-tensors scheme: the hostile corpus (test/hostile/compressed) is refused with typed errors") {
  scheme_test::check_refusals(AMN_SOURCE_DIR "/test/hostile/compressed");
}
