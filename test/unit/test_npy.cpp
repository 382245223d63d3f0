// Covers NPY 1.0/2.0/3.0 and NPZ (numpy format.py): header dict, dtypes, byte order,
// fortran order, 0-d and empty arrays, stored and deflated members, and the logical bytes served by
// TensorData. Expected values are numpy's own (test/fixtures/gen/gen_npz.py → expected.tsv).
#include <doctest/doctest.h>


#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "amn/amn.hpp"
#include "formats/formats.hpp"
#include "io/tensor_data.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = fs::path(AMN_SOURCE_DIR) / "test" / "fixtures" / "npz";

struct Expected {
  std::string tensor;
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<std::byte> bytes;
};

std::vector<std::byte> from_hex(const std::string& hex) {
  std::vector<std::byte> out(hex.size() / 2);
  for (size_t byte_idx = 0; byte_idx < out.size(); ++byte_idx) {
    out[byte_idx] = static_cast<std::byte>(std::stoi(hex.substr(byte_idx * 2, 2), nullptr, 16));
  }
  return out;
}

/// expected.tsv: file -> tensors as numpy loads them.
std::map<std::string, std::vector<Expected>> load_expected() {
  std::map<std::string, std::vector<Expected>> out;
  std::ifstream tsv(kFixtures / "expected.tsv");
  std::string line;
  while (std::getline(tsv, line)) {
    std::istringstream fields(line);
    std::string file, shape, hex;
    Expected entry;
    std::getline(fields, file, '\t');
    std::getline(fields, entry.tensor, '\t');
    std::getline(fields, entry.dtype, '\t');
    std::getline(fields, shape, '\t');
    std::getline(fields, hex);
    std::istringstream dims(shape);
    std::string dim;
    while (std::getline(dims, dim, ',')) entry.shape.push_back(std::stoll(dim));
    entry.bytes = from_hex(hex);
    out[file].push_back(std::move(entry));
  }
  return out;
}

size_t tensor_index(const amn::Catalog& catalog, const std::string& name) {
  for (size_t tensor_idx = 0; tensor_idx < catalog.tensors.size(); ++tensor_idx) {
    if (catalog.tensors[tensor_idx].name == name) return tensor_idx;
  }
  FAIL("no tensor " << name);
  return 0;
}

/// Writes `header` (a dict literal) as an NPY 1.0 file followed by `data`, in `dir`.
std::string write_npy(const amn::test::TempDir& dir, const std::string& stem, const std::string& header,
                      const std::string& data) {
  const auto len = static_cast<uint16_t>(header.size());
  return dir.write(stem + ".npy", std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(len & 0xff) +
                                      static_cast<char>(len >> 8) + header + data);
}

}  // namespace

TEST_CASE("npy/npz: names, dtypes, shapes and bytes agree with numpy") {
  auto expected = load_expected();
  REQUIRE(expected.size() >= 25);
  for (const auto& [file, tensors] : expected) {
    CAPTURE(file);
    amn::Catalog catalog = amn::open_model((kFixtures / file).string());
    bool is_npz = file.ends_with(".npz");
    CHECK(catalog.format == (is_npz ? amn::Format::Npz : amn::Format::Npy));
    CHECK(catalog.description == (is_npz ? "NPZ archive" : "NPY array"));
    REQUIRE(catalog.tensors.size() == tensors.size());
    amn::io::TensorData data(catalog, amn::Limits{});
    for (const auto& want : tensors) {
      CAPTURE(want.tensor);
      size_t tensor_idx = tensor_index(catalog, want.tensor);
      const amn::Tensor& tensor = catalog.tensors[tensor_idx];
      CHECK(amn::info(tensor.dtype).name == want.dtype);
      CHECK(tensor.shape == want.shape);
      CHECK(tensor.nbytes == want.bytes.size());
      CHECK(data.read_all(tensor_idx) == want.bytes);
    }
  }
}

TEST_CASE("npy: layout facts — byte order, fortran strides, 0-d and empty") {
  auto be = amn::open_model((kFixtures / "be_f4.npy").string());
  CHECK(be.tensors[0].byte_order == amn::ByteOrder::Big);
  auto fortran = amn::open_model((kFixtures / "fortran_f4.npy").string());
  CHECK(fortran.tensors[0].strides == std::vector<int64_t>{1, 3});
  auto scalar = amn::open_model((kFixtures / "scalar_f8.npy").string());
  CHECK(scalar.tensors[0].shape.empty());
  CHECK(scalar.tensors[0].nbytes == 8);
  auto empty = amn::open_model((kFixtures / "empty_f4.npy").string());
  CHECK(empty.tensors[0].nbytes == 0);
  CHECK(amn::io::TensorData(empty, amn::Limits{}).read_all(0).empty());
  auto u1 = amn::open_model((kFixtures / "u1.npy").string());
  CHECK(u1.tensors[0].byte_order == amn::ByteOrder::Little);  // '|u1'
}

