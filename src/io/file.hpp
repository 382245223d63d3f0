// Input files: an owned descriptor with checked positional reads, or standard input read
// front to back through a bounded buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace amn::io {

/// The input path that names standard input.
inline constexpr std::string_view kStdinPath = "-";

/// True when `path` names standard input ("-").
[[nodiscard]] inline bool is_stdin(std::string_view path) { return path == kStdinPath; }

/// What File::size() says of a stream whose end is not known yet: larger than any real file,
/// small enough that adding a header's worth of bytes cannot overflow.
inline constexpr uint64_t kUnknownSize = uint64_t{1} << 62;

class InputStream;

/// A read-only input. Every read is positional and checked; errors name the path.
///
/// The path "-" is standard input, shared by every File that names it: reads are served from a
/// buffer that holds the bytes read so far, back to at most a window (set_stream_window) behind
/// the furthest byte read; a read of bytes already dropped fails with Error(Unsupported) saying
/// to pass a file. Until a reader declares where the data ends (declare_end), or the input
/// ends, size() is kUnknownSize.
class File {
 public:
  /// Opens `path` for reading; throws Error(Io) on failure, Error(Usage) for a directory or
  /// anything else that is not a regular file (a FIFO or a device could block or never end),
  /// and for "-" when standard input is a terminal.
  explicit File(std::string path);
  ~File();
  File(File&& other) noexcept;
  File& operator=(File&&) = delete;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  [[nodiscard]] const std::string& path() const { return path_; }
  /// Bytes in the file; for standard input see the class comment.
  [[nodiscard]] uint64_t size() const;
  /// False for standard input until its end is declared or reached.
  [[nodiscard]] bool size_known() const { return size() != kUnknownSize; }
  /// True for standard input.
  [[nodiscard]] bool streamed() const { return stream_ != nullptr; }
  [[nodiscard]] int fd() const { return fd_; }

  /// Reads exactly `len` bytes at `offset`; throws Error(Parse) "truncated" when the file is
  /// shorter, Error(Io) on a read error.
  void read_exact(uint64_t offset, void* dst, size_t len) const;
  /// Reads up to `len` bytes at `offset`, fewer only at the end of the file; returns how many.
  [[nodiscard]] size_t read_upto(uint64_t offset, void* dst, size_t len) const;
  /// Reads `len` bytes at `offset` into a new vector (caller has validated `len`), charged as
  /// `what` to the current heap budget (io/budget.hpp) before it is allocated.
  [[nodiscard]] std::vector<std::byte> read_vec(uint64_t offset, size_t len, std::string_view what = "read buffer") const;

  /// Standard input: the reader found that the file's data ends at `end`; size() is `end` from
  /// now on. `trailing_ok`: bytes after `end` are allowed (finish() reads and drops them), else
  /// finish() refuses them. A no-op for a regular file (its reader checks the size itself).
  void declare_end(uint64_t end, bool trailing_ok) const;
  /// Standard input: keep at least `bytes` behind the furthest byte read. No-op for a file.
  void set_stream_window(uint64_t bytes) const;
  /// Standard input: after the last read, checks what follows the declared end (see
  /// declare_end). No-op for a file.
  void finish() const;

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  std::shared_ptr<InputStream> stream_;
};

}  // namespace amn::io
