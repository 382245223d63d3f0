// Input files: an owned descriptor with checked positional reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace amn::io {

/// A read-only file. Every read is positional and checked; errors name the path.
class File {
 public:
  /// Opens `path` for reading; throws Error(Io) on failure, Error(Usage) for a directory or
  /// anything else that is not a regular file (a FIFO or a device could block or never end).
  explicit File(std::string path);
  ~File();
  File(File&& other) noexcept;
  File& operator=(File&&) = delete;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] uint64_t size() const { return size_; }
  [[nodiscard]] int fd() const { return fd_; }

  /// Reads exactly `len` bytes at `offset`; throws Error(Parse) "truncated" when the file is
  /// shorter, Error(Io) on a read error.
  void read_exact(uint64_t offset, void* dst, size_t len) const;
  /// Reads `len` bytes at `offset` into a new vector (caller has validated `len`), charged as
  /// `what` to the current heap budget (io/budget.hpp) before it is allocated.
  [[nodiscard]] std::vector<std::byte> read_vec(uint64_t offset, size_t len, std::string_view what = "read buffer") const;

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

}  // namespace amn::io
