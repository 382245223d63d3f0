// Covers GGUF quantisation (kernels/quantize.hpp): every block type ggml_quantize_chunk makes, with and
// without an importance matrix, byte for byte against ggml's own output in
// test/fixtures/quant/ggml_quant.safetensors (test/fixtures/gen/gen_quant.py, see that folder's
// README.md), at every ISA level the CPU runs (quantize_rows_at); quantize_needs_imatrix and the ggml
// type ids against ggml's.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstring>
#include <exception>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "amn/amn.hpp"
#include "io/tensor_data.hpp"
#include "kernels/quantize.hpp"

namespace {

using amn::DType;

const std::string kFixture = AMN_SOURCE_DIR "/test/fixtures/quant/ggml_quant.safetensors";
constexpr std::string_view kNeedsImatrixKey = "requires_imatrix.";
constexpr std::string_view kTypeIdKey = "ggml_type_id.";
constexpr std::string_view kImatrixSuffix = ".imatrix";

/// The fixture file: its catalog, tensors by name, and metadata strings.
struct Fixture {
  amn::Catalog catalog = amn::open_model(kFixture);
  amn::io::TensorData data{catalog, {}};
  std::map<std::string, size_t> index;

  Fixture() {
    for (size_t tensor_idx = 0; tensor_idx < catalog.tensors.size(); ++tensor_idx) {
      index[catalog.tensors[tensor_idx].name] = tensor_idx;
    }
  }

  const amn::Tensor& tensor(const std::string& name) const {
    const auto found = index.find(name);
    REQUIRE_MESSAGE(found != index.end(), "fixture has no tensor " << name);
    return catalog.tensors[found->second];
  }

  std::vector<float> floats(const std::string& name) {
    REQUIRE(tensor(name).dtype == DType::F32);
    const auto bytes = data.read_all(index.at(name));
    std::vector<float> values(bytes.size() / sizeof(float));
    std::memcpy(values.data(), bytes.data(), bytes.size());
    return values;
  }

  std::vector<std::byte> bytes(const std::string& name) { return data.read_all(index.at(name)); }

  /// Metadata entries whose key starts with `prefix`: rest of the key -> value.
  std::map<std::string, std::string> meta_with_prefix(std::string_view prefix) const {
    std::map<std::string, std::string> found;
    for (const auto& entry : catalog.metadata) {
      if (entry.key.starts_with(prefix)) {
        found[entry.key.substr(prefix.size())] = std::get<std::string>(entry.value.value);
      }
    }
    return found;
  }
};

/// Runs quantize_rows and describes how its bytes differ from ggml's `expected` ([rows,
/// row_bytes]); "" when they are identical.
std::string quantise_and_compare(amn::kernels::Isa isa, DType type, const std::vector<float>& input, size_t rows,
                                 size_t n_per_row, const float* imatrix, const std::vector<std::byte>& expected) {
  const auto& type_info = amn::info(type);
  if (!amn::kernels::can_quantize(type)) return "no quantiser (can_quantize is false)";
  if (imatrix == nullptr && amn::kernels::quantize_needs_imatrix(type)) {
    return "amn demands an importance matrix, ggml quantised without one";
  }
  const size_t row_bytes = n_per_row / type_info.block_elems * type_info.block_bits / 8;
  if (expected.size() != rows * row_bytes) {
    return "fixture holds " + std::to_string(expected.size()) + " bytes, the dtype table says " +
           std::to_string(rows * row_bytes);
  }
  std::vector<std::byte> got(expected.size(), std::byte{0xa5});  // unwritten bytes show as differences
  try {
    amn::kernels::quantize_rows_at(isa, type, input.data(), rows, n_per_row, imatrix, got.data());
  } catch (const std::exception& error) {
    return std::string("quantize_rows threw: ") + error.what();
  }
  size_t first = got.size();
  size_t differing = 0;
  for (size_t offset = 0; offset < got.size(); ++offset) {
    if (got[offset] == expected[offset]) continue;
    if (first == got.size()) first = offset;
    ++differing;
  }
  if (differing == 0) return "";
  const size_t row = first / row_bytes;
  const size_t in_row = first % row_bytes;
  const size_t block_bytes = type_info.block_bits / 8;
  std::ostringstream out;
  out << "row " << row << ", byte " << in_row << " of " << row_bytes << " (block " << in_row / block_bytes
      << ", byte " << in_row % block_bytes << " of " << block_bytes << "): got 0x" << std::hex
      << std::to_integer<int>(got[first]) << ", ggml 0x" << std::to_integer<int>(expected[first]) << std::dec
      << "; " << differing << " of " << got.size() << " bytes differ";
  return out.str();
}

}  // namespace

