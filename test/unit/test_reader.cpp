// Covers the public tensor reader (include/amn/reader.hpp): stored bytes against the files' own
// bytes, casts, GGUF dequantisation against ggml's (test/fixtures/ggml, as test_gguf_kernels.cpp),
// quantisation against ggml_quantize_chunk's bytes (test/fixtures/quant/ggml_quant.safetensors),
// row ranges, and the errors for bad indices, rows, buffers and importance weights.
#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "amn/amn.hpp"
#include "amn/reader.hpp"
#include "io/tensor_data.hpp"
#include "kernels/convert.hpp"
#include "kernels/quantize.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using amn::DType;

namespace {

const fs::path kFixtures = fs::path(AMN_SOURCE_DIR) / "test" / "fixtures";
const std::string kAllTypes = (kFixtures / "ggml" / "all_types.gguf").string();
const std::string kAllTypesF32 = (kFixtures / "ggml" / "all_types.expected_f32.npz").string();
const std::string kTinyLlama = std::string(AMN_SOURCE_DIR) + "/samples/tiny-llama.gguf";

/// Bytes [offset, offset + len) of `path`, read with the standard library (not amn).
std::vector<std::byte> file_bytes(const std::string& path, uint64_t offset, uint64_t len) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  std::vector<std::byte> bytes(len);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(len));
  REQUIRE(in.good());
  return bytes;
}

/// The reader's whole tensor as `to`.
std::vector<std::byte> read_whole(const amn::TensorReader& reader, size_t tensor_idx, DType to,
                                  std::span<const float> importance = {}) {
  std::vector<std::byte> out(reader.bytes_for(tensor_idx, to));
  reader.read(tensor_idx, to, out, importance);
  return out;
}

/// Rows [row_begin, row_begin + row_count) as `to`.
std::vector<std::byte> read_rows(const amn::TensorReader& reader, size_t tensor_idx, uint64_t row_begin,
                                 uint64_t row_count, DType to, std::span<const float> importance = {}) {
  std::vector<std::byte> out(reader.bytes_for(tensor_idx, row_begin, row_count, to));
  reader.read(tensor_idx, row_begin, row_count, to, out, importance);
  return out;
}

/// Reports the first differing byte (and the count) rather than two long vectors.
void check_same_bytes(const std::vector<std::byte>& got, const std::vector<std::byte>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t byte_idx = 0; byte_idx < got.size(); ++byte_idx) {
    if (got[byte_idx] != want[byte_idx]) {
      FAIL_CHECK("first difference at byte " << byte_idx << " of " << got.size());
      return;
    }
  }
}

std::vector<float> as_floats(const std::vector<std::byte>& bytes) {
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  return values;
}

/// Runs `body`, which must throw amn::Error with `code`; returns its message.
template <class Body>
std::string error_of(Body&& body, amn::ErrorCode code) {
  try {
    body();
  } catch (const amn::Error& error) {
    CHECK(static_cast<int>(error.code()) == static_cast<int>(code));
    return error.what();
  }
  FAIL("no amn::Error thrown");
  return {};
}

/// Writes a safetensors file holding one tensor `name` (dtype string, shape, bytes).
std::string write_safetensors(const fs::path& path, const std::string& name, const std::string& dtype,
                              const std::vector<int64_t>& shape, const std::vector<std::byte>& data) {
  std::string dims;
  for (int64_t dim : shape) {
    if (!dims.empty()) dims += ',';
    dims += std::to_string(dim);
  }
  std::string header = "{\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":[" + dims + "],\"data_offsets\":[0," +
                       std::to_string(data.size()) + "]}}";
  const uint64_t header_len = header.size();
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(&header_len), sizeof(header_len));
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  return path.string();
}

std::vector<std::byte> float_bytes(const std::vector<float>& values) {
  std::vector<std::byte> bytes(values.size() * sizeof(float));
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

}  // namespace

