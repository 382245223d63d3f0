// Helpers for the FP8 and compressed-tensors scheme tests: fixture tensors by name, and comparing
// a row source with the library's expected f32 output bit for bit over any row window.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "amn/amn.hpp"
#include "io/tensor_data.hpp"
#include "stages/schemes/schemes.hpp"

namespace scheme_test {

/// Every tensor of a safetensors file: its logical bytes, by name.
inline std::map<std::string, std::vector<std::byte>> read_tensors(const std::string& path) {
  amn::Catalog catalog = amn::open_model(path);
  amn::io::TensorData data(catalog, amn::Limits{});
  std::map<std::string, std::vector<std::byte>> tensors;
  for (size_t tensor_idx = 0; tensor_idx < catalog.tensors.size(); ++tensor_idx) {
    tensors[catalog.tensors[tensor_idx].name] = data.read_all(tensor_idx);
  }
  return tensors;
}

/// Compares `got` floats with the f32 bytes `want`; reports the first differing element.
inline void check_bits(const float* got, const std::byte* want, uint64_t count, const std::string& what) {
  for (uint64_t elem = 0; elem < count; ++elem) {
    uint32_t got_bits;
    uint32_t want_bits;
    std::memcpy(&got_bits, got + elem, sizeof(got_bits));
    std::memcpy(&want_bits, want + elem * sizeof(float), sizeof(want_bits));
    if (got_bits != want_bits) {
      char bits[64];
      std::snprintf(bits, sizeof(bits), ": got 0x%08x, expected 0x%08x", got_bits, want_bits);
      FAIL_CHECK(what << " element " << elem << bits);
      return;
    }
  }
}

/// Runs every output of `match` through its row source in windows of 1, 3 and all rows (the
/// engine cuts windows anywhere) and compares each with the tensor of the same name in
/// `expected` (f32 bytes).
inline void check_outputs(const amn::stages::SchemeMatch& match, amn::io::TensorData& data,
                          const std::map<std::string, std::vector<std::byte>>& expected) {
  for (const auto& output : match.outputs) {
    CAPTURE(output.name);
    auto want = expected.find(output.name);
    REQUIRE(want != expected.end());
    const uint64_t rows = output.shape.size() >= 2 ? static_cast<uint64_t>(output.shape[0]) : 1;
    const uint64_t elems = *amn::element_count(output.shape);
    REQUIRE(want->second.size() == elems * sizeof(float));
    const uint64_t row_elems = rows ? elems / rows : 0;
    for (uint64_t window : {uint64_t{1}, uint64_t{3}, rows}) {
      std::vector<float> got(elems);
      for (uint64_t first = 0; first < rows; first += window) {
        uint64_t count = std::min(window, rows - first);
        output.source->rows(data, first, count, got.data() + first * row_elems);
      }
      check_bits(got.data(), want->second.data(), elems, output.name + " (window " + std::to_string(window) + ")");
    }
  }
}

/// A catalog of one file whose tensors have only names, dtypes and shapes (for recognisers).
inline amn::Catalog header_catalog(const std::vector<std::tuple<std::string, amn::DType, std::vector<int64_t>>>& tensors) {
  amn::Catalog catalog;
  catalog.files = {"/nonexistent/model.safetensors"};
  catalog.file_sizes = {0};
  catalog.storages.emplace_back();
  for (const auto& [name, dtype, shape] : tensors) {
    amn::Tensor tensor;
    tensor.name = name;
    tensor.dtype = dtype;
    tensor.shape = shape;
    catalog.tensors.push_back(tensor);
  }
  return catalog;
}

/// The error a recogniser throws (code and message); fails the test when it does not throw.
template <class Recognise>
std::pair<amn::ErrorCode, std::string> refusal(Recognise recognise, const amn::stages::SchemeContext& context) {
  try {
    (void)recognise(context);
  } catch (const amn::Error& error) {
    return {error.code(), error.what()};
  }
  FAIL("the recogniser accepted a malformed input");
  return {};
}

/// Every file listed in `dir`/expect_remember.tsv (file <TAB> code <TAB> fragment) opens, and
/// scheme recognition refuses it with that code and a message naming the file and the fragment.
inline void check_refusals(const std::string& dir) {
  std::ifstream manifest(dir + "/expect_remember.tsv");
  REQUIRE(manifest);
  std::string line;
  size_t cases = 0;
  while (std::getline(manifest, line)) {
    std::istringstream fields(line);
    std::string file, code, fragment;
    std::getline(fields, file, '\t');
    std::getline(fields, code, '\t');
    std::getline(fields, fragment);
    const std::string path = dir + "/" + file;
    CAPTURE(path);
    ++cases;
    amn::Catalog catalog = amn::open_model(path);
    try {
      (void)amn::stages::recognise_schemes(amn::stages::make_scheme_context(catalog));
      FAIL_CHECK("accepted");
    } catch (const amn::Error& error) {
      const std::string message = error.what();
      CAPTURE(message);
      CHECK(code == (error.code() == amn::ErrorCode::Parse ? "parse" : error.code() == amn::ErrorCode::Unsupported ? "unsupported" : "other"));
      CHECK(message.starts_with(path + ": "));
      CHECK(message.find(fragment) != std::string::npos);
    }
  }
  CHECK(cases > 0);
}

}  // namespace scheme_test
