// Covers GGUF v2/v3 (ggml docs/gguf.md): typed metadata, tensor infos, alignment, split sets, and
// the writer layout. Expected values come from gguf-py (test/fixtures/gen/gen_gguf.py) and ggml.
#include <doctest/doctest.h>
#include <rapidjson/document.h>


#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "amn/amn.hpp"
#include "formats/formats.hpp"
#include "io/tensor_data.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = fs::path(AMN_SOURCE_DIR) / "test" / "fixtures" / "gguf";

rapidjson::Document load_expected() {
  std::ifstream in(kFixtures / "expected.json");
  std::stringstream text;
  text << in.rdbuf();
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseFullPrecisionFlag>(text.str().c_str());
  REQUIRE_FALSE(doc.HasParseError());
  return doc;
}

/// Checks one metadata value against gguf-py's `field.contents()`.
void check_value(const amn::MetaValue& value, amn::MetaType type, const rapidjson::Value& expected) {
  using amn::MetaType;
  REQUIRE(value.type == type);
  switch (type) {
    case MetaType::U8: case MetaType::U16: case MetaType::U32: case MetaType::U64:
      CHECK(std::get<uint64_t>(value.value) == expected.GetUint64());
      break;
    case MetaType::I8: case MetaType::I16: case MetaType::I32: case MetaType::I64:
      CHECK(std::get<int64_t>(value.value) == expected.GetInt64());
      break;
    case MetaType::F32: case MetaType::F64:
      CHECK(std::get<double>(value.value) == expected.GetDouble());
      break;
    case MetaType::Bool: CHECK(std::get<bool>(value.value) == expected.GetBool()); break;
    case MetaType::String:
      CHECK(std::get<std::string>(value.value) == std::string(expected.GetString(), expected.GetStringLength()));
      break;
    case MetaType::Array: {
      const auto& elems = std::get<std::vector<amn::MetaValue>>(value.value);
      REQUIRE(elems.size() == expected.Size());
      for (size_t idx = 0; idx < elems.size(); ++idx) check_value(elems[idx], value.elem_type, expected[idx]);
      break;
    }
  }
}

void check_metadata(const amn::Catalog& catalog, const rapidjson::Value& expected) {
  const auto& entries = expected["metadata"];
  REQUIRE(catalog.metadata.size() == entries.Size());
  for (size_t idx = 0; idx < entries.Size(); ++idx) {
    const auto& entry = catalog.metadata[idx];
    CAPTURE(entry.key);
    CHECK(entry.key == entries[idx]["key"].GetString());
    auto type = static_cast<amn::MetaType>(entries[idx]["type"].GetUint());
    if (type == amn::MetaType::Array) {
      CHECK(static_cast<unsigned>(entry.value.elem_type) == entries[idx]["elem_type"].GetUint());
    }
    check_value(entry.value, type, entries[idx]["value"]);
  }
}

/// Checks tensors [first, first + n) of `catalog` against one file's expected tensors.
void check_tensors(const amn::Catalog& catalog, size_t first, const rapidjson::Value& expected) {
  const auto& tensors = expected["tensors"];
  std::string file = (kFixtures / expected["file"].GetString()).string();
  REQUIRE(catalog.tensors.size() >= first + tensors.Size());
  for (size_t idx = 0; idx < tensors.Size(); ++idx) {
    const auto& tensor = catalog.tensors[first + idx];
    const auto& want = tensors[idx];
    CAPTURE(tensor.name);
    CHECK(tensor.name == want["name"].GetString());
    CHECK(amn::info(tensor.dtype).gguf_id == want["type"].GetInt());
    CHECK(amn::info(tensor.dtype).name == want["type_name"].GetString());
    std::vector<int64_t> shape;
    for (const auto& dim : want["shape"].GetArray()) shape.push_back(dim.GetInt64());
    CHECK(tensor.shape == shape);
    CHECK(tensor.nbytes == want["nbytes"].GetUint64());
    const auto& storage = catalog.storages.at(tensor.storage);
    CHECK(catalog.files.at(storage.file_index) == file);
    CHECK(storage.offset + tensor.byte_offset == want["offset"].GetUint64());
    CHECK(tensor.contiguous_le());
  }
}