TEST_CASE("GGUF quantisation: every quantisable type, quantize_needs_imatrix and type ids as ggml has them") {
  Fixture fixture;
  const auto needs_imatrix = fixture.meta_with_prefix(kNeedsImatrixKey);
  const auto type_ids = fixture.meta_with_prefix(kTypeIdKey);
  REQUIRE(needs_imatrix.size() == 25);
  CHECK(type_ids.size() == needs_imatrix.size());

  std::set<DType> in_fixture;
  for (const auto& [name, ggml_needs] : needs_imatrix) {
    CAPTURE(name);
    const auto type = amn::dtype_from_name(name);
    REQUIRE_MESSAGE(type.has_value(), "amn has no dtype " << name);
    in_fixture.insert(*type);
    CHECK_MESSAGE(amn::kernels::can_quantize(*type), name << " has no quantiser");
    CHECK(amn::kernels::quantize_needs_imatrix(*type) == (ggml_needs == "1"));
    const auto type_id = type_ids.find(name);
    REQUIRE(type_id != type_ids.end());
    CHECK(std::to_string(amn::info(*type).gguf_id) == type_id->second);
  }
  // and nothing amn quantises is missing from the fixture
  for (const auto& entry : amn::all_dtypes()) {
    if (amn::kernels::can_quantize(entry.type)) CHECK_MESSAGE(in_fixture.count(entry.type), entry.name);
  }

  // every type × case × (imatrix or not, as ggml allows) is in the fixture or listed as dropped
  const amn::MetaEntry* dropped_entry = fixture.catalog.find_meta("dropped");
  REQUIRE(dropped_entry != nullptr);
  std::set<std::string> dropped;
  std::istringstream dropped_names(std::get<std::string>(dropped_entry->value.value));
  for (std::string name; dropped_names >> name;) dropped.insert(name);
  std::vector<std::string> cases;
  for (const auto& tensor : fixture.catalog.tensors) {
    if (tensor.name.starts_with("input.")) cases.push_back(tensor.name.substr(std::string_view("input.").size()));
  }
  CHECK(cases.size() == 7);
  for (const auto& [type_name, ggml_needs] : needs_imatrix) {
    for (const auto& case_name : cases) {
      for (const std::string suffix : {"", ".imatrix"}) {
        if (suffix.empty() && ggml_needs == "1") continue;
        const std::string name = type_name + "." + case_name + suffix;
        CHECK_MESSAGE((fixture.index.count(name) != 0) != (dropped.count(name) != 0),
                      name << " must be either in the fixture or dropped");
      }
    }
  }
}

TEST_CASE("GGUF quantisation equals ggml's byte for byte, at every ISA level this CPU runs") {
  Fixture fixture;
  std::map<std::string, size_t> compared_per_type;
  for (const auto& [name, ggml_needs] : fixture.meta_with_prefix(kNeedsImatrixKey)) compared_per_type[name] = 0;

  for (const auto& tensor : fixture.catalog.tensors) {
    if (tensor.name.starts_with("input.") || tensor.name.starts_with("imatrix.")) continue;
    CAPTURE(tensor.name);
    // <TYPE>.<case> or <TYPE>.<case>.imatrix
    const size_t dot = tensor.name.find('.');
    REQUIRE(dot != std::string::npos);
    const std::string type_name = tensor.name.substr(0, dot);
    std::string case_name = tensor.name.substr(dot + 1);
    const bool with_imatrix = case_name.ends_with(kImatrixSuffix);
    if (with_imatrix) case_name.resize(case_name.size() - kImatrixSuffix.size());

    const auto type = amn::dtype_from_name(type_name);
    REQUIRE_MESSAGE(type.has_value(), "amn has no dtype " << type_name);
    REQUIRE(tensor.dtype == DType::U8);
    REQUIRE(tensor.shape.size() == 2);
    const auto& input_tensor = fixture.tensor("input." + case_name);
    REQUIRE(input_tensor.shape.size() == 2);
    const auto rows = static_cast<size_t>(input_tensor.shape[0]);
    const auto n_per_row = static_cast<size_t>(input_tensor.shape[1]);
    REQUIRE(static_cast<size_t>(tensor.shape[0]) == rows);

    const auto input = fixture.floats("input." + case_name);
    const auto imatrix = fixture.floats("imatrix." + case_name);
    REQUIRE(imatrix.size() == n_per_row);
    const auto expected = fixture.bytes(tensor.name);
    const std::string how = with_imatrix ? "with imatrix" : "without imatrix";
    for (const amn::kernels::Isa isa : amn::kernels::supported_isas()) {
      const std::string problem = quantise_and_compare(isa, *type, input, rows, n_per_row,
                                                       with_imatrix ? imatrix.data() : nullptr, expected);
      CHECK_MESSAGE(problem.empty(), type_name << ", case " << case_name << " " << how << ", "
                                               << amn::kernels::isa_name(isa) << ": " << problem);
    }
    ++compared_per_type[type_name];
  }
  // every type of the fixture had tensors to compare
  for (const auto& [type_name, compared] : compared_per_type) {
    CAPTURE(type_name);
    CHECK(compared > 0);
  }
}
