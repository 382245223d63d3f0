// Test helpers shared by test_gptq.cpp and test_awq.cpp: open a fixture with its tensor bytes,
// compare f32 values bit for bit, check a recogniser's outputs row window by row window, and run
// a hostile folder's expect_remember.tsv through recognition and the row sources.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "amn/amn.hpp"
#include "io/tensor_data.hpp"
#include "stages/schemes/schemes.hpp"

namespace qweight_test {

/// A model file opened with its tensor bytes at hand.
struct Opened {
  explicit Opened(const std::string& path) : catalog(amn::open_model(path)), data(catalog, amn::Limits{}) {}

  [[nodiscard]] size_t index(const std::string& name) const {
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
inline void check_bits(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  CAPTURE(what);
  REQUIRE(got.size() == want.size());
  for (size_t elem = 0; elem < got.size(); ++elem) {
    uint32_t got_bits, want_bits;
    std::memcpy(&got_bits, &got[elem], sizeof(got_bits));
    std::memcpy(&want_bits, &want[elem], sizeof(want_bits));
    if (got_bits != want_bits) {
      FAIL_CHECK("element " << elem << ": got " << got[elem] << " want " << want[elem]);
      return;
    }
  }
}

/// Recognises `folder`/model.safetensors and checks: the scheme text, every output against
/// expected.safetensors (rows one at a time, in windows of 7 and all at once), and that exactly
/// `kept` input tensors pass through.
inline void check_case(const std::string& folder, const std::string& scheme, const std::set<std::string>& kept) {
  CAPTURE(folder);
  Opened model(folder + "/model.safetensors");
  Opened expected(folder + "/expected.safetensors");
  auto match = amn::stages::recognise_schemes(amn::stages::make_scheme_context(model.catalog));
  CHECK(match.scheme == scheme);
  REQUIRE(match.outputs.size() == expected.catalog.tensors.size());

  std::set<std::string> passed;
  std::set<size_t> consumed(match.consumed.begin(), match.consumed.end());
  for (size_t tensor_idx = 0; tensor_idx < model.catalog.tensors.size(); ++tensor_idx) {
    if (!consumed.contains(tensor_idx)) passed.insert(model.catalog.tensors[tensor_idx].name);
  }
  CHECK(passed == kept);

  for (const auto& output : match.outputs) {
    CAPTURE(output.name);
    const std::string& anchor = model.catalog.tensors[output.anchor].name;
    CHECK(anchor == output.name.substr(0, output.name.size() - std::string(".weight").size()) + ".qweight");
    CHECK(output.shape == expected.catalog.tensors[expected.index(output.name)].shape);
    auto want = expected.values<float>(output.name);
    const auto rows = static_cast<uint64_t>(output.shape[0]);
    const uint64_t row_elems = want.size() / rows;
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

inline const char* code_name(amn::ErrorCode code) {
  switch (code) {
    case amn::ErrorCode::Parse: return "parse";
    case amn::ErrorCode::Unsupported: return "unsupported";
    case amn::ErrorCode::Limit: return "limit";
    case amn::ErrorCode::Io: return "io";
    case amn::ErrorCode::Usage: return "usage";
  }
  return "?";
}

/// Every file in `dir`/expect_remember.tsv (file, code, message fragment) is refused by
/// recognition or, failing that, by its row sources, with that code and a message naming the
/// file and holding the fragment. Returns the number of cases.
inline size_t check_refusals(const std::filesystem::path& dir) {
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
    Opened model(path);
    bool threw = false;
    try {
      auto match = amn::stages::recognise_schemes(amn::stages::make_scheme_context(model.catalog));
      for (const auto& output : match.outputs) {
        const auto rows = static_cast<uint64_t>(output.shape[0]);
        std::vector<float> scratch(rows * static_cast<uint64_t>(output.shape[1]));
        output.source->rows(model.data, 0, rows, scratch.data());
      }
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
  return cases;
}

}  // namespace qweight_test