bool same_value(const amn::MetaValue& lhs, const amn::MetaValue& rhs) {
  if (lhs.type != rhs.type || lhs.value.index() != rhs.value.index()) return false;
  return std::visit(
      [&](const auto& held) {
        using Held = std::decay_t<decltype(held)>;
        const auto& other = std::get<Held>(rhs.value);
        if constexpr (std::is_same_v<Held, std::vector<amn::MetaValue>>) {
          return lhs.elem_type == rhs.elem_type &&
                 std::equal(held.begin(), held.end(), other.begin(), other.end(), same_value);
        } else {
          return held == other;
        }
      },
      lhs.value);
}

amn::MetaValue u32_value(uint64_t number) { return amn::MetaValue{amn::MetaType::U32, amn::MetaType::U8, number}; }

/// Writes `catalog`'s tensors with layout_gguf into `path`; returns the layout's tensors.
std::vector<amn::formats::OutTensor> write_gguf(const amn::Catalog& catalog, const std::vector<amn::MetaEntry>& metadata,
                                                const fs::path& path) {
  std::vector<amn::formats::OutTensor> out;
  for (const auto& tensor : catalog.tensors) out.push_back({tensor.name, tensor.dtype, tensor.shape, tensor.nbytes, 0});
  auto layout = amn::formats::layout_gguf(out, metadata);
  std::vector<std::byte> file(layout.file_size);
  std::copy(layout.header.begin(), layout.header.end(), file.begin());
  amn::io::TensorData data(catalog, amn::Limits{});
  for (size_t idx = 0; idx < out.size(); ++idx) {
    auto bytes = data.read_all(idx);
    REQUIRE(out[idx].offset + bytes.size() <= file.size());
    std::copy(bytes.begin(), bytes.end(), file.begin() + static_cast<std::ptrdiff_t>(out[idx].offset));
  }
  std::ofstream stream(path, std::ios::binary);
  stream.write(reinterpret_cast<const char*>(file.data()), static_cast<std::streamsize>(file.size()));
  return out;
}

}  // namespace

TEST_CASE("GGUF files written by gguf-py read as gguf-py's GGUFReader reports them") {
  auto expected = load_expected();
  for (const auto& want : expected["files"].GetArray()) {
    std::string path = (kFixtures / want["file"].GetString()).string();
    CAPTURE(path);
    auto catalog = amn::open_model(path);
    CHECK(catalog.format == amn::Format::Gguf);
    CHECK(catalog.gguf_version == want["version"].GetUint());
    CHECK(catalog.gguf_alignment == want["alignment"].GetUint());
    CHECK(catalog.description == "GGUF v" + std::to_string(want["version"].GetUint()));
    CHECK(catalog.tensors.size() == want["tensors"].Size());
    CHECK(catalog.storages.size() == (catalog.tensors.empty() ? 0u : 1u));
    check_metadata(catalog, want);
    check_tensors(catalog, 0, want);
  }
}

TEST_CASE("a GGUF split set opens as one catalog from any of its files") {
  auto expected = load_expected();
  const auto& parts = expected["split"];
  for (const auto& opened : parts.GetArray()) {
    auto catalog = amn::open_model((kFixtures / opened["file"].GetString()).string());
    REQUIRE(catalog.files.size() == parts.Size());
    CHECK(catalog.description == "GGUF v3, 3 shards");
    check_metadata(catalog, parts[0]);
    size_t first = 0;
    for (const auto& part : parts.GetArray()) {
      check_tensors(catalog, first, part);
      first += part["tensors"].Size();
    }
    CHECK(catalog.tensors.size() == first);
  }
}

TEST_CASE("ggml's all_types.gguf holds every type its manifest lists") {
  fs::path dir = fs::path(AMN_SOURCE_DIR) / "test" / "fixtures" / "ggml";
  auto catalog = amn::open_model((dir / "all_types.gguf").string());
  std::ifstream manifest(dir / "all_types.manifest.tsv");
  std::string line;
  size_t idx = 0;
  while (std::getline(manifest, line)) {
    std::istringstream fields(line);
    std::string name, type_name;
    int type_id = 0;
    int64_t rows = 0, cols = 0;
    fields >> name >> type_name >> type_id >> rows >> cols;
    REQUIRE(idx < catalog.tensors.size());
    const auto& tensor = catalog.tensors[idx++];
    CAPTURE(name);
    CHECK(tensor.name == name);
    CHECK(amn::info(tensor.dtype).gguf_id == type_id);
    CHECK(tensor.shape == std::vector<int64_t>{rows, cols});
    CHECK(tensor.nbytes == amn::byte_size(tensor.dtype, static_cast<uint64_t>(rows * cols)));
  }
  CHECK(idx == 28);
  CHECK(catalog.tensors.size() == idx);
}

