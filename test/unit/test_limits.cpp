// Covers amn::Limits and the heap budget (docs/security.md): caps only tighten, max_alloc and
// max_total refuse naming file and field, one budget spans every shard of an open, the pickle VM
// charges its working set; and pickles whose sharing once made the .pth walk quadratic
// (hostile-inputs.md case 52: a container filled after it was shared) now open in linear time.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "amn/amn.hpp"
#include "formats/formats.hpp"
#include "formats/pickle.hpp"
#include "io/budget.hpp"
#include "unit/stored_zip.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = fs::path(AMN_SOURCE_DIR) / "test" / "fixtures";
/// Far above what the linear walk needs, far below what the quadratic one took (hours).
constexpr double kLinearSeconds = 10.0;

/// Runs `body`, expecting an amn::Error of `code` whose message holds every fragment.
template <class Body>
void refuses(Body&& body, amn::ErrorCode code, std::initializer_list<std::string> fragments) {
  try {
    body();
    FAIL("accepted");
  } catch (const amn::Error& error) {
    std::string message = error.what();
    CAPTURE(message);
    CHECK(error.code() == code);
    for (const auto& fragment : fragments) CHECK(message.find(fragment) != std::string::npos);
  }
}

/// Bytes the heap budget is charged for opening `path` with the default caps.
uint64_t charged_for(const std::string& path) {
  amn::io::HeapBudget outer{amn::Limits{}};
  (void)amn::open_model(path);
  return amn::io::HeapBudget::used();
}

// ---- pickle assembly (Lib/pickletools.py opcodes) ----------------------------------------------

/// `opcode` followed by a little-endian u32 operand (appended, not concatenated: GCC 12 warns
/// falsely on `"J" + std::string`).
std::string with_u32(char opcode, uint32_t value) {
  std::string out(1, opcode);
  out.append(reinterpret_cast<const char*>(&value), sizeof(value));
  return out;
}
/// The parts, concatenated.
std::string cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view part : parts) out += part;
  return out;
}
std::string unicode(const std::string& text) { return with_u32('X', static_cast<uint32_t>(text.size())).append(text); }
std::string global(const std::string& module, const std::string& name) { return cat({"c", module, "\n", name, "\n"}); }
std::string binint(int32_t value) { return with_u32('J', static_cast<uint32_t>(value)); }
std::string put(uint32_t slot) { return with_u32('r', slot); }
std::string get(uint32_t slot) { return with_u32('j', slot); }
const std::string kProto2 = "\x80\x02";

/// A torch archive holding `pickle` as archive/data.pkl and 16 bytes as storage "0", written to
/// a temporary file.
fs::path write_archive(const amn::test::TempDir& dir, const std::string& name, const std::string& pickle) {
  const std::string storage(16, '\0');
  return dir.write(name, amn::test::stored_zip(
                             {{"archive/data.pkl", pickle}, {"archive/byteorder", "little"}, {"archive/data/0", storage}}));
}

