// Output files that appear atomically: temp file beside the target, fsync, rename, fsync dir.
#include "io/output.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <random>

#include "amn/error.hpp"

namespace amn::io {
namespace {

// Paths a signal handler removes: fixed slots of fixed-size C strings, readable from it.
constexpr size_t kMaxLive = 64;
constexpr size_t kMaxPath = 4096;
struct LivePaths {
  std::array<std::array<char, kMaxPath>, kMaxLive> paths{};
  std::array<std::atomic<bool>, kMaxLive> used{};

  void add(const std::string& path) {
    if (path.size() >= kMaxPath) return;
    for (size_t slot = 0; slot < kMaxLive; ++slot) {
      bool expected = false;
      if (used[slot].compare_exchange_strong(expected, true)) {
        std::memcpy(paths[slot].data(), path.c_str(), path.size() + 1);
        return;
      }
    }
  }
  void remove(const std::string& path) {
    for (size_t slot = 0; slot < kMaxLive; ++slot) {
      if (used[slot].load() && path == paths[slot].data()) {
        used[slot].store(false);
        return;
      }
    }
  }
};
LivePaths g_live_temps;  ///< temp files being written
LivePaths g_live_dirs;   ///< directories the run made (removed when empty)

extern "C" void cleanup_and_exit(int signo) {
  for (size_t slot = 0; slot < kMaxLive; ++slot) {
    if (g_live_temps.used[slot].load()) ::unlink(g_live_temps.paths[slot].data());
  }
  // Deepest first whatever the slot order: a pass per level of nesting, at most one per slot.
  for (size_t pass = 0; pass < kMaxLive; ++pass) {
    bool removed = false;
    for (size_t slot = 0; slot < kMaxLive; ++slot) {
      if (g_live_dirs.used[slot].load() && ::rmdir(g_live_dirs.paths[slot].data()) == 0) {
        g_live_dirs.used[slot].store(false);
        removed = true;
      }
    }
    if (!removed) break;
  }
  ::_exit(128 + signo);
}

std::string parent_dir(const std::string& path) {
  auto parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

bool rename_noreplace(const std::string& from, const std::string& to) {
  return ::syscall(SYS_renameat2, AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0;
}

}  // namespace

void register_made_dir(const std::string& path) { g_live_dirs.add(path); }
void unregister_made_dir(const std::string& path) { g_live_dirs.remove(path); }

void install_cleanup_handlers() {
  struct sigaction action {};
  action.sa_handler = cleanup_and_exit;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
}

void refuse_same_file(const std::string& input, const std::string& output) {
  struct stat in_st {}, out_st {};
  if (::stat(input.c_str(), &in_st) != 0 || ::stat(output.c_str(), &out_st) != 0) return;
  if (in_st.st_dev == out_st.st_dev && in_st.st_ino == out_st.st_ino) {
    throw Error(ErrorCode::Usage, output + ": output is the input file " + input);
  }
}

OutputFile::OutputFile(std::string path, bool replace) : path_(std::move(path)), replace_(replace) {
  if (is_stdout(path_)) {
    if (::isatty(STDOUT_FILENO)) {
      throw Error(ErrorCode::Usage, "-: standard output is a terminal; redirect it to a file or a pipe");
    }
    fd_ = STDOUT_FILENO;
    streamed_ = true;
    struct stat st {};
    constexpr int kPipeBytes = 1 << 20;  // fewer, larger writes (Linux's default ceiling); best effort
    if (::fstat(fd_, &st) == 0 && S_ISFIFO(st.st_mode)) (void)::fcntl(fd_, F_SETPIPE_SZ, kPipeBytes);
    return;
  }
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) throw Error(ErrorCode::Usage, path_ + ": is a directory");
    if (!replace_) throw Error(ErrorCode::Usage, path_ + ": exists (use --force to replace it)");
  }
  std::random_device entropy;
  for (int attempt = 0; attempt < 16 && fd_ < 0; ++attempt) {
    char suffix[32];
    std::snprintf(suffix, sizeof(suffix), ".amn-tmp-%08x", entropy());
    temp_path_ = parent_dir(path_) + "/." + std::filesystem::path(path_).filename().string() + suffix;
    fd_ = ::open(temp_path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0 && errno != EEXIST) fail_io(path_, "cannot create a temporary file in " + parent_dir(path_), errno);
  }
  if (fd_ < 0) fail_io(path_, "cannot create a temporary file", EEXIST);
  g_live_temps.add(temp_path_);
}

OutputFile::~OutputFile() {
  if (streamed_) return;
  if (direct_fd_ >= 0) ::close(direct_fd_);
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) {
    ::unlink(temp_path_.c_str());
    g_live_temps.remove(temp_path_);
  }
}

