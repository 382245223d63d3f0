// Covers safetensors (huggingface/safetensors format: 8-byte length, JSON header, data section),
// the model.safetensors.index.json shard index, and the safetensors writer layout. Fixtures and
// expected.json: test/fixtures/gen/gen_safetensors.py (the safetensors package itself).
#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "amn/amn.hpp"
#include "formats/formats.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = fs::path(AMN_SOURCE_DIR) / "test" / "fixtures" / "safetensors";

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string file_bytes_hex(const std::string& path, uint64_t offset, uint64_t len) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  std::string bytes(len, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(len));
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char byte : bytes) {
    hex += kDigits[byte >> 4];
    hex += kDigits[byte & 0xf];
  }
  return hex;
}

uint64_t header_len_of(const std::string& path) {
  std::string bytes = read_text(path);
  uint64_t len = 0;
  std::memcpy(&len, bytes.data(), sizeof(len));
  return len;
}

/// A safetensors file from header text (no padding added) and data bytes.
std::string st_bytes(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t len = header.size();
  std::memcpy(out.data(), &len, sizeof(len));
  return out + header + data;
}

/// Checks `catalog` against what the safetensors package reported (one expected.json entry).
void check_against_library(const amn::Catalog& catalog, const rapidjson::Value& expected) {
  CHECK(catalog.format == amn::Format::Safetensors);
  const auto& order = expected["offset_keys"];
  REQUIRE(catalog.tensors.size() == order.Size());
  for (rapidjson::SizeType tensor_idx = 0; tensor_idx < order.Size(); ++tensor_idx) {
    const auto& tensor = catalog.tensors[tensor_idx];
    CAPTURE(tensor.name);
    CHECK(tensor.name == order[tensor_idx].GetString());
    const auto& want = expected["tensors"][order[tensor_idx]];
    CHECK(amn::info(tensor.dtype).name == want["dtype"].GetString());
    std::vector<int64_t> shape;
    for (const auto& dim : want["shape"].GetArray()) shape.push_back(dim.GetInt64());
    CHECK(tensor.shape == shape);
    CHECK(tensor.contiguous_le());
    std::string hex = want["data"].GetString();
    CHECK(tensor.nbytes == hex.size() / 2);
    const auto& storage = catalog.storages.at(tensor.storage);
    CHECK(tensor.byte_offset + tensor.nbytes <= storage.size);
    const std::string& file = catalog.files.at(storage.file_index);
    CHECK(file_bytes_hex(file, storage.offset + tensor.byte_offset, tensor.nbytes) == hex);
  }
  std::map<std::string, std::string> metadata;
  for (const auto& entry : catalog.metadata) {
    CHECK(entry.value.type == amn::MetaType::String);
    metadata[entry.key] = std::get<std::string>(entry.value.value);
  }
  std::map<std::string, std::string> want_metadata;
  if (expected["metadata"].IsObject()) {
    for (const auto& member : expected["metadata"].GetObject()) {
      want_metadata[member.name.GetString()] = member.value.GetString();
    }
  }
  CHECK(metadata == want_metadata);
}

rapidjson::Document expected_json() {
  rapidjson::Document doc;
  doc.Parse(read_text(kFixtures / "expected.json").c_str());
  REQUIRE(!doc.HasParseError());
  return doc;
}

}  // namespace

TEST_CASE("safetensors: files written by the safetensors package read as the package reports them") {
  auto expected = expected_json();
  for (const char* name : {"dtypes.safetensors", "numpy.safetensors"}) {
    CAPTURE(name);
    std::string path = (kFixtures / name).string();
    amn::Catalog catalog = amn::open_model(path);
    check_against_library(catalog, expected[name]);
    CHECK(catalog.files == std::vector<std::string>{path});
    CHECK(catalog.file_sizes == std::vector<uint64_t>{fs::file_size(path)});
    CHECK(catalog.description == "safetensors");
    REQUIRE(catalog.storages.size() == 1);
    CHECK(catalog.storages[0].offset == 8 + header_len_of(path));
    CHECK(catalog.storages[0].offset + catalog.storages[0].size == fs::file_size(path));
  }
}

