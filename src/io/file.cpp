// Input files: an owned descriptor with checked positional reads.
#include "io/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "amn/error.hpp"
#include "io/budget.hpp"

namespace amn::io {

File::File(std::string path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);  // a FIFO must not block the open
  if (fd_ < 0) fail_io(path_, "cannot open", errno);
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    int err = errno;
    ::close(fd_);
    fail_io(path_, "cannot stat", err);
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd_);
    throw Error(ErrorCode::Usage, path_ + ": is a directory");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    throw Error(ErrorCode::Usage, path_ + ": is not a regular file (a FIFO, socket or device)");
  }
  size_ = static_cast<uint64_t>(st.st_size);
}

File::~File() {
  if (fd_ >= 0) ::close(fd_);
}

File::File(File&& other) noexcept
    : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)), size_(other.size_) {}

void File::read_exact(uint64_t offset, void* dst, size_t len) const {
  if (offset > size_ || len > size_ - offset) {
    fail_parse(path_, "truncated: needs bytes [" + std::to_string(offset) + ", " + std::to_string(offset + len) +
                          ") but the file has " + std::to_string(size_));
  }
  auto* out = static_cast<char*>(dst);
  size_t done = 0;
  while (done < len) {
    ssize_t got = ::pread(fd_, out + done, len - done, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      fail_io(path_, "read failed at offset " + std::to_string(offset + done), errno);
    }
    if (got == 0) fail_parse(path_, "truncated at offset " + std::to_string(offset + done));
    done += static_cast<size_t>(got);
  }
}

std::vector<std::byte> File::read_vec(uint64_t offset, size_t len, std::string_view what) const {
  charge(path_, len, what);
  std::vector<std::byte> out(len);
  read_exact(offset, out.data(), len);
  return out;
}

}  // namespace amn::io
