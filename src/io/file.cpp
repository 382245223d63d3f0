// Input files: an owned descriptor with checked positional reads, or standard input read
// front to back through a bounded buffer.
#include "io/file.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "amn/error.hpp"
#include "io/budget.hpp"

namespace amn::io {

/// Standard input as a sequence of chunks [front().begin, end_): bytes are read from the
/// descriptor only when a read needs them, and chunks wholly before `end_ - window_` are dropped.
class InputStream {
 public:
  static constexpr size_t kChunkBytes = size_t{1} << 20;
  /// Kept behind the furthest byte read until the engine sets its own window: covers every
  /// header re-read (format detection, then the reader).
  static constexpr uint64_t kDefaultWindow = uint64_t{16} << 20;

  explicit InputStream(std::string path) : path_(std::move(path)) {}

  uint64_t size() {
    std::lock_guard lock(mutex_);
    if (declared_) return *declared_;
    return eof_ ? end_ : kUnknownSize;
  }

  size_t read(uint64_t offset, std::byte* dst, size_t len, bool exact) {
    std::lock_guard lock(mutex_);
    const uint64_t limit = declared_ ? *declared_ : kUnknownSize;
    if (offset > limit || len > limit - offset) {
      if (exact) {
        fail_parse(path_, "truncated: needs bytes [" + std::to_string(offset) + ", " + std::to_string(offset + len) +
                              ") but the file has " + std::to_string(limit));
      }
      len = offset > limit ? 0 : static_cast<size_t>(limit - offset);
    }
    if (offset < first_kept()) {
      throw Error(ErrorCode::Unsupported,
                  path_ + ": standard input is read front to back and bytes before offset " + std::to_string(first_kept()) +
                      " are gone, but offset " + std::to_string(offset) +
                      " is needed again (tensors read out of file order); save the model to a file and pass its path, "
                      "or raise --memory-budget");
    }
    size_t done = 0;
    while (done < len) {
      const uint64_t pos = offset + done;
      while (pos >= end_) {  // read up to pos, dropping what falls out of the window
        if (!fill()) {
          if (exact) fail_parse(path_, "truncated: standard input ended at offset " + std::to_string(end_));
          return done;
        }
        reach_ = std::max(reach_, std::min(end_, pos));  // skipping ahead: what lies behind is for others
        trim();
      }
      done += copy_out(pos, dst + done, len - done);
      reach_ = std::max(reach_, offset + done);
    }
    return done;
  }

  void declare_end(uint64_t end, bool trailing_ok) {
    std::lock_guard lock(mutex_);
    declared_ = end;
    trailing_ok_ = trailing_ok;
  }

  void set_window(uint64_t bytes) {
    std::lock_guard lock(mutex_);
    window_ = std::max(bytes, uint64_t{kChunkBytes});
  }

  void finish() {
    std::lock_guard lock(mutex_);
    if (!declared_) return;
    const uint64_t end = *declared_;
    while (end_ <= end && fill()) trim();
    if (end_ > end && !trailing_ok_) {
      fail_parse(path_, "data section: bytes after the last tensor (at offset " + std::to_string(end) + ")");
    }
    while (fill()) trim();  // read to the end, as a file would be, so the writer sees no broken pipe
  }

 private:
  struct Chunk {
    uint64_t begin = 0;
    size_t size = 0;  ///< bytes held, at most kChunkBytes
    std::unique_ptr<std::byte[]> bytes;
  };

  [[nodiscard]] uint64_t first_kept() const { return chunks_.empty() ? end_ : chunks_.front().begin; }

