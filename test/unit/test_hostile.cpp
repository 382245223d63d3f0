// Covers shared/docs/hostile-inputs.md: every file under test/hostile/<format>/ listed in its
// expect.tsv (file <TAB> code <TAB> message fragment) is refused by open_model with that code and
// a message naming the file and the fragment. Generators: test/hostile/gen_*.py.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "amn/amn.hpp"
#include "scheme_fixtures.hpp"

namespace fs = std::filesystem;

TEST_CASE("hostile inputs are refused with a typed error naming file and field") {
  fs::path root = fs::path(AMN_SOURCE_DIR) / "test" / "hostile";
  size_t cases = 0;
  for (const auto& dir : fs::directory_iterator(root)) {
    if (!dir.is_directory() || !fs::exists(dir.path() / "expect.tsv")) continue;
    for (const auto& [file, code, fragment] : scheme_test::manifest_rows((dir.path() / "expect.tsv").string())) {
      const std::string path = (dir.path() / file).string();
      scheme_test::check_refused([&] { (void)amn::open_model(path); }, path, code, fragment);
      ++cases;
    }
  }
  MESSAGE("hostile cases checked: " << cases);
}