TEST_CASE("reader: stored bytes equal the file's bytes (GGUF, safetensors)") {
  for (const std::string& path : {kAllTypes, kTinyLlama, (kFixtures / "safetensors" / "dtypes.safetensors").string()}) {
    CAPTURE(path);
    const amn::Catalog catalog = amn::open_model(path);
    const amn::TensorReader reader(catalog);
    REQUIRE(reader.tensors().size() == catalog.tensors.size());
    for (size_t tensor_idx = 0; tensor_idx < catalog.tensors.size(); ++tensor_idx) {
      const amn::Tensor& tensor = catalog.tensors[tensor_idx];
      CAPTURE(tensor.name);
      REQUIRE(tensor.contiguous_le());
      const amn::Storage& storage = catalog.storages[tensor.storage];
      CHECK(reader.can_read_as(tensor_idx, tensor.dtype));
      CHECK(reader.bytes_for(tensor_idx, tensor.dtype) == tensor.nbytes);
      check_same_bytes(read_whole(reader, tensor_idx, tensor.dtype),
                       file_bytes(catalog.files[storage.file_index], storage.offset + tensor.byte_offset, tensor.nbytes));
    }
  }
}

TEST_CASE("reader: stored bytes are the logical bytes for views, fortran order, big-endian and deflated members") {
  std::vector<std::string> paths;
  for (const char* folder : {"npz", "pth"}) {
    for (const auto& entry : fs::directory_iterator(kFixtures / folder)) {
      const auto ext = entry.path().extension();
      if (ext == ".npz" || ext == ".npy" || ext == ".pth" || ext == ".pt") paths.push_back(entry.path().string());
    }
  }
  REQUIRE(!paths.empty());
  size_t checked = 0;
  for (const std::string& path : paths) {
    CAPTURE(path);
    amn::Catalog catalog;
    try {
      catalog = amn::open_model(path);
    } catch (const amn::Error&) {
      continue;  // the hostile and refused fixtures of those folders
    }
    const amn::TensorReader reader(catalog);
    amn::io::TensorData data(catalog, {});
    for (size_t tensor_idx = 0; tensor_idx < catalog.tensors.size(); ++tensor_idx) {
      CAPTURE(catalog.tensors[tensor_idx].name);
      std::vector<std::byte> expected;
      try {
        expected = data.read_all(tensor_idx);
      } catch (const amn::Error&) {
        continue;
      }
      check_same_bytes(read_whole(reader, tensor_idx, catalog.tensors[tensor_idx].dtype), expected);
      ++checked;
    }
  }
  CHECK(checked > 10);
}

TEST_CASE("reader: GGUF block types read as F32 equal ggml's dequantisation; F16/BF16 are its narrowing") {
  const amn::Catalog quantised = amn::open_model(kAllTypes);
  const amn::Catalog dequantised = amn::open_model(kAllTypesF32);
  const amn::TensorReader reader(quantised);
  const amn::TensorReader expected_reader(dequantised);
  std::set<DType> covered;
  for (size_t tensor_idx = 0; tensor_idx < quantised.tensors.size(); ++tensor_idx) {
    const amn::Tensor& tensor = quantised.tensors[tensor_idx];
    CAPTURE(tensor.name);
    const auto expected_idx = expected_reader.find(tensor.name);
    REQUIRE(expected_idx);
    const std::vector<std::byte> expected = read_whole(expected_reader, *expected_idx, DType::F32);
    REQUIRE(reader.can_read_as(tensor_idx, DType::F32));
    check_same_bytes(read_whole(reader, tensor_idx, DType::F32), expected);

    // F16 and BF16: ggml's f32 values narrowed round-to-nearest-even
    const std::vector<float> values = as_floats(expected);
    for (DType narrow : {DType::F16, DType::BF16}) {
      CAPTURE(amn::info(narrow).name);
      std::vector<std::byte> want(values.size() * 2);
      amn::kernels::store_f32_with(amn::kernels::Isa::Scalar, values.data(), values.size(), narrow, want.data());
      check_same_bytes(read_whole(reader, tensor_idx, narrow), want);
    }
    if (amn::is_block_type(tensor.dtype)) covered.insert(tensor.dtype);
  }
  CHECK(covered.size() == 25);  // every block type ggml_quantize_chunk produces (not Q8_1, Q8_K)
}

