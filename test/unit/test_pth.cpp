// Covers the PyTorch reader (torch.save ZIP archives: data.pkl, data/<key>, byteorder; torch's
// _rebuild_tensor_v2/v3 and _rebuild_parameter) on fixtures torch wrote
// (test/fixtures/gen/gen_pth.py): names, dtypes, shapes and the logical bytes torch gave.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "amn/amn.hpp"
#include "io/tensor_data.hpp"

namespace fs = std::filesystem;

namespace {

fs::path fixture(const std::string& name) { return fs::path(AMN_SOURCE_DIR) / "test" / "fixtures" / "pth" / name; }

struct Expected {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  uint64_t offset = 0;
  uint64_t nbytes = 0;
};

std::vector<Expected> read_expected(const std::string& stem) {
  std::ifstream tsv(fixture(stem + ".expect.tsv"));
  REQUIRE(tsv);
  std::vector<Expected> rows;
  std::string line;
  while (std::getline(tsv, line)) {
    std::istringstream fields(line);
    Expected row;
    std::string shape, offset, nbytes;
    std::getline(fields, row.name, '\t');
    std::getline(fields, row.dtype, '\t');
    std::getline(fields, shape, '\t');
    std::getline(fields, offset, '\t');
    std::getline(fields, nbytes);
    std::istringstream dims(shape);
    for (std::string dim; std::getline(dims, dim, ',');) row.shape.push_back(std::stoll(dim));
    row.offset = std::stoull(offset);
    row.nbytes = std::stoull(nbytes);
    rows.push_back(row);
  }
  return rows;
}

const amn::Tensor& find(const amn::Catalog& catalog, const std::string& name) {
  for (const auto& tensor : catalog.tensors) {
    if (tensor.name == name) return tensor;
  }
  FAIL("no tensor " << name);
  throw;
}

/// Opens `file` and checks every tensor against `stem`.expect.{tsv,bin} (torch's own bytes).
amn::Catalog check_against_torch(const std::string& file, const std::string& stem,
                                 const amn::TensorSelection& selection = {}) {
  amn::Catalog catalog = amn::open_model(fixture(file).string(), {}, selection);
  CHECK(catalog.format == amn::Format::Pth);
  std::ifstream blob_file(fixture(stem + ".expect.bin"), std::ios::binary);
  std::vector<char> blob((std::istreambuf_iterator<char>(blob_file)), std::istreambuf_iterator<char>());
  auto rows = read_expected(stem);
  CHECK(catalog.tensors.size() == rows.size());
  amn::io::TensorData data(catalog, amn::Limits{});
  for (const auto& row : rows) {
    CAPTURE(row.name);
    const amn::Tensor& tensor = find(catalog, row.name);
    CHECK(amn::info(tensor.dtype).name == row.dtype);
    CHECK(tensor.shape == row.shape);
    CHECK(tensor.nbytes == row.nbytes);
    size_t index = static_cast<size_t>(&tensor - catalog.tensors.data());
    std::vector<std::byte> bytes = data.read_all(index);
    REQUIRE(bytes.size() == row.nbytes);
    if (row.nbytes > 0) CHECK(std::memcmp(bytes.data(), blob.data() + row.offset, row.nbytes) == 0);  // memcmp(nullptr, ...) is UB
  }
  return catalog;
}

void refused(const std::string& file, amn::ErrorCode code, const std::string& fragment) {
  try {
    (void)amn::open_model(fixture(file).string());
    FAIL("accepted " << file);
  } catch (const amn::Error& error) {
    std::string message = error.what();
    CAPTURE(message);
    CHECK(error.code() == code);
    CHECK(message.find(file) != std::string::npos);
    CHECK(message.find(fragment) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("pth: every dtype torch.save writes and safetensors holds") {
  amn::Catalog catalog = check_against_torch("dtypes.pth", "dtypes");
  CHECK(catalog.description == "PyTorch state_dict");
  CHECK(catalog.extras.empty());
  CHECK(catalog.storages.size() == catalog.tensors.size());
  for (const auto& tensor : catalog.tensors) CHECK(tensor.contiguous_le());
}

TEST_CASE("pth: views, offsets, tied storages, 0-d, empty and Parameters") {
  amn::Catalog catalog = check_against_torch("layouts.pth", "layouts");
  const amn::Tensor& offset_view = find(catalog, "offset_view");
  CHECK(offset_view.byte_offset == 5 * 4);
  CHECK(offset_view.strides.empty());
  CHECK(find(catalog, "transposed").strides == std::vector<int64_t>{1, 6});
  CHECK(find(catalog, "strided").strides == std::vector<int64_t>{6, 2});
  CHECK(find(catalog, "strided").byte_offset == 6 * 4);
  // tied weights name one storage, which appears once
  CHECK(find(catalog, "tied_a").storage == find(catalog, "tied_b").storage);
  CHECK(find(catalog, "tied_row").storage == find(catalog, "tied_a").storage);
  CHECK(find(catalog, "tied_row").byte_offset == 8 * 2);
  CHECK(find(catalog, "transposed").storage == offset_view.storage);
  CHECK(catalog.storages.size() == 7);
  CHECK(find(catalog, "scalar").shape.empty());
  CHECK(find(catalog, "empty").nbytes == 0);
}

TEST_CASE("pth: a checkpoint wrapping its state dict gives the state dict's names and describes its other values") {
  amn::Catalog catalog = check_against_torch("checkpoint.pt", "checkpoint");
  CHECK(catalog.description == "PyTorch checkpoint: the state dict under 'model'");
  std::vector<std::pair<std::string, std::string>> expected = {
      {"epoch", "int 3"},          {"optimizer_name", "str 'adam'"}, {"lr", "float 0.001"},
      {"betas", "tuple[2]"},       {"history", "list[2]"},           {"extra.seen", "None"},
      {"extra.done", "bool True"}, {"extra.note", "bytes[2]"},
  };
  CHECK(catalog.extras == expected);
}

TEST_CASE("pth: an optimizer checkpoint at pickle protocol 5 (int keys, lists of dicts)") {
  amn::Catalog catalog = check_against_torch("optimizer.pt", "optimizer");
  CHECK(check_against_torch("optimizer.pt", "optimizer", {"", "model."}).tensors.size() == 4);  // nothing to strip
  amn::Catalog whole = amn::open_model(fixture("optimizer.pt").string(), {}, {"optimizer", ""});
  CHECK(find(whole, "state.0.exp_avg").shape == std::vector<int64_t>{2, 3});
  auto has_extra = [&](const std::string& name, const std::string& description) {
    return std::find(catalog.extras.begin(), catalog.extras.end(), std::pair{name, description}) != catalog.extras.end();
  };
  CHECK(has_extra("optimizer.param_groups.0.lr", "float 0.01"));
  CHECK(has_extra("optimizer.param_groups.0.params", "list[4]"));
}

TEST_CASE("pth: a container reached twice (shared or a cycle) is walked once") {
  amn::Catalog catalog = check_against_torch("shared.pth", "shared");
  std::vector<std::pair<std::string, std::string>> expected = {
      {"b", "dict[1] (the same object as 'a')"},
      {"self", "dict[3] (the same object as the top level)"},
  };
  CHECK(catalog.extras == expected);
}

TEST_CASE("pth: the archive prefix is the saved file's stem") {
  amn::Catalog catalog = check_against_torch("mymodel.pt", "mymodel");
  CHECK(catalog.storages.size() == 2);
}

TEST_CASE("pth: byteorder 'big' archives are byte-swapped (case 58)") {
  amn::Catalog catalog = check_against_torch("bigendian.pth", "bigendian");
  for (const auto& tensor : catalog.tensors) CHECK(tensor.byte_order == amn::ByteOrder::Big);
  CHECK(find(catalog, "f32_t").storage == find(catalog, "f32").storage);
}

TEST_CASE("pth: pre-1.6 and TorchScript archives are refused by name (case 57)") {
  refused("legacy.pth", amn::ErrorCode::Unsupported, "pre-1.6 legacy format");
  refused("torchscript.pt", amn::ErrorCode::Unsupported, "TorchScript archive");
}

// Wrapped state dicts: the expectations are what torch's load_state_dict(strict=True) accepted
// (gen_pth.py).
TEST_CASE("pth: one state dict under a conventional key is read under its own names") {
  for (const auto& [file, stem, key] : {std::tuple{"wrap_state_dict.pt", "wrap_state_dict", "state_dict"},
                                        std::tuple{"wrap_module.pt", "wrap_module", "module"},
                                        std::tuple{"ema_only.pt", "ema_only", "ema"},
                                        std::tuple{"lightning.ckpt", "lightning", "state_dict"}}) {
    CAPTURE(std::string(file));
    amn::Catalog catalog = check_against_torch(file, stem);
    CHECK(catalog.description == std::string("PyTorch checkpoint: the state dict under '") + key + "'");
  }
  amn::Catalog lightning = check_against_torch("lightning.ckpt", "lightning");
  auto has_extra = [&](const std::string& name, const std::string& description) {
    return std::find(lightning.extras.begin(), lightning.extras.end(), std::pair{name, description}) != lightning.extras.end();
  };
  CHECK(has_extra("epoch", "int 2"));
  CHECK(has_extra("pytorch-lightning_version", "str '2.4.0'"));
  CHECK(has_extra("optimizer_states", "holds 12 tensor(s), left out (not the state dict)"));
  check_against_torch("lightning.ckpt", "lightning_strip", {"", "model."});
}

TEST_CASE("pth: two state dicts are read whole; --select picks one") {
  CHECK(check_against_torch("ema.pt", "ema").description ==
        "PyTorch checkpoint: state dicts under 'model' and 'model_ema' (read one with --select KEY)");
  amn::Catalog chosen = check_against_torch("ema.pt", "ema_select", {"model_ema", ""});
  CHECK(chosen.extras == std::vector<std::pair<std::string, std::string>>{
                             {"model", "holds 4 tensor(s), left out (not the state dict)"}});
  CHECK_THROWS_WITH_AS((void)amn::open_model(fixture("ema.pt").string(), {}, {"teacher", ""}),
                       doctest::Contains("--select 'teacher' names no tensors (top-level keys holding tensors: 'model', "
                                         "'model_ema')"),
                       amn::Error);
}

TEST_CASE("pth: a DistributedDataParallel state dict keeps its names; --strip-prefix removes module.") {
  CHECK(check_against_torch("ddp.pt", "ddp").description == "PyTorch state_dict");
  check_against_torch("ddp.pt", "ddp_strip", {"", "module."});
  CHECK_THROWS_WITH_AS((void)amn::open_model(fixture("ddp.pt").string(), {}, {"", "module.0.weight"}),
                       doctest::Contains("leaves tensor 'module.0.weight' without a name"), amn::Error);
}
