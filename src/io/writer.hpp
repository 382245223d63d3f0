// Positional writes, asynchronous through io_uring where the kernel allows it, else pwrite.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace amn::io {

/// How writes reach the disk.
enum class WriteMode : uint8_t {
  Uring,   ///< io_uring: writes overlap with compute, completions reaped without blocking
  Pwrite,  ///< synchronous pwrite (fallback; forced by AMN_IO=pwrite)
};

/// Display name of a mode ("io_uring", "pwrite").
[[nodiscard]] const char* write_mode_name(WriteMode mode);

/// The mode to use: pwrite when AMN_IO=pwrite, else io_uring when a ring can be created here.
[[nodiscard]] WriteMode probe_write_mode();

/// Submits positional writes and reports which have completed. Not thread-safe: callers
/// serialise access. Every byte of every write reaches the file or an Error(Io) names the path.
class Writer {
 public:
  Writer(WriteMode mode, unsigned queue_depth);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  [[nodiscard]] WriteMode mode() const { return mode_; }

  /// Writes `len` bytes of `data` at `offset` of `fd` (`path` names it in errors). `data` must
  /// stay valid until `tag` is returned by reap(). In pwrite mode the write is done on return.
  void submit(int fd, const std::string* path, const std::byte* data, size_t len, uint64_t offset, uint64_t tag);
  /// Tags of writes that completed since the last call. With `wait`, blocks until at least one
  /// completes (when any is in flight).
  [[nodiscard]] std::vector<uint64_t> reap(bool wait);
  /// Writes submitted and not yet reaped.
  [[nodiscard]] size_t in_flight() const { return in_flight_; }
  /// Waits for every write; returns their tags.
  std::vector<uint64_t> drain();

 private:
  struct Ring;
  WriteMode mode_;
  std::unique_ptr<Ring> ring_;
  std::vector<uint64_t> done_;
  size_t in_flight_ = 0;
};

}  // namespace amn::io