TEST_CASE("npy/npz: partial reads at unaligned windows equal slices of the whole") {
  auto expected = load_expected();
  for (const char* file : {"fortran_i2.npy", "be_c8.npy", "be_i8.npy", "compressed.npz", "savez.npz", "zip64.npz"}) {
    CAPTURE(file);
    amn::Catalog catalog = amn::open_model((kFixtures / file).string());
    amn::io::TensorData data(catalog, amn::Limits{});
    for (const auto& want : expected[file]) {
      size_t tensor_idx = tensor_index(catalog, want.tensor);
      const uint64_t total = want.bytes.size();
      for (uint64_t begin = 0; begin < total; begin += 3) {
        for (uint64_t len : {uint64_t{1}, uint64_t{5}, uint64_t{8}, total - begin}) {
          if (len > total - begin) continue;
          std::vector<std::byte> window(len);
          data.read(tensor_idx, begin, len, window.data());
          CHECK(std::memcmp(window.data(), want.bytes.data() + begin, len) == 0);
        }
      }
    }
  }
}

TEST_CASE("npz: non-array members are listed in extras") {
  auto catalog = amn::open_model((kFixtures / "extras.npz").string());
  REQUIRE(catalog.tensors.size() == 1);
  CHECK(catalog.tensors[0].name == "weights");
  REQUIRE(catalog.extras.size() == 1);
  CHECK(catalog.extras[0].first == "notes.txt");
}

TEST_CASE("npz: deflated members are CRC-checked when read") {
  auto catalog = amn::open_model((kFixtures / "bad_crc.npz").string());
  amn::io::TensorData data(catalog, amn::Limits{});
  try {
    (void)data.read_all(tensor_index(catalog, "a"));
    FAIL("bad CRC accepted");
  } catch (const amn::Error& error) {
    CHECK(error.code() == amn::ErrorCode::Parse);
    CHECK(std::string(error.what()).find("CRC-32 mismatch") != std::string::npos);
  }
  CHECK(data.read_all(tensor_index(catalog, "b")).size() == 40);
}

TEST_CASE("npy: Python literal variants numpy accepts") {
  const std::string data(8, '\0');
  const amn::test::TempDir dir("npy");
  // Python 2 long suffix, double quotes, no trailing comma, extra whitespace.
  auto path = write_npy(dir, "legacy", "{\"descr\": \"<i4\" , 'shape': (2L,) ,'fortran_order':False}\n", data);
  auto catalog = amn::open_model(path);
  CHECK(catalog.tensors[0].name == "legacy");
  CHECK(catalog.tensors[0].shape == std::vector<int64_t>{2});
  CHECK(catalog.tensors[0].dtype == amn::DType::I32);

  auto trailing = write_npy(dir, "trailing", "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 2,), }    \n", data);
  CHECK(amn::open_model(trailing).tensors[0].shape == std::vector<int64_t>{1, 2});
}

TEST_CASE("npy: header refusals name the field") {
  struct Case {
    const char* header;
    amn::ErrorCode code;
    const char* fragment;
  };
  const Case cases[] = {
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", amn::ErrorCode::Parse, "shape: not a tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': ('2',), }", amn::ErrorCode::Parse, "shape: dimension is not an integer"},
      {"{'descr': '<U3', 'fortran_order': False, 'shape': (1,), }", amn::ErrorCode::Unsupported, "no matching amn dtype"},
      {"{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }", amn::ErrorCode::Unsupported, "no matching amn dtype"},
      {"{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (1,), }", amn::ErrorCode::Unsupported, "not a plain numeric type"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } x", amn::ErrorCode::Parse, "unexpected text after the dict"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17), }",
       amn::ErrorCode::Limit, "dimensions"},
  };
  const amn::test::TempDir dir("npy");
  for (const auto& test : cases) {
    CAPTURE(test.header);
    auto path = write_npy(dir, "refused", test.header, std::string(64, '\0'));
    try {
      (void)amn::open_model(path);
      FAIL("accepted");
    } catch (const amn::Error& error) {
      CHECK(error.code() == test.code);
      CHECK(std::string(error.what()).find(test.fragment) != std::string::npos);
    }
  }
}

TEST_CASE("tensor data: strided views must stay inside their storage") {
  amn::Catalog catalog = amn::open_model((kFixtures / "f4.npy").string());
  amn::Tensor& tensor = catalog.tensors[0];  // (2, 3) f4
  tensor.strides = {3, 1};
  amn::io::TensorData inside(catalog, amn::Limits{});
  CHECK(inside.read_all(0).size() == 24);
  tensor.strides = {100, 1};
  amn::io::TensorData outside(catalog, amn::Limits{});
  try {
    (void)outside.read_all(0);
    FAIL("view outside its storage accepted");
  } catch (const amn::Error& error) {
    CHECK(error.code() == amn::ErrorCode::Parse);
    CHECK(std::string(error.what()).find("outside its storage") != std::string::npos);
  }
}