  /// Reads once from the descriptor into the last chunk; false at the end of the input.
  bool fill() {
    if (eof_) return false;
    if (chunks_.empty() || chunks_.back().size == kChunkBytes) {
      // Dropped chunks are reused: fresh pages would fault on first touch every megabyte.
      std::unique_ptr<std::byte[]> bytes;
      if (spare_.empty()) {
        bytes.reset(new std::byte[kChunkBytes]);
      } else {
        bytes = std::move(spare_.back());
        spare_.pop_back();
      }
      chunks_.push_back(Chunk{end_, 0, std::move(bytes)});
    }
    Chunk& chunk = chunks_.back();
    for (;;) {
      ssize_t got = ::read(STDIN_FILENO, chunk.bytes.get() + chunk.size, kChunkBytes - chunk.size);
      if (got > 0) {
        chunk.size += static_cast<size_t>(got);
        end_ += static_cast<uint64_t>(got);
        return true;
      }
      if (got == 0) {
        eof_ = true;
        return false;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {  // a non-blocking descriptor: wait for data
        pollfd waiting{STDIN_FILENO, POLLIN, 0};
        ::poll(&waiting, 1, -1);
        continue;
      }
      fail_io(path_, "read failed at offset " + std::to_string(end_), errno);
    }
  }

  /// Copies buffered bytes from `pos` (held) into dst, at most `len`; returns how many.
  size_t copy_out(uint64_t pos, std::byte* dst, size_t len) const {
    auto chunk = std::upper_bound(chunks_.begin(), chunks_.end(), pos,
                                  [](uint64_t offset, const Chunk& item) { return offset < item.begin; });
    --chunk;
    const size_t from = static_cast<size_t>(pos - chunk->begin);
    const size_t take = std::min(len, chunk->size - from);
    std::memcpy(dst, chunk->bytes.get() + from, take);
    return take;
  }

  /// Drops chunks that end more than the window behind the furthest byte a caller has read (not
  /// the furthest read from the descriptor, which may run a chunk ahead).
  void trim() {
    while (chunks_.size() > 1 && chunks_.front().begin + chunks_.front().size + window_ <= reach_) {
      spare_.push_back(std::move(chunks_.front().bytes));
      chunks_.pop_front();
    }
  }

  std::string path_;
  std::mutex mutex_;
  std::deque<Chunk> chunks_;
  std::vector<std::unique_ptr<std::byte[]>> spare_;  ///< dropped chunks' buffers, reused
  uint64_t end_ = 0;    ///< bytes read from the descriptor so far
  uint64_t reach_ = 0;  ///< one past the furthest byte a caller has read
  bool eof_ = false;
  std::optional<uint64_t> declared_;
  bool trailing_ok_ = false;
  uint64_t window_ = kDefaultWindow;
};

namespace {

/// Pipe buffer asked for on standard input (Linux's default ceiling, /proc/sys/fs/pipe-max-size).
constexpr int kPipeBytes = 1 << 20;

/// The one stream over standard input (it can be read only once), made on first use.
std::shared_ptr<InputStream> stdin_stream() {
  static std::mutex mutex;
  static std::shared_ptr<InputStream> stream;
  std::lock_guard lock(mutex);
  if (stream) return stream;
  struct stat st {};
  if (::fstat(STDIN_FILENO, &st) != 0) fail_io(std::string(kStdinPath), "cannot stat standard input", errno);
  if (S_ISDIR(st.st_mode)) throw Error(ErrorCode::Usage, "-: standard input is a directory");
  if (::isatty(STDIN_FILENO)) {
    throw Error(ErrorCode::Usage, "-: standard input is a terminal; pipe a model into it (e.g. `curl -s URL | amn ...`)");
  }
  if (S_ISFIFO(st.st_mode)) (void)::fcntl(STDIN_FILENO, F_SETPIPE_SZ, kPipeBytes);  // fewer, larger reads; best effort
  stream = std::make_shared<InputStream>(std::string(kStdinPath));
  return stream;
}

}  // namespace

File::File(std::string path) : path_(std::move(path)) {
  if (is_stdin(path_)) {
    stream_ = stdin_stream();
    fd_ = STDIN_FILENO;
    return;
  }
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
    throw Error(ErrorCode::Usage, path_ + ": is not a regular file (a FIFO, socket or device; pass `-` to read standard input)");
  }
  size_ = static_cast<uint64_t>(st.st_size);
}

File::~File() {
  if (fd_ >= 0 && !stream_) ::close(fd_);
}

File::File(File&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      size_(other.size_),
      stream_(std::move(other.stream_)) {}

uint64_t File::size() const { return stream_ ? stream_->size() : size_; }

void File::read_exact(uint64_t offset, void* dst, size_t len) const {
  if (stream_) {
    (void)stream_->read(offset, static_cast<std::byte*>(dst), len, true);
    return;
  }
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

size_t File::read_upto(uint64_t offset, void* dst, size_t len) const {
  if (stream_) return stream_->read(offset, static_cast<std::byte*>(dst), len, false);
  const size_t take = offset >= size_ ? 0 : static_cast<size_t>(std::min<uint64_t>(len, size_ - offset));
  if (take > 0) read_exact(offset, dst, take);
  return take;
}

std::vector<std::byte> File::read_vec(uint64_t offset, size_t len, std::string_view what) const {
  charge(path_, len, what);
  std::vector<std::byte> out(len);
  read_exact(offset, out.data(), len);
  return out;
}

void File::declare_end(uint64_t end, bool trailing_ok) const {
  if (stream_) stream_->declare_end(end, trailing_ok);
}

void File::set_stream_window(uint64_t bytes) const {
  if (stream_) stream_->set_window(bytes);
}

void File::finish() const {
  if (stream_) stream_->finish();
}

}  // namespace amn::io
