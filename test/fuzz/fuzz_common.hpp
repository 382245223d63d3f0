// Shared pieces of the libFuzzer targets: fuzz bytes as a file the readers can open, and the
// rule that only amn::Error may escape a reader (anything else is a finding).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "amn/error.hpp"
#include "amn/limits.hpp"

namespace amn::fuzz {

/// Largest tensor whose bytes a target reads back through io::TensorData.
constexpr uint64_t kMaxTensorReadBytes = 1u << 20;

/// An anonymous in-memory file (memfd) reachable by path as /proc/self/fd/N, rewritten for each
/// input so the readers' own open/stat/pread paths run unchanged.
class MemFile {
 public:
  MemFile() : fd_(::memfd_create("amn-fuzz", MFD_CLOEXEC)) {
    if (fd_ < 0) std::abort();
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemFile() { ::close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  /// Replaces the file's contents with `size` bytes at `data`; returns its path.
  const std::string& hold(const uint8_t* data, size_t size) {
    if (::ftruncate(fd_, 0) != 0) std::abort();
    size_t done = 0;
    while (done < size) {
      ssize_t put = ::pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      if (put <= 0) std::abort();
      done += static_cast<size_t>(put);
    }
    return path_;
  }

 private:
  int fd_;
  std::string path_;
};

/// The caps the targets run under: the built-in ceilings (what a user gets by default).
inline const Limits& limits() {
  static const Limits kLimits{};
  return kLimits;
}

/// Runs `body`, swallowing the amn::Error a reader throws for a malformed input. Any other
/// exception (std::bad_alloc, std::length_error, ...) escapes and libFuzzer reports it.
template <class Body>
void refusals_allowed(Body&& body) {
  try {
    body();
  } catch (const amn::Error&) {
  }
}

}  // namespace amn::fuzz
