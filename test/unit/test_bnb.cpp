// Covers BitsAndBytes dequantisation (src/kernels/bnb, src/stages/schemes/bnb.cpp): NF4/FP4 with
// plain and double-quantised absmax and LLM.int8, bit for bit against bitsandbytes' own output in
// test/fixtures/bnb/<case>/expected.safetensors (test/fixtures/gen/gen_bnb.py), through the
// kernels and through the recogniser's row sources cut at any row; and the refusals of
// hostile-inputs.md case 60 listed in test/hostile/bnb/expect_remember.tsv. And the pieces of the
// double-quantising encoder that are not checked byte for byte through `amn convert`
// (test/cli/test_encode.py): torch's mean for every thread count, and the dynamic map.
#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "kernels/bnb/bnb.hpp"
#include "kernels/bnb/encode.hpp"
#include "scheme_fixtures.hpp"

namespace {

namespace kb = amn::kernels::bnb;
using scheme_test::check_bits;
using scheme_test::Opened;

const std::string kFixtures = AMN_SOURCE_DIR "/test/fixtures/bnb/";

/// Dequantises a 4-bit weight of a fixture with the kernels, reading the quant_state JSON here.
std::vector<float> dequant_4bit_whole(Opened& model, const std::string& weight, const std::string& quant_type) {
  auto json = model.values<char>(weight + ".quant_state.bitsandbytes__" + quant_type);
  rapidjson::Document state;
  state.Parse(json.data(), json.size());
  REQUIRE(!state.HasParseError());
  uint64_t elements = 1;
  for (const auto& dim : state["shape"].GetArray()) elements *= dim.GetUint64();
  const uint64_t blocksize = state["blocksize"].GetUint64();
  const auto code = quant_type == "nf4" ? kb::Code4::Nf4 : kb::Code4::Fp4;

  std::vector<float> absmax;
  if (state.HasMember("nested_offset")) {
    auto codes = model.values<uint8_t>(weight + ".absmax");
    auto nested = model.values<float>(weight + ".nested_absmax");
    auto code8 = model.values<float>(weight + ".nested_quant_map");
    absmax.resize(codes.size());
    kb::dequant_nested_absmax_ref(codes.data(), 0, codes.size(), code8.data(), nested.data(),
                                  state["nested_blocksize"].GetUint64(),
                                  static_cast<float>(state["nested_offset"].GetDouble()), absmax.data());
  } else {
    absmax = model.values<float>(weight + ".absmax");
  }
  auto packed = model.values<uint8_t>(weight);
  std::vector<float> out(elements);
  kb::dequant_4bit_ref(code, packed.data(), 0, elements, absmax.data(), blocksize, out.data());
  return out;
}

struct Case4 {
  const char* name;
  const char* quant_type;
  std::vector<std::string> weights;
};

const std::vector<Case4> kCases4 = {
    {"nf4", "nf4", {"model.layers.0.mlp.down_proj.weight", "model.layers.0.self_attn.o_proj.weight"}},
    {"nf4-dq", "nf4", {"model.layers.0.mlp.down_proj.weight", "model.layers.0.self_attn.o_proj.weight"}},
    {"fp4", "fp4", {"model.layers.0.mlp.down_proj.weight", "lm_head.weight"}},
};

}  // namespace

TEST_CASE("BitsAndBytes code books equal the quant_map bitsandbytes saves, FP4 -0 aside") {
  Opened nf4(kFixtures + "nf4/model.safetensors");
  Opened fp4(kFixtures + "fp4/model.safetensors");
  auto nf4_map = nf4.values<float>("model.layers.0.mlp.down_proj.weight.quant_map");
  auto fp4_map = fp4.values<float>("lm_head.weight.quant_map");
  const auto& nf4_table = kb::code4_table(kb::Code4::Nf4);
  const auto& fp4_table = kb::code4_table(kb::Code4::Fp4);
  check_bits(std::vector<float>(nf4_table.begin(), nf4_table.end()), nf4_map, "NF4");
  for (size_t entry = 0; entry < kb::kCode4Entries; ++entry) CHECK(fp4_table[entry] == fp4_map[entry]);
  // The saved map holds +0.0 at 0b1000; bitsandbytes' CUDA decoder (and amn) decode -0.0.
  CHECK(std::signbit(fp4_table[8]));
  CHECK(!std::signbit(fp4_map[8]));
}