TEST_CASE("reader: row ranges are slices of the whole tensor, for every route") {
  const amn::Catalog catalog = amn::open_model(kAllTypes);
  const amn::TensorReader reader(catalog);
  for (size_t tensor_idx = 0; tensor_idx < catalog.tensors.size(); ++tensor_idx) {
    const amn::Tensor& tensor = catalog.tensors[tensor_idx];
    CAPTURE(tensor.name);
    REQUIRE(reader.rows(tensor_idx) == 16);
    REQUIRE(reader.row_elems(tensor_idx) == 768);
    for (DType to : {tensor.dtype, DType::F32, DType::BF16}) {
      CAPTURE(amn::info(to).name);
      const std::vector<std::byte> whole = read_whole(reader, tensor_idx, to);
      const uint64_t row_bytes = whole.size() / 16;
      for (auto [row_begin, row_count] : {std::pair<uint64_t, uint64_t>{0, 1}, {3, 5}, {15, 1}, {0, 16}, {16, 0}}) {
        CAPTURE(row_begin);
        CAPTURE(row_count);
        CHECK(reader.bytes_for(tensor_idx, row_begin, row_count, to) == row_count * row_bytes);
        const std::vector<std::byte> rows = read_rows(reader, tensor_idx, row_begin, row_count, to);
        check_same_bytes(rows, std::vector<std::byte>(whole.begin() + static_cast<ptrdiff_t>(row_begin * row_bytes),
                                                      whole.begin() + static_cast<ptrdiff_t>((row_begin + row_count) * row_bytes)));
      }
    }
  }
}

TEST_CASE("reader: float casts equal the element conversions") {
  const amn::Catalog catalog = amn::open_model(kAllTypes);
  const amn::TensorReader reader(catalog);
  const size_t f16_idx = *reader.find("blk.1.f16.weight");
  const size_t f32_idx = *reader.find("blk.0.f32.weight");
  const std::vector<std::byte> halves = read_whole(reader, f16_idx, DType::F16);
  const std::vector<float> widened = as_floats(read_whole(reader, f16_idx, DType::F32));
  REQUIRE(widened.size() == halves.size() / 2);
  for (size_t elem = 0; elem < widened.size(); ++elem) {
    uint16_t half;
    std::memcpy(&half, halves.data() + elem * 2, sizeof(half));
    REQUIRE(std::bit_cast<uint32_t>(widened[elem]) == std::bit_cast<uint32_t>(amn::kernels::f16_to_f32(half)));
  }
  const std::vector<float> floats = as_floats(read_whole(reader, f32_idx, DType::F32));
  const std::vector<std::byte> bf16 = read_whole(reader, f32_idx, DType::BF16);
  for (size_t elem = 0; elem < floats.size(); ++elem) {
    uint16_t got;
    std::memcpy(&got, bf16.data() + elem * 2, sizeof(got));
    REQUIRE(got == amn::kernels::f32_to_bf16(floats[elem]));
  }
}

TEST_CASE("reader: quantisation is kernels::quantize_rows on the tensor's f32 rows") {
  const amn::Catalog catalog = amn::open_model(kAllTypes);
  const amn::TensorReader reader(catalog);
  for (const char* name : {"blk.0.f32.weight", "blk.1.f16.weight", "blk.12.q6_K.weight"}) {
    CAPTURE(name);
    const size_t tensor_idx = *reader.find(name);
    const std::vector<float> values = as_floats(read_whole(reader, tensor_idx, DType::F32));
    std::vector<float> importance(768);
    for (size_t elem = 0; elem < importance.size(); ++elem) importance[elem] = 1.0f + static_cast<float>(elem % 5);
    for (DType to : {DType::Q8_0, DType::Q4_0, DType::MXFP4}) {
      CAPTURE(amn::info(to).name);
      std::vector<std::byte> want(reader.bytes_for(tensor_idx, to));
      amn::kernels::quantize_rows(to, values.data(), 16, 768, nullptr, want.data());
      check_same_bytes(read_whole(reader, tensor_idx, to), want);
      amn::kernels::quantize_rows(to, values.data(), 16, 768, importance.data(), want.data());
      check_same_bytes(read_whole(reader, tensor_idx, to, importance), want);
    }
  }
}