double seconds_to_open(const fs::path& path, amn::Catalog& catalog) {
  auto start = std::chrono::steady_clock::now();
  catalog = amn::open_model(path.string());
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("Limits::tightened lowers caps and never raises them") {
  amn::Limits request;
  request.max_alloc = 1 << 20;
  request.max_total = 1ull << 62;  // above the ceiling: ignored
  request.max_depth = 10;
  const amn::Limits out = amn::Limits{}.tightened(request);
  CHECK(out.max_alloc == 1 << 20);
  CHECK(out.max_total == amn::Limits{}.max_total);
  CHECK(out.max_depth == 10);
  CHECK(out.max_items == amn::Limits{}.max_items);
}

TEST_CASE("open_model enforces a tightened max_alloc and max_total, naming file and field") {
  const std::string gguf = (kFixtures / "gguf" / "types.gguf").string();
  amn::Limits small_total;
  small_total.max_total = 1024;
  refuses([&] { (void)amn::open_model(gguf, small_total); }, amn::ErrorCode::Limit, {gguf, "max_total", "1024"});

  const std::string safetensors = (kFixtures / "safetensors" / "dtypes.safetensors").string();
  amn::Limits small_alloc;
  small_alloc.max_alloc = 64;
  refuses([&] { (void)amn::open_model(safetensors, small_alloc); }, amn::ErrorCode::Limit, {safetensors, "header"});

  // A request above the ceiling is clamped, so the defaults still apply.
  amn::Limits huge;
  huge.max_alloc = ~uint64_t{0};
  CHECK(amn::open_model(gguf, huge).tensors.size() == amn::open_model(gguf).tensors.size());
}

TEST_CASE("one heap budget spans every shard of an open") {
  const fs::path dir = kFixtures / "safetensors" / "sharded";
  const uint64_t first = charged_for((dir / "model-00001-of-00002.safetensors").string());
  const uint64_t second = charged_for((dir / "model-00002-of-00002.safetensors").string());
  const uint64_t whole = charged_for(dir.string());
  CHECK(first > 0);
  CHECK(whole >= first + second);
  amn::Limits limits;
  limits.max_total = std::max(first, second) + 1;  // enough for either shard, not for both
  refuses([&] { (void)amn::open_model(dir.string(), limits); }, amn::ErrorCode::Limit, {"max_total"});
}

TEST_CASE("charges outside an open check nothing; nested budgets share the outer total") {
  CHECK(amn::io::HeapBudget::used() == 0);
  amn::io::charge("f", ~uint64_t{0}, "ignored");  // no budget: nothing to check
  amn::Limits limits;
  limits.max_total = 100;
  amn::io::HeapBudget outer(limits);
  amn::io::charge("f", 60, "first");
  {
    amn::io::HeapBudget inner{amn::Limits{}};  // not current: the outer one keeps counting
    refuses([] { amn::io::charge("f", 60, "second"); }, amn::ErrorCode::Limit, {"f: second", "max_total", "100"});
  }
  CHECK(amn::io::HeapBudget::used() == 60);
}

TEST_CASE("the pickle VM charges its object table, stacks and memo") {
  amn::Limits tight;
  tight.max_alloc = 1 << 20;
  std::string appended = cat({kProto2, "]("});
  for (int list_idx = 0; list_idx < 100'000; ++list_idx) appended += "]";
  appended += "e.";  // a list of 100k empty lists: about 10 MB of objects
  auto appended_bytes = std::as_bytes(std::span(appended.data(), appended.size()));
  refuses([&] { (void)amn::formats::pickle::unpickle(appended_bytes, "t.pth", "archive/data.pkl", tight); },
          amn::ErrorCode::Limit, {"t.pth: archive/data.pkl: ", "pickle working set exceeds 1048576 bytes"});
  CHECK(amn::formats::pickle::unpickle(appended_bytes, "t.pth", "archive/data.pkl", amn::Limits{})
            .root_object()
            .items.size() == 100'000);
  amn::Limits small_total;
  small_total.max_total = 1 << 20;
  amn::io::HeapBudget budget(small_total);
  refuses([&] { (void)amn::formats::pickle::unpickle(appended_bytes, "t.pth", "archive/data.pkl", amn::Limits{}); },
          amn::ErrorCode::Limit, {"t.pth", "pickle working set", "max_total"});
}

TEST_CASE("a list shared by many entries and filled afterwards is scanned once") {
  // {"0": L, "1": L, ...} with L = [] memoised, then L gets a million Nones: the walk used to
  // scan L once per entry.
  constexpr int kEntries = 200'000;
  constexpr int kItems = 1'000'000;
  std::string pickle = cat({kProto2, "]", put(0), "0}("});
  for (int entry = 0; entry < kEntries; ++entry) pickle += cat({unicode(std::to_string(entry)), get(0)});
  pickle += cat({"u", get(0), "(", std::string(kItems, 'N'), "e0."});
  const amn::test::TempDir dir("limits");
  fs::path path = write_archive(dir, "shared-list.pth", pickle);
  amn::Catalog catalog;
  CHECK(seconds_to_open(path, catalog) < kLinearSeconds);
  REQUIRE(catalog.extras.size() == kEntries);
  CHECK(catalog.extras[1].second == "list[1000000]");
}

TEST_CASE("a metadata dict shared by many tensors and filled afterwards is checked once") {
  // Every tensor's _rebuild_tensor_v2 metadata is one memoised dict that only afterwards gets a
  // million False: False pairs: the walk used to check it once per tensor.
  constexpr int kTensors = 100'000;
  constexpr int kPairs = 1'000'000;
  const std::string pid = cat({"(", unicode("storage"), global("torch", "FloatStorage"), unicode("0"), unicode("cpu"),
                                binint(4), "tQ"});
  std::string pickle = cat({kProto2, "}", put(0), "0", pid, put(1), "0", global("torch._utils", "_rebuild_tensor_v2"),
                            put(2), "0", binint(4), "\x85", put(3), "0", binint(1), "\x85", put(4), "0}("});
  for (int tensor = 0; tensor < kTensors; ++tensor) {
    pickle += cat({unicode(std::to_string(tensor)), get(2), "(", get(1), binint(0), get(3), get(4), "\x89N", get(0), "tR"});
  }
  pickle += cat({"u", get(0), "("});
  for (int pair = 0; pair < kPairs; ++pair) pickle += "\x89\x89";
  pickle += "u0.";
  const amn::test::TempDir dir("limits");
  fs::path path = write_archive(dir, "shared-metadata.pth", pickle);
  amn::Catalog catalog;
  CHECK(seconds_to_open(path, catalog) < kLinearSeconds);
  CHECK(catalog.tensors.size() == kTensors);
}

TEST_CASE("a tensor reached twice (tied weights) is two tensors over one storage") {
  const std::string pid = cat({"(", unicode("storage"), global("torch", "FloatStorage"), unicode("0"), unicode("cpu"),
                                binint(4), "tQ"});
  const std::string tensor = cat({global("torch._utils", "_rebuild_tensor_v2"), "(", pid, binint(0), binint(4), "\x85",
                                  binint(1), "\x85", "\x89N", "tR"});
  const std::string pickle = cat({kProto2, "}(", unicode("a"), tensor, put(0), unicode("b"), get(0), "u."});
  const amn::test::TempDir dir("limits");
  fs::path path = write_archive(dir, "tied.pth", pickle);
  amn::Catalog catalog = amn::open_model(path.string());
  REQUIRE(catalog.tensors.size() == 2);
  CHECK(catalog.tensors[0].name == "a");
  CHECK(catalog.tensors[1].name == "b");
  CHECK(catalog.tensors[1].storage == catalog.tensors[0].storage);
  CHECK(catalog.tensors[1].shape == std::vector<int64_t>{4});
}
