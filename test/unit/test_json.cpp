// Covers the untrusted-JSON policy (src/io/json.hpp; shared/docs/hostile-inputs.md case 63):
// iterative parsing at any nesting, the depth cap, the size cap, the heap-budget charge, trailing
// data; config.json / quantize_config.json parsed once per scheme context; and the hostile side
// files of test/hostile/json (expect_side.tsv, made by test/hostile/gen_json.py) refused by scheme
// recognition with an error naming the side file.
#include <doctest/doctest.h>


#include <filesystem>
#include <fstream>
#include <string>

#include "io/budget.hpp"
#include "io/json.hpp"
#include "scheme_fixtures.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;

namespace {

constexpr size_t kMillion = 1'000'000;

std::string repeat(std::string_view piece, size_t count) {
  std::string text;
  text.reserve(piece.size() * count);
  for (size_t idx = 0; idx < count; ++idx) text += piece;
  return text;
}

/// `depth` arrays nested in each other: "[[[...]]]".
std::string nested_arrays(size_t depth) { return repeat("[", depth) + repeat("]", depth); }

}  // namespace

TEST_CASE("JSON: nesting a million deep is refused at depth 65 without recursion") {
  scheme_test::check_refused([] { (void)amn::io::parse_json("deep.json", nested_arrays(kMillion), ""); }, "deep.json",
                             "limit", "nested deeper than 64 levels (at offset 64)");
  const std::string objects = repeat(R"({"a":)", kMillion) + "0" + repeat("}", kMillion);
  scheme_test::check_refused([&] { (void)amn::io::parse_json("deep.json", objects, "config"); }, "deep.json", "limit",
                             "config: nested deeper than 64 levels (at offset 320)");
  // Unterminated: a recursive parser would go as deep before it ever saw the end.
  scheme_test::check_refused([] { (void)amn::io::parse_json("open.json", repeat("[", kMillion), ""); }, "open.json",
                             "limit", "nested deeper than 64 levels");
}

TEST_CASE("JSON: 64 levels are read, 65 are not") {
  rapidjson::Document document = amn::io::parse_json("ok.json", nested_arrays(amn::io::kMaxJsonDepth), "");
  CHECK(document.IsArray());
  scheme_test::check_refused(
      [] { (void)amn::io::parse_json("deep.json", nested_arrays(amn::io::kMaxJsonDepth + 1), ""); }, "deep.json",
      "limit", "nested deeper than 64 levels");
}

TEST_CASE("JSON: syntax, encoding and trailing data") {
  auto refused = [](std::string_view text, const char* fragment) {
    CAPTURE(text);
    scheme_test::check_refused([&] { (void)amn::io::parse_json("x.json", text, ""); }, "x.json", "parse", fragment);
  };
  refused("", "invalid JSON: The document is empty. (at offset 0)");
  refused(R"({"a": 1,})", "invalid JSON: Missing a name for object member. (at offset 8)");
  refused("\"\xff\"", "invalid JSON: Invalid encoding in string.");
  refused("{} {}", "data after the JSON value (at offset 3)");
  refused("[1] x", "data after the JSON value (at offset 4)");
  refused("NaN", "invalid JSON");
  CHECK(amn::io::parse_json("x.json", " {\"a\": [1, 2.5, \"\xc3\xa9\"]} \n\t", "")["a"].Size() == 3);
  // Found by fuzz_json: the full-precision path ran __builtin_clzll(0) on these (UB).
  for (const char* zero : {"0e60", "0.0e-400", "[0E+300, -0e99]"}) {
    CAPTURE(zero);
    CHECK_FALSE(amn::io::parse_json("x.json", zero, "").IsNull());
  }
}

TEST_CASE("JSON: the DOM is charged to the current heap budget as it is built") {
  std::string zeros = "[";  // 20 KB of text, 10,000 values
  zeros += repeat("0,", 9'999);
  zeros += "0]";
  {
    amn::io::HeapBudget budget(amn::Limits{});
    (void)amn::io::parse_json("zeros.json", zeros, "");
    CHECK(amn::io::HeapBudget::used() >= 10'000 * sizeof(rapidjson::Value));
  }
  amn::Limits small;
  small.max_total = 64 << 10;
  amn::io::HeapBudget budget(small);
  scheme_test::check_refused([&] { (void)amn::io::parse_json("zeros.json", zeros, ""); }, "zeros.json", "limit",
                             "above the total cap (max_total) of 65536");
}

TEST_CASE("JSON: a file above the size cap is refused before it is read") {
  const amn::test::TempDir dir("json");
  const fs::path path = dir / "big.json";
  std::ofstream(path) << "{" << std::string(98, ' ') << "}";
  scheme_test::check_refused([&] { (void)amn::io::read_json_file(path.string(), 99, ""); }, path.string(), "limit",
                             "JSON of 100 bytes is above the cap of 99 bytes");
  CHECK(amn::io::read_json_file(path.string(), 100, "").IsObject());
}

TEST_CASE("JSON: a side file is parsed once per scheme context, and must be an object") {
  const amn::stages::SideJson config = amn::stages::SideJson::text("dir/config.json", R"({"a": 1})");
  const rapidjson::Value& first = config.root();
  CHECK(&config.root() == &first);
  CHECK(first["a"].GetInt() == 1);
  const amn::stages::SideJson copy = config;  // copies share the parsed document
  CHECK(&copy.root() == &first);
  scheme_test::check_refused([] { (void)amn::stages::SideJson::text("dir/config.json", "[1]").root(); },
                             "dir/config.json", "parse", "expected a JSON object");
  CHECK_FALSE(amn::stages::SideJson().present());
}

TEST_CASE("JSON: a config.json just above the side-file cap beside a GPTQ layer is refused naming it") {
  // Written here rather than committed: 16 MiB of valid JSON (an object of spaces).
  const amn::test::TempDir scratch("json-cap");
  const fs::path& dir = scratch.path();
  fs::copy_file(fs::path(AMN_SOURCE_DIR) / "test/hostile/json/63-config-not-object/model.safetensors",
                dir / "model.safetensors");
  std::ofstream(dir / "config.json") << "{" << std::string(amn::io::kMaxSideJsonBytes, ' ') << "}";
  amn::Catalog catalog = amn::open_model((dir / "model.safetensors").string());
  scheme_test::check_refused(
      [&] { (void)amn::stages::recognise_schemes(amn::stages::make_scheme_context(catalog)); },
      (dir / "config.json").string(), "limit",
      "JSON of " + std::to_string(amn::io::kMaxSideJsonBytes + 2) + " bytes is above the cap of " +
          std::to_string(amn::io::kMaxSideJsonBytes) + " bytes");
}

TEST_CASE("JSON: hostile side files (test/hostile/json/expect_side.tsv) are refused naming the side file") {
  const fs::path root = fs::path(AMN_SOURCE_DIR) / "test" / "hostile" / "json";
  size_t cases = 0;
  for (const auto& [file, code, fragment] : scheme_test::manifest_rows((root / "expect_side.tsv").string())) {
    const fs::path side = root / file;
    amn::Catalog catalog = amn::open_model((side.parent_path() / "model.safetensors").string());
    scheme_test::check_refused(
        [&] { (void)amn::stages::recognise_schemes(amn::stages::make_scheme_context(catalog)); }, side.string(), code,
        fragment);
    ++cases;
  }
  CHECK(cases >= 4);
}