TEST_CASE("safetensors: a sharded model opens through its index and through its directory") {
  auto expected = expected_json();
  const auto& want = expected["sharded/model.safetensors.index.json"];
  fs::path dir = kFixtures / "sharded";
  for (const std::string& path : {(dir / "model.safetensors.index.json").string(), dir.string()}) {
    CAPTURE(path);
    amn::Catalog catalog = amn::open_model(path);
    check_against_library(catalog, want);
    CHECK(catalog.files == std::vector<std::string>{(dir / "model-00001-of-00002.safetensors").string(),
                                                    (dir / "model-00002-of-00002.safetensors").string()});
    CHECK(catalog.storages.size() == 2);
    CHECK(catalog.description == "safetensors, 2 shards");
  }
  auto shards = amn::formats::read_safetensors_index((dir / "model.safetensors.index.json").string(), amn::Limits{});
  CHECK(shards.size() == 2);
}

TEST_CASE("safetensors: legal corner cases are accepted") {
  const amn::test::TempDir tmp("safetensors");
  SUBCASE("no tensors, no padding") {
    auto catalog = amn::open_model(tmp.write("empty.safetensors", st_bytes("{}", "")));
    CHECK(catalog.tensors.empty());
    CHECK(catalog.storages.size() == 1);
  }
  SUBCASE("header order differs from file order; empty tensors share an offset; odd header length") {
    std::string header =
        R"({"b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]},)"
        R"("e2":{"dtype":"F32","shape":[3,0],"data_offsets":[4,4]},)"
        R"("a":{"dtype":"I16","shape":[2],"data_offsets":[0,4]},)"
        R"("e1":{"dtype":"F4","shape":[0],"data_offsets":[0,0]}}   )";
    auto catalog = amn::open_model(tmp.write("order.safetensors", st_bytes(header, "abcdef")));
    std::vector<std::string> names;
    for (const auto& tensor : catalog.tensors) names.push_back(tensor.name);
    CHECK(names == std::vector<std::string>{"e1", "a", "e2", "b"});
    CHECK(catalog.tensors[3].byte_offset == 4);
    CHECK(catalog.tensors[3].nbytes == 2);
    CHECK(catalog.storages[0].offset == 8 + header.size());
  }
  SUBCASE("sub-byte dtypes that fill whole bytes") {
    std::string header = R"({"f6":{"dtype":"F6_E3M2","shape":[4],"data_offsets":[0,3]},)"
                         R"("f4":{"dtype":"F4","shape":[2,2],"data_offsets":[3,5]}})";
    auto catalog = amn::open_model(tmp.write("subbyte.safetensors", st_bytes(header, "12345")));
    REQUIRE(catalog.tensors.size() == 2);
    CHECK(catalog.tensors[0].nbytes == 3);
    CHECK(catalog.tensors[1].nbytes == 2);
  }
  SUBCASE("escaped names and -0 dims") {
    std::string header = R"({"a\"\\\u00e9\n":{"dtype":"U8","shape":[-0],"data_offsets":[0,0]}})";
    auto catalog = amn::open_model(tmp.write("escaped.safetensors", st_bytes(header, "")));
    REQUIRE(catalog.tensors.size() == 1);
    CHECK(catalog.tensors[0].name == "a\"\\\xc3\xa9\n");
  }
}

TEST_CASE("safetensors: caps from Limits") {
  const amn::test::TempDir tmp("safetensors");
  std::string header = R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                       R"("b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})";
  std::string path = tmp.write("two.safetensors", st_bytes(header, "xy"));
  auto refused_with = [&](const amn::Limits& limits) -> std::string {
    try {
      (void)amn::formats::read_safetensors(path, limits);
    } catch (const amn::Error& error) {
      CHECK(error.code() == amn::ErrorCode::Limit);
      return error.what();
    }
    return "accepted";
  };
  amn::Limits limits;
  limits.max_items = 1;
  CHECK(refused_with(limits).find("more than 1 tensors") != std::string::npos);
  limits = {};
  limits.max_header_bytes = 16;
  CHECK(refused_with(limits).find("above the cap of 16") != std::string::npos);
  limits = {};
  limits.max_name = 0;
  CHECK(refused_with(limits).find("tensor name of 1 bytes") != std::string::npos);
  limits = {};
  limits.max_dims = 0;
  CHECK(refused_with(limits).find("shape: more than 0 dims") != std::string::npos);
}