TEST_CASE("reader: quantisation equals ggml_quantize_chunk's bytes, with and without importance weights") {
  // ggml_quant.safetensors: input.<case> F32 [4, 512], imatrix.<case> F32 [512], and
  // <TYPE>.<case>[.imatrix] the bytes ggml_quantize_chunk wrote for them (as U8 rows).
  const fs::path fixture = kFixtures / "quant" / "ggml_quant.safetensors";
  if (!fs::exists(fixture)) {
    MESSAGE("skipped: " << fixture.string() << " is not in this checkout");
    return;
  }
  const amn::Catalog catalog = amn::open_model(fixture.string());
  const amn::TensorReader reader(catalog);
  std::set<std::string> compared;
  std::set<std::string> unavailable;
  for (size_t tensor_idx = 0; tensor_idx < catalog.tensors.size(); ++tensor_idx) {
    const std::string& name = catalog.tensors[tensor_idx].name;
    const size_t dot = name.find('.');
    const auto to = amn::dtype_from_name(name.substr(0, dot));
    if (!to || !amn::is_block_type(*to)) continue;
    CAPTURE(name);
    const size_t case_end = name.find('.', dot + 1);
    const std::string which = name.substr(dot + 1, case_end == std::string::npos ? std::string::npos : case_end - dot - 1);
    const bool with_imatrix = case_end != std::string::npos;
    const size_t input_idx = *reader.find("input." + which);
    std::vector<float> importance;
    if (with_imatrix) importance = as_floats(read_whole(reader, *reader.find("imatrix." + which), DType::F32));
    REQUIRE(reader.can_read_as(input_idx, *to));
    std::vector<std::byte> got;
    try {
      got = read_whole(reader, input_idx, *to, importance);
    } catch (const amn::Error& error) {
      // a quantiser still being written (a stub) is reported, not crashed on
      REQUIRE(std::string(error.what()).find("not available in this build") != std::string::npos);
      unavailable.insert(name);
      continue;
    }
    check_same_bytes(got, read_whole(reader, tensor_idx, DType::U8));
    // a row range quantises to the same bytes as its slice of the whole
    const uint64_t row_bytes = got.size() / reader.rows(input_idx);
    check_same_bytes(read_rows(reader, input_idx, 1, 2, *to, importance),
                     std::vector<std::byte>(got.begin() + static_cast<ptrdiff_t>(row_bytes),
                                            got.begin() + static_cast<ptrdiff_t>(3 * row_bytes)));
    compared.insert(name);
  }
  MESSAGE("quantisation compared for " << compared.size() << " cases; " << unavailable.size()
                                       << " cases wait for their quantiser");
  for (const char* must : {"Q8_0.gauss", "Q8_0.gauss.imatrix", "Q4_0.gauss", "Q4_1.wide", "Q5_0.tiny", "MXFP4.huge"}) {
    CHECK_MESSAGE(compared.count(must) == 1, must);
  }
}

TEST_CASE("reader: block to block re-quantises the dequantised values") {
  const amn::Catalog catalog = amn::open_model(kAllTypes);
  const amn::TensorReader reader(catalog);
  const size_t q4_idx = *reader.find("blk.3.q4_0.weight");
  const size_t f32_idx = *reader.find("blk.0.f32.weight");
  // Q4_0 → Q8_0 equals Q4_0 → F32 written to a file and quantised from there
  const amn::test::TempDir dir("reader");
  const std::vector<std::byte> dequantised = read_whole(reader, q4_idx, DType::F32);
  const std::string path = write_safetensors(dir / "q4.safetensors", "w", "F32", {16, 768}, dequantised);
  const amn::TensorReader from_f32(amn::open_model(path));
  check_same_bytes(read_whole(reader, q4_idx, DType::Q8_0), read_whole(from_f32, 0, DType::Q8_0));
  CHECK(reader.can_read_as(f32_idx, DType::Q8_0));
}

