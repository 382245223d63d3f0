// Test helpers shared by the quantisation-scheme tests (FP8, compressed-tensors, GPTQ, AWQ,
// BitsAndBytes) and the hostile-input test: fixture tensors by name, f32 values compared bit for
// bit, a recogniser's outputs checked against the library's expected.safetensors over any row
// window, and a hostile folder's expect_remember.tsv run through recognition and the row sources.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "amn/amn.hpp"
#include "io/tensor_data.hpp"
#include "kernels/convert.hpp"
#include "stages/schemes/schemes.hpp"

namespace scheme_test {

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

/// Every tensor of an opened file: its logical bytes, by name.
inline std::map<std::string, std::vector<std::byte>> read_tensors(Opened& file) {
  std::map<std::string, std::vector<std::byte>> tensors;
  for (size_t tensor_idx = 0; tensor_idx < file.catalog.tensors.size(); ++tensor_idx) {
    tensors[file.catalog.tensors[tensor_idx].name] = file.data.read_all(tensor_idx);
  }
  return tensors;
}

/// Every tensor of a safetensors file: its logical bytes, by name.
inline std::map<std::string, std::vector<std::byte>> read_tensors(const std::string& path) {
  Opened file(path);
  return read_tensors(file);
}

/// The f32 values held by little-endian F32 bytes.
inline std::span<const float> as_floats(const std::vector<std::byte>& bytes) {
  return {reinterpret_cast<const float*>(bytes.data()), bytes.size() / sizeof(float)};
}

/// Elements of a plain float type (F32, F16, BF16, F8) widened to f32 by the library's converter.
inline std::vector<float> widen(amn::DType type, const std::vector<std::byte>& raw) {
  std::vector<float> values(raw.size() / (amn::info(type).block_bits / 8));
  amn::kernels::convert_elements(type, raw.data(), values.size(), amn::DType::F32,
                                 reinterpret_cast<std::byte*>(values.data()));
  return values;
}

/// Compares f32 values bit for bit; reports the first difference.
inline void check_bits(std::span<const float> got, std::span<const float> want, const std::string& what) {
  CAPTURE(what);
  REQUIRE(got.size() == want.size());
  for (size_t elem = 0; elem < got.size(); ++elem) {
    uint32_t got_bits;
    uint32_t want_bits;
    std::memcpy(&got_bits, &got[elem], sizeof(got_bits));
    std::memcpy(&want_bits, &want[elem], sizeof(want_bits));
    if (got_bits != want_bits) {
      char bits[64];
      std::snprintf(bits, sizeof(bits), ": got 0x%08x, expected 0x%08x", got_bits, want_bits);
      FAIL_CHECK("element " << elem << bits);
      return;
    }
  }
}

/// Elements of one row of an output's row source, as the engine counts them: SchemeTensor::row_elems,
/// or the dimensions after the first (one element for rank <= 1).
inline uint64_t source_row_elems(const amn::stages::SchemeTensor& output) {
  if (output.row_elems != 0) return output.row_elems;
  uint64_t elems = 1;
  for (size_t dim = 1; dim < output.shape.size(); ++dim) elems *= static_cast<uint64_t>(output.shape[dim]);
  return elems;
}

/// Rows of an output's row source.
inline uint64_t source_rows(const amn::stages::SchemeTensor& output) {
  const uint64_t row_elems = source_row_elems(output);
  return row_elems ? *amn::element_count(output.shape) / row_elems : 0;
}

/// Runs every output of `match` through its row source in windows of 1, 7 and all rows (the
/// engine cuts windows anywhere) and compares each with the tensor of the same name in
/// `expected`.
inline void check_outputs(const amn::stages::SchemeMatch& match, amn::io::TensorData& data,
                          const std::map<std::string, std::vector<std::byte>>& expected) {
  for (const auto& output : match.outputs) {
    CAPTURE(output.name);
    auto want = expected.find(output.name);
    REQUIRE(want != expected.end());
    const uint64_t elems = *amn::element_count(output.shape);
    REQUIRE(want->second.size() == elems * sizeof(float));
    const uint64_t rows = source_rows(output);
    const uint64_t row_elems = source_row_elems(output);
    for (uint64_t window : {uint64_t{1}, uint64_t{7}, rows}) {
      std::vector<float> got(elems);
      for (uint64_t first = 0; first < rows; first += window) {
        uint64_t count = std::min(window, rows - first);
        output.source->rows(data, first, count, got.data() + first * row_elems);
      }
      check_bits(got, as_floats(want->second), output.name + " in windows of " + std::to_string(window));
    }
  }
}

/// Recognises `folder`/model.safetensors and checks: the scheme text, one output per tensor of
/// expected.safetensors with its shape, each anchored on the input tensor named like the output
/// with ".weight" replaced by `anchor_suffix`, exactly `kept` input tensors passing through, and
/// every output equal to the expected values over any row window.
inline void check_case(const std::string& folder, const std::string& scheme, const std::set<std::string>& kept,
                       const std::string& anchor_suffix) {
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
    const std::string stem = output.name.substr(0, output.name.size() - std::string(".weight").size());
    CHECK(model.catalog.tensors[output.anchor].name == stem + anchor_suffix);
    CHECK(output.shape == expected.catalog.tensors[expected.index(output.name)].shape);
  }
  check_outputs(match, model.data, read_tensors(expected));
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

/// The name expect.tsv files give an error code.
inline const char* code_name(amn::ErrorCode code) {
  switch (code) {
    case amn::ErrorCode::Parse: return "parse";
    case amn::ErrorCode::Unsupported: return "unsupported";
    case amn::ErrorCode::Limit: return "limit";
    case amn::ErrorCode::Io: return "io";
    case amn::ErrorCode::Usage: return "usage";
    case amn::ErrorCode::Cancelled: return "cancelled";
  }
  return "?";
}

/// The (file, code, message fragment) rows of a manifest such as expect.tsv; '#' lines and
/// empty lines are skipped.
inline std::vector<std::tuple<std::string, std::string, std::string>> manifest_rows(const std::string& path) {
  std::ifstream manifest(path);
  REQUIRE(manifest.good());
  std::vector<std::tuple<std::string, std::string, std::string>> rows;
  std::string line;
  while (std::getline(manifest, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string file, code, fragment;
    std::getline(fields, file, '\t');
    std::getline(fields, code, '\t');
    std::getline(fields, fragment);
    rows.emplace_back(file, code, fragment);
  }
  return rows;
}

/// Checks a refusal: `refuse` must throw amn::Error with `code` and a message that starts with
/// "`path`: " and holds `fragment`.
template <class Refuse>
void check_refused(Refuse refuse, const std::string& path, const std::string& code, const std::string& fragment) {
  CAPTURE(path);
  try {
    refuse();
    FAIL_CHECK("accepted");
  } catch (const amn::Error& error) {
    const std::string message = error.what();
    CAPTURE(message);
    CHECK(std::string(code_name(error.code())) == code);
    CHECK(message.starts_with(path + ": "));
    CHECK(message.find(fragment) != std::string::npos);
  }
}

/// Every file in `dir`/expect_remember.tsv opens and is refused by scheme recognition or, failing
/// that, by its row sources. Returns the number of cases.
inline size_t check_refusals(const std::string& dir) {
  auto rows = manifest_rows(dir + "/expect_remember.tsv");
  for (const auto& [file, code, fragment] : rows) {
    const std::string path = dir + "/" + file;
    Opened model(path);
    check_refused(
        [&] {
          auto match = amn::stages::recognise_schemes(amn::stages::make_scheme_context(model.catalog));
          for (const auto& output : match.outputs) {
            std::vector<float> scratch(*amn::element_count(output.shape));
            output.source->rows(model.data, 0, source_rows(output), scratch.data());
          }
        },
        path, code, fragment);
  }
  return rows.size();
}

}  // namespace scheme_test