TEST_CASE("safetensors index: malformed or lying indexes are refused") {
  const amn::test::TempDir tmp("safetensors");
  fs::path sharded = kFixtures / "sharded";
  for (const char* shard : {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}) {
    fs::copy_file(sharded / shard, tmp / shard);
  }
  auto index_error = [&](const std::string& json) -> std::string {
    std::string path = tmp.write("model.safetensors.index.json", json);
    try {
      (void)amn::open_model(path);
    } catch (const amn::Error& error) {
      CHECK(error.code() == amn::ErrorCode::Parse);
      return error.what();
    }
    return "accepted";
  };
  const std::string shard1 = "\"model-00001-of-00002.safetensors\"";
  const std::string shard2 = "\"model-00002-of-00002.safetensors\"";
  std::string all_four = R"("embed.weight":)" + shard1 + R"(,"layers.0.attn.weight":)" + shard1 +
                         R"(,"layers.1.attn.weight":)" + shard2 + R"(,"lm_head.weight":)" + shard2;
  CHECK(index_error(R"({"metadata":{"total_size":96,"x":[[{}]]},"weight_map":{)" + all_four + "}}") == "accepted");
  CHECK(index_error(R"({"metadata":{}})").find("weight_map: missing") != std::string::npos);
  CHECK(index_error(R"({"weight_map":[]})").find("weight_map: must be an object") != std::string::npos);
  CHECK(index_error(R"({"weight_map":{}})").find("weight_map: lists no tensors") != std::string::npos);
  CHECK(index_error(R"({"weight_map":{"a":1}})").find("weight_map: tensor 'a': shard must be a string") !=
        std::string::npos);
  CHECK(index_error(R"({"weight_map":{"a":"../model-00001-of-00002.safetensors"}})").find("is not a plain file name") !=
        std::string::npos);
  CHECK(index_error(R"({"weight_map":{"a":"/etc/passwd"}})").find("is not a plain file name") != std::string::npos);
  CHECK(index_error(R"({"weight_map":{"a":"sub/x.safetensors"}})").find("is not a plain file name") !=
        std::string::npos);
  CHECK(index_error(R"({"weight_map":{)" + all_four + R"(,"embed.weight":)" + shard1 + "}}")
            .find("weight_map: duplicate tensor 'embed.weight'") != std::string::npos);
  CHECK(index_error(R"({"weight_map":{"embed.weight":)" + shard2 + R"(,"lm_head.weight":)" + shard1 + "}}")
            .find("weight_map: tensor 'embed.weight' is listed in") != std::string::npos);
  CHECK(index_error(R"({"weight_map":{"ghost":)" + shard1 + "}}")
            .find("weight_map: tensor 'ghost' is not in its shard") != std::string::npos);
  CHECK(index_error(R"({"weight_map":{"a":)" + shard1 + "}} x").find("data after the JSON object") !=
        std::string::npos);
}

