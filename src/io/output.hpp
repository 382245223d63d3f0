// Output files that appear atomically: temp file beside the target, fsync, rename, fsync dir.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace amn::io {

/// True when an output path names standard output ("-").
[[nodiscard]] inline bool is_stdout(std::string_view path) { return path == "-"; }

/// A file being written under a temporary name in the target's directory. `commit()` makes it
/// appear under the final name (never replacing an existing file unless `replace`); destruction
/// without commit removes it. SIGINT/SIGTERM remove every uncommitted temp file (see
/// install_cleanup_handlers).
class OutputFile {
 public:
  /// Creates the temp file. Refuses when `path` exists and !replace (Error Usage), or when
  /// `path` names one of `inputs` (same device and inode). The path "-" is standard output
  /// (refused when it is a terminal): written in order, nothing to reserve, rename or remove.
  OutputFile(std::string path, bool replace);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] int fd() const { return fd_; }
  /// True for standard output.
  [[nodiscard]] bool streamed() const { return streamed_; }

  /// Reserves `size` bytes (fallocate where supported, else ftruncate).
  void reserve(uint64_t size);
  /// Writes all of `data` at `offset` (standard output: `offset` must be where the previous
  /// write ended); ENOSPC/EIO/EPIPE become Error(Io) naming the output.
  void write_at(uint64_t offset, const void* data, size_t len);
  /// A second descriptor on the temp file opened with O_DIRECT, or -1 where the filesystem
  /// refuses it. Closed by the OutputFile.
  [[nodiscard]] int open_direct();
  /// Sets the file's size (after O_DIRECT writes padded the tail).
  void truncate(uint64_t size);
  /// fsync, rename into place, fsync the directory.
  void commit();

 private:
  std::string path_;
  std::string temp_path_;
  bool replace_ = false;
  int fd_ = -1;
  int direct_fd_ = -1;
  bool committed_ = false;
  bool streamed_ = false;
  uint64_t streamed_bytes_ = 0;  ///< written so far to standard output
};

/// Writes all `len` bytes at `offset` of `fd` with pwrite; ENOSPC/EIO/EFBIG become Error(Io)
/// naming `path`.
void write_all(int fd, const std::string& path, const void* data, size_t len, uint64_t offset);

/// Installs SIGINT/SIGTERM handlers that unlink live temp files, remove the directories the run
/// made (those left empty), and exit 130/143.
void install_cleanup_handlers();
/// A directory the run made, which the signal handler removes (when empty) until it is unregistered.
void register_made_dir(const std::string& path);
void unregister_made_dir(const std::string& path);

/// Throws Error(Usage) when `output` is the same file as `input` (device and inode).
void refuse_same_file(const std::string& input, const std::string& output);

}  // namespace amn::io