TEST_CASE("reader: a bad index, rows outside the tensor and a wrong buffer size are refused, naming file and tensor") {
  const amn::Catalog catalog = amn::open_model(kAllTypes);
  const amn::TensorReader reader(catalog);
  const size_t idx = *reader.find("blk.7.q8_0.weight");
  std::vector<std::byte> buffer(reader.bytes_for(idx, 0, 2, DType::F32));

  std::string message = error_of([&] { (void)reader.rows(catalog.tensors.size()); }, amn::ErrorCode::Usage);
  CHECK(message.find("all_types.gguf: tensor index 28 is out of range (the model has 28 tensors)") != std::string::npos);

  message = error_of([&] { reader.read(idx, 15, 2, DType::F32, buffer); }, amn::ErrorCode::Usage);
  CHECK(message.find("all_types.gguf: tensor 'blk.7.q8_0.weight': rows [15, 17) lie outside its 16 rows") !=
        std::string::npos);
  message = error_of([&] { (void)reader.bytes_for(idx, 17, 0, DType::F32); }, amn::ErrorCode::Usage);
  CHECK(message.find("rows [17, 17) lie outside its 16 rows") != std::string::npos);
  error_of([&] { reader.read(idx, 1, std::numeric_limits<uint64_t>::max(), DType::F32, buffer); }, amn::ErrorCode::Usage);

  message = error_of([&] { reader.read(idx, 0, 1, DType::F32, buffer); }, amn::ErrorCode::Usage);
  CHECK(message.find("all_types.gguf: tensor 'blk.7.q8_0.weight': rows [0, 1) as F32 take 3072 bytes, but the buffer has 6144") !=
        std::string::npos);
  message = error_of([&] { reader.read(idx, 0, 2, DType::F32, std::span(buffer).first(buffer.size() - 1)); }, amn::ErrorCode::Usage);
  CHECK(message.find("but the buffer has 6143") != std::string::npos);

  // importance weights only for quantisation, and of the right length
  const std::vector<float> weights(768, 1.0f);
  message = error_of([&] { reader.read(idx, 0, 2, DType::F32, buffer, weights); }, amn::ErrorCode::Usage);
  CHECK(message.find("importance weights apply only when quantising") != std::string::npos);
  const size_t f32_idx = *reader.find("blk.0.f32.weight");
  std::vector<std::byte> q8(reader.bytes_for(f32_idx, DType::Q8_0));
  message = error_of([&] { reader.read(f32_idx, DType::Q8_0, q8, std::span(weights).first(700)); }, amn::ErrorCode::Usage);
  CHECK(message.find("tensor 'blk.0.f32.weight': 700 importance weights, expected 768") != std::string::npos);
  std::vector<std::byte> iq2(reader.bytes_for(f32_idx, DType::IQ2_XXS));
  message = error_of([&] { reader.read(f32_idx, DType::IQ2_XXS, iq2); }, amn::ErrorCode::Usage);
  CHECK(message.find("quantisation to IQ2_XXS needs importance weights") != std::string::npos);

  // nothing was written by the refused reads
  CHECK(std::all_of(buffer.begin(), buffer.end(), [](std::byte byte) { return byte == std::byte{0}; }));
}

