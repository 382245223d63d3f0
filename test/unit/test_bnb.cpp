// Covers BitsAndBytes dequantisation (src/kernels/bnb, src/stages/schemes/bnb.cpp): NF4/FP4 with
// plain and double-quantised absmax and LLM.int8, bit for bit against bitsandbytes' own output in
// test/fixtures/bnb/<case>/expected.safetensors (test/fixtures/gen/gen_bnb.py), through the
// kernels and through the recogniser's row sources cut at any row; and the refusals of
// hostile-inputs.md case 60 listed in test/hostile/bnb/expect_remember.tsv.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "amn/amn.hpp"
#include "io/tensor_data.hpp"
#include "kernels/bnb/bnb.hpp"
#include "stages/schemes/schemes.hpp"

namespace {

namespace fs = std::filesystem;
namespace kb = amn::kernels::bnb;

const std::string kFixtures = AMN_SOURCE_DIR "/test/fixtures/bnb/";

/// A model file opened with its tensor bytes at hand.
struct Opened {
  explicit Opened(const std::string& path) : catalog(amn::open_model(path)), data(catalog, amn::Limits{}) {}

  size_t index(const std::string& name) const {
    for (size_t tensor_idx = 0; tensor_idx < catalog.tensors.size(); ++tensor_idx) {
      if (catalog.tensors[tensor_idx].name == name) return tensor_idx;
    }
    FAIL("no tensor " << name);
    return 0;
  }
  template <class T>
  std::vector<T> values(const std::string& name) {
    auto bytes = data.read_all(index(name));
    std::vector<T> out(bytes.size() / sizeof(T));
    std::memcpy(out.data(), bytes.data(), out.size() * sizeof(T));
    return out;
  }

  amn::Catalog catalog;
  amn::io::TensorData data;
};

/// Compares f32 values bit for bit; reports the first difference.
void check_bits(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  CAPTURE(what);
  REQUIRE(got.size() == want.size());
  for (size_t elem = 0; elem < got.size(); ++elem) {
    uint32_t got_bits;
    uint32_t want_bits;
    std::memcpy(&got_bits, &got[elem], sizeof(got_bits));
    std::memcpy(&want_bits, &want[elem], sizeof(want_bits));
    if (got_bits != want_bits) {
      FAIL_CHECK("element " << elem << ": got 0x" << std::hex << got_bits << ", bitsandbytes 0x" << want_bits);
      return;
    }
  }
}

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

const char* code_name(amn::ErrorCode code) {
  switch (code) {
    case amn::ErrorCode::Parse: return "parse";
    case amn::ErrorCode::Unsupported: return "unsupported";
    case amn::ErrorCode::Limit: return "limit";
    case amn::ErrorCode::Io: return "io";
    case amn::ErrorCode::Usage: return "usage";
  }
  return "?";
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
    size_t outputs;
    std::set<std::string> kept;  ///< input tensors that pass through
  };
  const std::vector<Expect> cases = {
      {"nf4", "BitsAndBytes NF4", 2,
       {"model.layers.0.mlp.down_proj.bias", "model.layers.0.self_attn.o_proj.bias", "model.norm.weight"}},
      {"nf4-dq", "BitsAndBytes NF4 double-quant", 2,
       {"model.layers.0.mlp.down_proj.bias", "model.layers.0.self_attn.o_proj.bias", "model.norm.weight"}},
      {"fp4", "BitsAndBytes FP4", 2, {"model.layers.0.mlp.down_proj.bias", "lm_head.bias", "model.norm.weight"}},
      {"int8", "BitsAndBytes INT8", 2,
       {"model.layers.0.mlp.down_proj.bias", "model.layers.0.self_attn.o_proj.bias", "model.norm.weight"}},
  };
  for (const auto& fixture : cases) {
    CAPTURE(fixture.name);
    Opened model(kFixtures + fixture.name + "/model.safetensors");
    Opened expected(kFixtures + fixture.name + "/expected.safetensors");
    auto match = amn::stages::recognise_schemes(amn::stages::make_scheme_context(model.catalog));
    CHECK(match.scheme == fixture.scheme);
    REQUIRE(match.outputs.size() == fixture.outputs);

    std::set<std::string> kept;
    std::set<size_t> consumed(match.consumed.begin(), match.consumed.end());
    for (size_t tensor_idx = 0; tensor_idx < model.catalog.tensors.size(); ++tensor_idx) {
      if (!consumed.contains(tensor_idx)) kept.insert(model.catalog.tensors[tensor_idx].name);
    }
    CHECK(kept == fixture.kept);

    for (const auto& output : match.outputs) {
      CAPTURE(output.name);
      CHECK(model.catalog.tensors[output.anchor].name == output.name);
      const auto& expected_tensor = expected.catalog.tensors[expected.index(output.name)];
      CHECK(output.shape == expected_tensor.shape);
      auto want = expected.values<float>(output.name);
      const uint64_t rows = static_cast<uint64_t>(output.shape[0]);
      const uint64_t row_elems = want.size() / rows;
      // One row at a time, then uneven windows of 7 rows, then all at once.
      for (uint64_t window : {uint64_t{1}, uint64_t{7}, rows}) {
        std::vector<float> got(want.size());
        for (uint64_t first = 0; first < rows; first += window) {
          const uint64_t count = std::min(window, rows - first);
          output.source->rows(model.data, first, count, got.data() + first * row_elems);
        }
        check_bits(got, want, output.name + " in windows of " + std::to_string(window));
      }
    }
  }
}

TEST_CASE("BitsAndBytes hostile companions are refused naming file and tensor (case 60)") {
  const fs::path dir = fs::path(AMN_SOURCE_DIR) / "test" / "hostile" / "bnb";
  std::ifstream manifest(dir / "expect_remember.tsv");
  REQUIRE(manifest.good());
  std::string line;
  size_t cases = 0;
  while (std::getline(manifest, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string file, code, fragment;
    std::getline(fields, file, '\t');
    std::getline(fields, code, '\t');
    std::getline(fields, fragment);
    const std::string path = (dir / file).string();
    CAPTURE(path);
    ++cases;
    amn::Catalog catalog = amn::open_model(path);
    bool threw = false;
    try {
      (void)amn::stages::recognise_schemes(amn::stages::make_scheme_context(catalog));
    } catch (const amn::Error& error) {
      threw = true;
      const std::string message = error.what();
      CAPTURE(message);
      CHECK(std::string(code_name(error.code())) == code);
      CHECK(message.find(file) != std::string::npos);
      CHECK(message.find(fragment) != std::string::npos);
    }
    CHECK(threw);
  }
  CHECK(cases > 20);
}