TEST_CASE("safetensors writer: the planned layout reads back through the reader") {
  std::vector<amn::formats::OutTensor> tensors(4);
  tensors[0] = {"w \"quoted\" \\ é\n", amn::DType::BF16, {2, 3}, 12, 0};
  tensors[1] = {"scalar", amn::DType::F32, {}, 4, 0};
  tensors[2] = {"empty", amn::DType::I64, {0, 4}, 0, 0};
  tensors[3] = {"f4", amn::DType::F4, {2, 3}, 3, 0};
  std::vector<amn::MetaEntry> metadata(7);
  metadata[0] = {"format", {amn::MetaType::String, amn::MetaType::U8, std::string("pt")}};
  metadata[1] = {"count", {amn::MetaType::U32, amn::MetaType::U8, uint64_t{42}}};
  metadata[2] = {"delta", {amn::MetaType::I64, amn::MetaType::U8, int64_t{-7}}};
  metadata[3] = {"eps", {amn::MetaType::F32, amn::MetaType::U8, static_cast<double>(0.1f)}};
  metadata[4] = {"flag", {amn::MetaType::Bool, amn::MetaType::U8, true}};
  const amn::MetaValue quote{amn::MetaType::String, amn::MetaType::U8, std::string("a\"b")};
  const amn::MetaValue accent{amn::MetaType::String, amn::MetaType::U8, std::string("é")};
  metadata[5] = {"tokens", {amn::MetaType::Array, amn::MetaType::String, std::vector<amn::MetaValue>{quote, accent}}};
  metadata[6] = {"ids", {amn::MetaType::Array, amn::MetaType::I32,
                         std::vector<amn::MetaValue>{{amn::MetaType::I32, amn::MetaType::U8, int64_t{1}},
                                                     {amn::MetaType::I32, amn::MetaType::U8, int64_t{-2}}}}};
  auto layout = amn::formats::layout_safetensors(tensors, metadata);
  CHECK(layout.header.size() % 8 == 0);
  CHECK(layout.file_size == layout.header.size() + 12 + 4 + 0 + 3);
  CHECK(tensors[0].offset == layout.header.size());
  CHECK(tensors[1].offset == layout.header.size() + 12);
  CHECK(tensors[3].offset == layout.header.size() + 16);

  const amn::test::TempDir tmp("safetensors");
  std::string file(reinterpret_cast<const char*>(layout.header.data()), layout.header.size());
  file.resize(layout.file_size, '\x5a');
  std::string path = tmp.write("out.safetensors", file);
  amn::Catalog catalog = amn::open_model(path);
  REQUIRE(catalog.tensors.size() == 4);
  CHECK(catalog.storages[0].offset == layout.header.size());
  for (const auto& tensor : tensors) {
    CAPTURE(tensor.name);
    auto found = std::find_if(catalog.tensors.begin(), catalog.tensors.end(),
                              [&](const amn::Tensor& read) { return read.name == tensor.name; });
    REQUIRE(found != catalog.tensors.end());
    CHECK(found->dtype == tensor.dtype);
    CHECK(found->shape == tensor.shape);
    CHECK(found->nbytes == tensor.nbytes);
    CHECK(catalog.storages[0].offset + found->byte_offset == tensor.offset);
  }
  // Typed values come back with their types (formats/typed_metadata.hpp): strings as they are.
  REQUIRE(catalog.metadata.size() == metadata.size());
  for (size_t entry_idx = 0; entry_idx < metadata.size(); ++entry_idx) {
    const auto& read = catalog.metadata[entry_idx];
    CAPTURE(read.key);
    CHECK(read.key == metadata[entry_idx].key);
    CHECK(read.value.type == metadata[entry_idx].value.type);
    if (read.value.type == amn::MetaType::Array) CHECK(read.value.elem_type == metadata[entry_idx].value.elem_type);
    CHECK(amn::formats::gguf_value_bytes(read.value, read.key) == amn::formats::gguf_value_bytes(metadata[entry_idx].value, read.key));
  }
  CHECK(file.find(R"("count":"gguf:u32:42","delta":"gguf:i64:-7","eps":"gguf:f32:0.1","flag":"gguf:bool:true")") !=
        std::string::npos);
  CHECK(catalog.metadata.front().key == "format");

  SUBCASE("no metadata, no tensors: the smallest file") {
    std::vector<amn::formats::OutTensor> none;
    auto empty = amn::formats::layout_safetensors(none, {});
    std::string header(reinterpret_cast<const char*>(empty.header.data()) + 8, empty.header.size() - 8);
    CHECK(header == "{}      ");
    CHECK(empty.file_size == 16);
  }
}

TEST_CASE("safetensors writer: what a safetensors file cannot hold is refused") {
  auto refuse = [](amn::formats::OutTensor tensor, amn::ErrorCode code, const char* fragment) {
    std::vector<amn::formats::OutTensor> tensors{std::move(tensor)};
    CHECK_THROWS_WITH_AS(amn::formats::layout_safetensors(tensors, {}), doctest::Contains(fragment), amn::Error);
    try {
      (void)amn::formats::layout_safetensors(tensors, {});
    } catch (const amn::Error& error) {
      CHECK(error.code() == code);
    }
  };
  refuse({"q", amn::DType::Q4_K, {256}, 144, 0}, amn::ErrorCode::Unsupported, "dtype Q4_K cannot be stored");
  refuse({"odd", amn::DType::F4, {3}, 2, 0}, amn::ErrorCode::Unsupported, "whole, representable byte size");
  refuse({"bad", amn::DType::F32, {2}, 4, 0}, amn::ErrorCode::Usage, "nbytes 4 disagrees");
  refuse({"\xff\xfe", amn::DType::U8, {1}, 1, 0}, amn::ErrorCode::Unsupported, "is not valid UTF-8");
  refuse({"__metadata__", amn::DType::U8, {1}, 1, 0}, amn::ErrorCode::Usage, "reserved");
}
