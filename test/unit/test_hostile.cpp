// Covers shared/docs/hostile-inputs.md: every file under test/hostile/<format>/ listed in its
// expect.tsv (file <TAB> code <TAB> message fragment) is refused by open_model with that code and
// a message naming the file and the fragment. Generators: test/hostile/gen_*.py.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "amn/amn.hpp"

namespace fs = std::filesystem;

namespace {

const char* code_name(amn::ErrorCode code) {
  switch (code) {
    case amn::ErrorCode::Parse: return "parse";
    case amn::ErrorCode::Unsupported: return "unsupported";
    case amn::ErrorCode::Limit: return "limit";
    case amn::ErrorCode::Io: return "io";
    case amn::ErrorCode::Usage: return "usage";
  }
  return "?";
}

}  // namespace

TEST_CASE("hostile inputs are refused with a typed error naming file and field") {
  fs::path root = fs::path(AMN_SOURCE_DIR) / "test" / "hostile";
  size_t cases = 0;
  for (const auto& dir : fs::directory_iterator(root)) {
    if (!dir.is_directory()) continue;
    std::ifstream manifest(dir.path() / "expect.tsv");
    std::string line;
    while (std::getline(manifest, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream fields(line);
      std::string file, code, fragment;
      std::getline(fields, file, '\t');
      std::getline(fields, code, '\t');
      std::getline(fields, fragment);
      std::string path = (dir.path() / file).string();
      CAPTURE(path);
      ++cases;
      bool threw = false;
      try {
        (void)amn::open_model(path);
      } catch (const amn::Error& error) {
        threw = true;
        std::string message = error.what();
        CAPTURE(message);
        CHECK(std::string(code_name(error.code())) == code);
        CHECK(message.find(file) != std::string::npos);
        CHECK(message.find(fragment) != std::string::npos);
      }
      CHECK(threw);
    }
  }
  MESSAGE("hostile cases checked: " << cases);
}