TEST_CASE("layout_gguf output reads back with the same tensors, bytes and metadata") {
  auto source = amn::open_model((kFixtures / "types.gguf").string());
  std::vector<amn::MetaEntry> metadata = source.metadata;
  metadata.push_back({"general.alignment", u32_value(64)});
  metadata.push_back({"split.count", amn::MetaValue{amn::MetaType::U16, amn::MetaType::U8, uint64_t{3}}});
  const amn::test::TempDir dir("gguf");
  const fs::path path = dir / "out.gguf";
  auto out = write_gguf(source, metadata, path);
  auto back = amn::formats::read_gguf(path.string(), amn::Limits{});

  CHECK(back.gguf_version == 3);
  CHECK(back.gguf_alignment == 32);
  REQUIRE(back.metadata.size() == source.metadata.size() + 1);  // split.count dropped
  for (size_t idx = 0; idx < source.metadata.size(); ++idx) {
    CHECK(back.metadata[idx].key == source.metadata[idx].key);
    CHECK(same_value(back.metadata[idx].value, source.metadata[idx].value));
  }
  CHECK(back.metadata.back().key == "general.alignment");
  CHECK(std::get<uint64_t>(back.metadata.back().value.value) == 32);

  REQUIRE(back.tensors.size() == source.tensors.size());
  amn::io::TensorData source_data(source, amn::Limits{});
  amn::io::TensorData back_data(back, amn::Limits{});
  for (size_t idx = 0; idx < back.tensors.size(); ++idx) {
    CAPTURE(source.tensors[idx].name);
    CHECK(back.tensors[idx].name == source.tensors[idx].name);
    CHECK(back.tensors[idx].dtype == source.tensors[idx].dtype);
    CHECK(back.tensors[idx].shape == source.tensors[idx].shape);
    CHECK(back.storages[0].offset + back.tensors[idx].byte_offset == out[idx].offset);
    CHECK(out[idx].offset % 32 == 0);
    CHECK(back_data.read_all(idx) == source_data.read_all(idx));
  }
  CHECK(fs::file_size(path) % 32 == 0);
}

TEST_CASE("layout_gguf refuses what GGUF cannot hold, naming the tensor") {
  auto refuses = [](amn::formats::OutTensor tensor, const std::string& fragment) {
    std::vector<amn::formats::OutTensor> tensors{std::move(tensor)};
    try {
      (void)amn::formats::layout_gguf(tensors, {});
      FAIL("accepted");
    } catch (const amn::Error& error) {
      CHECK(error.code() == amn::ErrorCode::Unsupported);
      CHECK(std::string(error.what()).find(fragment) != std::string::npos);
    }
  };
  refuses({"mask", amn::DType::U8, {4}, 4, 0}, "tensor 'mask': dtype U8 has no GGUF type");
  refuses({std::string(64, 'n'), amn::DType::F32, {1}, 4, 0}, "name longer than");
  refuses({"deep", amn::DType::F32, {1, 1, 1, 1, 1}, 4, 0}, "tensor 'deep': more than GGUF's 4 dimensions");
}

TEST_CASE("GGUF metadata respects the caller's limits") {
  std::string path = (kFixtures / "types.gguf").string();
  amn::Limits few_items;
  few_items.max_items = 100;  // the 300-token vocabulary is more values than this
  CHECK_THROWS_WITH_AS(amn::formats::read_gguf(path, few_items), doctest::Contains("tokenizer.ggml.tokens"), amn::Error);
  amn::Limits short_strings;
  short_strings.max_string = 8;
  try {
    (void)amn::formats::read_gguf(path, short_strings);
    FAIL("accepted");
  } catch (const amn::Error& error) {
    CHECK(error.code() == amn::ErrorCode::Limit);
  }
}