TEST_CASE("reader: conversions amn cannot do are refused as unsupported") {
  const amn::test::TempDir dir("reader");
  const amn::Catalog ints = amn::open_model(write_safetensors(dir / "ints.safetensors", "ids", "I32", {2, 3},
                                                              std::vector<std::byte>(24)));
  const amn::TensorReader int_reader(ints);
  CHECK_FALSE(int_reader.can_read_as(0, DType::F32));
  CHECK(int_reader.can_read_as(0, DType::I32));
  std::string message = error_of([&] { (void)int_reader.bytes_for(0, DType::F32); }, amn::ErrorCode::Unsupported);
  CHECK(message.find("ints.safetensors: tensor 'ids' is I32, which amn cannot read as F32") != std::string::npos);
  error_of([&] { (void)int_reader.bytes_for(0, DType::Q8_0); }, amn::ErrorCode::Unsupported);
  error_of([&] { (void)int_reader.bytes_for(0, DType::I64); }, amn::ErrorCode::Unsupported);

  // rows that are not whole blocks of the target
  const amn::Catalog narrow = amn::open_model(write_safetensors(dir / "narrow.safetensors", "w", "F32", {2, 64},
                                                                float_bytes(std::vector<float>(128, 0.5f))));
  const amn::TensorReader narrow_reader(narrow);
  CHECK(narrow_reader.can_read_as(0, DType::Q8_0));
  CHECK_FALSE(narrow_reader.can_read_as(0, DType::Q4_K));
  message = error_of([&] { (void)narrow_reader.bytes_for(0, DType::Q4_K); }, amn::ErrorCode::Unsupported);
  CHECK(message.find("tensor 'w' has rows of 64 elements, not a multiple of Q4_K's block of 256") != std::string::npos);

  // non-finite values are not quantised
  std::vector<float> values(64, 0.25f);
  values[40] = std::numeric_limits<float>::infinity();
  const amn::Catalog inf = amn::open_model(write_safetensors(dir / "inf.safetensors", "w", "F32", {2, 32}, float_bytes(values)));
  const amn::TensorReader inf_reader(inf);
  std::vector<std::byte> q8(inf_reader.bytes_for(0, DType::Q8_0));
  message = error_of([&] { inf_reader.read(0, DType::Q8_0, q8); }, amn::ErrorCode::Unsupported);
  CHECK(message.find("tensor 'w': element 8 of row 1 is not finite; refusing to quantise it to Q8_0") != std::string::npos);
  std::vector<std::byte> first_row(inf_reader.bytes_for(0, 0, 1, DType::Q8_0));
  inf_reader.read(0, 0, 1, DType::Q8_0, first_row);  // row 0 is finite
}

TEST_CASE("reader: a rank-3 tensor takes one slice of per-matrix importance weights per matrix") {
  // [2 experts, 3 rows, 32 columns]: per-matrix weights give each expert's rows the slice for it
  const amn::test::TempDir dir("reader");
  std::vector<float> values(2 * 3 * 32);
  for (size_t elem = 0; elem < values.size(); ++elem) values[elem] = std::sin(static_cast<float>(elem) * 0.37f);
  const amn::TensorReader reader(
      amn::open_model(write_safetensors(dir / "experts.safetensors", "w", "F32", {2, 3, 32}, float_bytes(values))));
  REQUIRE(reader.rows(0) == 6);
  std::vector<float> weights(64);
  for (size_t elem = 0; elem < weights.size(); ++elem) weights[elem] = 0.5f + static_cast<float>(elem % 7);
  const std::vector<std::byte> both = read_whole(reader, 0, DType::Q4_0, weights);
  const std::vector<std::byte> first = read_rows(reader, 0, 0, 3, DType::Q4_0, std::span(weights).first(32));
  const std::vector<std::byte> second = read_rows(reader, 0, 3, 3, DType::Q4_0, std::span(weights).last(32));
  std::vector<std::byte> joined = first;
  joined.insert(joined.end(), second.begin(), second.end());
  check_same_bytes(both, joined);
  // a range crossing the matrices splits at the boundary
  check_same_bytes(read_rows(reader, 0, 2, 2, DType::Q4_0, weights),
                   std::vector<std::byte>(joined.begin() + 2 * 18, joined.begin() + 4 * 18));
}

TEST_CASE("reader: 0-D and 1-D tensors are one row; the reader outlives its catalog and moves") {
  const amn::test::TempDir dir("reader");
  std::optional<amn::TensorReader> reader;
  {
    const amn::Catalog scalar = amn::open_model(
        write_safetensors(dir / "scalar.safetensors", "s", "F32", {}, float_bytes({3.5f})));
    reader.emplace(scalar);
  }
  CHECK(reader->rows(0) == 1);
  CHECK(reader->row_elems(0) == 1);
  CHECK(as_floats(read_whole(*reader, 0, DType::F32)) == std::vector<float>{3.5f});
  amn::TensorReader moved = std::move(*reader);
  CHECK(as_floats(read_rows(moved, 0, 0, 1, DType::F32)) == std::vector<float>{3.5f});
  CHECK_FALSE(moved.find("missing"));

  const amn::TensorReader vector_reader(amn::open_model(
      write_safetensors(dir / "vector.safetensors", "v", "F32", {5}, float_bytes({1, 2, 3, 4, 5}))));
  CHECK(vector_reader.rows(0) == 1);
  CHECK(vector_reader.row_elems(0) == 5);
}