void OutputFile::reserve(uint64_t size) {
  if (streamed_) return;
  // A plan larger than the free space fails here with both numbers, not with ENOSPC halfway
  // (where fallocate is missing the file would be sparse and fill up while being written).
  struct statvfs fs {};
  if (::fstatvfs(fd_, &fs) == 0 && fs.f_frsize > 0) {
    const uint64_t free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
    if (size > free_bytes) {
      fail_io(path_, "the output needs " + std::to_string(size) + " bytes but its filesystem has " +
                         std::to_string(free_bytes) + " bytes free", ENOSPC);
    }
  }
  // Reserve every block up front so a full disk fails here, before any data moves; only a
  // filesystem without fallocate falls back to a sparse file.
  int rc = ::posix_fallocate(fd_, 0, static_cast<off_t>(size));
  if (rc == 0) return;
  if (rc != EOPNOTSUPP && rc != EINVAL && rc != ENOSYS) fail_io(path_, "cannot reserve " + std::to_string(size) + " bytes", rc);
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) fail_io(path_, "cannot size the output", errno);
}

void write_all(int fd, const std::string& path, const void* data, size_t len, uint64_t offset) {
  const auto* bytes = static_cast<const char*>(data);
  size_t done = 0;
  while (done < len) {
    ssize_t put = ::pwrite(fd, bytes + done, len - done, static_cast<off_t>(offset + done));
    if (put < 0) {
      if (errno == EINTR) continue;
      fail_io(path, "write failed at offset " + std::to_string(offset + done), errno);
    }
    if (put == 0) fail_io(path, "write made no progress at offset " + std::to_string(offset + done), ENOSPC);
    done += static_cast<size_t>(put);
  }
}

void OutputFile::write_at(uint64_t offset, const void* data, size_t len) {
  if (!streamed_) {
    write_all(fd_, path_, data, len, offset);
    return;
  }
  if (offset != streamed_bytes_) {
    throw Error(ErrorCode::Io, "-: internal: standard output written at offset " + std::to_string(offset) + " after " +
                                   std::to_string(streamed_bytes_) + " bytes");
  }
  const auto* bytes = static_cast<const char*>(data);
  size_t done = 0;
  while (done < len) {
    ssize_t put = ::write(fd_, bytes + done, len - done);
    if (put < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {  // a non-blocking descriptor: wait for room
        pollfd waiting{fd_, POLLOUT, 0};
        ::poll(&waiting, 1, -1);
        continue;
      }
      fail_io(path_, "write to standard output failed at offset " + std::to_string(offset + done), errno);
    }
    done += static_cast<size_t>(put);
  }
  streamed_bytes_ += len;
}

int OutputFile::open_direct() {
  if (streamed_) return -1;
  if (direct_fd_ < 0) direct_fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC);
  return direct_fd_;
}

void OutputFile::truncate(uint64_t size) {
  if (streamed_) return;
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) fail_io(path_, "cannot set the output size", errno);
}

void OutputFile::commit() {
  if (streamed_) {
    committed_ = true;
    return;
  }
  if (direct_fd_ >= 0) {
    if (::fsync(direct_fd_) != 0) fail_io(path_, "fsync failed", errno);
    ::close(direct_fd_);
    direct_fd_ = -1;
  }
  if (::fsync(fd_) != 0) fail_io(path_, "fsync failed", errno);
  if (::close(fd_) != 0) {
    fd_ = -1;
    fail_io(path_, "close failed", errno);
  }
  fd_ = -1;
  if (replace_) {
    if (::rename(temp_path_.c_str(), path_.c_str()) != 0) fail_io(path_, "cannot rename into place", errno);
  } else if (!rename_noreplace(temp_path_, path_)) {
    int err = errno;
    if (err == EEXIST) throw Error(ErrorCode::Usage, path_ + ": exists (use --force to replace it)");
    fail_io(path_, "cannot rename into place", err);
  }
  committed_ = true;
  g_live_temps.remove(temp_path_);
  int dir_fd = ::open(parent_dir(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

}  // namespace amn::io
