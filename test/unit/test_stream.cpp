// Covers io::File's standard-input variant (src/io/file.cpp): reads served front to back from a
// bounded window kept behind the furthest byte read, skipping ahead, refusing bytes already
// dropped, and the checks at the declared end. Standard input is made a regular file here, which
// hands over whole 1 MiB chunks per read(), so which bytes are dropped is deterministic.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "amn/error.hpp"
#include "io/file.hpp"

namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

std::byte pattern(uint64_t offset) { return static_cast<std::byte>(offset * 7 % 251); }

/// Standard input replaced by a file of `size` pattern bytes while it lives.
class StdinFromFile {
 public:
  explicit StdinFromFile(uint64_t size) {
    std::FILE* file = std::tmpfile();
    REQUIRE(file != nullptr);
    std::vector<std::byte> bytes(size);
    for (uint64_t offset = 0; offset < size; ++offset) bytes[offset] = pattern(offset);
    REQUIRE(std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size());
    std::fflush(file);
    std::rewind(file);
    saved_ = ::dup(STDIN_FILENO);
    REQUIRE(::dup2(::fileno(file), STDIN_FILENO) == STDIN_FILENO);
    std::fclose(file);
  }
  ~StdinFromFile() {
    ::dup2(saved_, STDIN_FILENO);
    ::close(saved_);
  }
  StdinFromFile(const StdinFromFile&) = delete;
  StdinFromFile& operator=(const StdinFromFile&) = delete;

 private:
  int saved_ = -1;
};

void check_bytes(const amn::io::File& file, uint64_t offset, size_t len) {
  std::vector<std::byte> got(len);
  file.read_exact(offset, got.data(), len);
  for (size_t idx = 0; idx < len; ++idx) REQUIRE(got[idx] == pattern(offset + idx));
}

}  // namespace

// Standard input can be read once per process: everything about it is one test case.
TEST_CASE("standard input is read front to back through a bounded window") {
  const uint64_t size = 8 * kMiB;
  StdinFromFile stdin_file(size);
  const amn::io::File file("-");
  CHECK(file.streamed());
  CHECK_FALSE(file.size_known());
  file.set_stream_window(kMiB);

  check_bytes(file, 0, 16);
  const amn::io::File again("-");  // every File("-") shares the one stream
  check_bytes(again, 0, 16);

  // Skipping ahead to 3 MiB reads the chunk [3, 4) MiB whole; the window is kept behind the
  // furthest byte asked for (3 MiB + 21), not behind 4 MiB, so 2.5 MiB is still there.
  check_bytes(file, 3 * kMiB + 5, 16);
  check_bytes(file, 5 * kMiB / 2, 16);
  // 1 MiB is more than a window behind: dropped, and refused rather than served wrong.
  std::array<std::byte, 16> scratch{};
  try {
    file.read_exact(kMiB, scratch.data(), scratch.size());
    FAIL("a dropped byte was served");
  } catch (const amn::Error& error) {
    CHECK(error.code() == amn::ErrorCode::Unsupported);
    CHECK(std::string(error.what()).find("read front to back") != std::string::npos);
  }

  // The reader declares where the data ends: reads stop there, and what follows is refused.
  file.declare_end(size - 100, false);
  CHECK(file.size() == size - 100);
  std::vector<std::byte> tail(200);
  CHECK(file.read_upto(size - 150, tail.data(), tail.size()) == 50);
  CHECK_THROWS_AS(file.read_exact(size - 150, tail.data(), tail.size()), amn::Error);
  try {
    file.finish();
    FAIL("bytes after the declared end were accepted");
  } catch (const amn::Error& error) {
    CHECK(error.code() == amn::ErrorCode::Parse);
    CHECK(std::string(error.what()).find("bytes after the last tensor") != std::string::npos);
  }
}