TEST_CASE("torch_mean equals torch's CPU mean for lengths up to 20M and 1 to 4 threads") {
  // test/fixtures/encode/torch_mean.json (gen_encode.py): torch's means of x[i] =
  // f32((i * 2654435761 mod 2^32) >> 8) * 2^-24 * f32(0.1).
  std::ifstream file(AMN_SOURCE_DIR "/test/fixtures/encode/torch_mean.json");
  const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  rapidjson::Document cases;
  cases.Parse(text.data(), text.size());
  REQUIRE((!cases.HasParseError() && cases.IsArray() && cases.Size() >= 40));
  std::vector<float> values;
  for (const auto& item : cases.GetArray()) {
    const uint64_t count = item["count"].GetUint64();
    const unsigned threads = item["threads"].GetUint();
    CAPTURE(count);
    CAPTURE(threads);
    values.resize(count);
    for (uint64_t idx = 0; idx < count; ++idx) {
      const auto bits = static_cast<uint32_t>((idx * 2654435761ull) % (1ull << 32)) >> 8;
      values[idx] = static_cast<float>(bits) * 0x1p-24f * 0.1f;
    }
    const float mean = kb::torch_mean(values.data(), count, threads);
    CHECK(std::bit_cast<uint32_t>(mean) == item["mean_bits"].GetUint());
  }
}

TEST_CASE("The dynamic map equals the nested_quant_map bitsandbytes saves") {
  Opened model(AMN_SOURCE_DIR "/test/fixtures/encode/bnb-nf4-dq.safetensors");
  const auto saved = model.values<float>("model.layers.0.mlp.up_proj.weight.nested_quant_map");
  const auto& map = kb::dynamic_map();
  check_bits(std::vector<float>(map.begin(), map.end()), saved, "dynamic map");
}

TEST_CASE("BitsAndBytes 4-bit kernels equal bitsandbytes' dequantize_4bit") {
  for (const auto& fixture : kCases4) {
    Opened model(kFixtures + fixture.name + "/model.safetensors");
    Opened expected(kFixtures + fixture.name + "/expected.safetensors");
    for (const auto& weight : fixture.weights) {
      check_bits(dequant_4bit_whole(model, weight, fixture.quant_type), expected.values<float>(weight),
                 std::string(fixture.name) + " " + weight);
    }
  }
}

TEST_CASE("BitsAndBytes 4-bit kernel starts at any element, odd ones in a byte's low nibble") {
  Opened model(kFixtures + "fp4/model.safetensors");
  Opened expected(kFixtures + "fp4/expected.safetensors");
  const std::string weight = "lm_head.weight";  // 7 x 33, blocksize 128
  auto packed = model.values<uint8_t>(weight);
  auto absmax = model.values<float>(weight + ".absmax");
  auto want = expected.values<float>(weight);
  constexpr uint64_t kBlocksize = 128;
  for (uint64_t first : {0u, 1u, 33u, 127u, 128u, 200u}) {
    for (uint64_t count : {1u, 2u, 31u}) {
      if (first + count > want.size()) continue;
      std::vector<float> got(count);
      kb::dequant_4bit_ref(kb::Code4::Fp4, packed.data() + first / 2, first, count, absmax.data() + first / kBlocksize,
                           kBlocksize, got.data());
      check_bits(got, std::vector<float>(want.begin() + first, want.begin() + first + count),
                 "first " + std::to_string(first) + " count " + std::to_string(count));
    }
  }
}

TEST_CASE("BitsAndBytes INT8 kernel equals bitsandbytes' int8_vectorwise_dequant") {
  Opened model(kFixtures + "int8/model.safetensors");
  Opened expected(kFixtures + "int8/expected.safetensors");
  for (const std::string prefix : {"model.layers.0.mlp.down_proj", "model.layers.0.self_attn.o_proj"}) {
    auto quantised = model.values<int8_t>(prefix + ".weight");
    auto scales = model.values<float>(prefix + ".SCB");
    std::vector<float> got(quantised.size());
    kb::dequant_int8_rows_ref(quantised.data(), scales.data(), scales.size(), quantised.size() / scales.size(), got.data());
    check_bits(got, expected.values<float>(prefix + ".weight"), prefix);
  }
}

TEST_CASE("BitsAndBytes recogniser: outputs, companions consumed, rows cut anywhere") {
  struct Expect {
    const char* name;
    const char* scheme;
    std::set<std::string> kept;  ///< input tensors that pass through
  };
  const std::vector<Expect> cases = {
      {"nf4", "BitsAndBytes NF4",
       {"model.layers.0.mlp.down_proj.bias", "model.layers.0.self_attn.o_proj.bias", "model.norm.weight"}},
      {"nf4-dq", "BitsAndBytes NF4 double-quant",
       {"model.layers.0.mlp.down_proj.bias", "model.layers.0.self_attn.o_proj.bias", "model.norm.weight"}},
      {"fp4", "BitsAndBytes FP4", {"model.layers.0.mlp.down_proj.bias", "lm_head.bias", "model.norm.weight"}},
      {"int8", "BitsAndBytes INT8",
       {"model.layers.0.mlp.down_proj.bias", "model.layers.0.self_attn.o_proj.bias", "model.norm.weight"}},
  };
  for (const auto& fixture : cases) scheme_test::check_case(kFixtures + fixture.name, fixture.scheme, fixture.kept, ".weight");
}

TEST_CASE("BitsAndBytes hostile companions are refused naming file and tensor (case 60)") {
  size_t cases = scheme_test::check_refusals(AMN_SOURCE_DIR "/test/hostile/bnb");
  CHECK(cases > 20);
}
