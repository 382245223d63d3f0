// Positional writes through io_uring, or pwrite.
#include "io/writer.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "amn/error.hpp"
#include "io/output.hpp"

#ifdef AMN_HAVE_URING
#include <liburing.h>
#endif

namespace amn::io {

const char* write_mode_name(WriteMode mode) { return mode == WriteMode::Uring ? "io_uring" : "pwrite"; }

#ifdef AMN_HAVE_URING

/// One pending write: what remains of it after short completions.
struct Pending {
  int fd;
  const std::string* path;
  const std::byte* data;
  size_t len;
  uint64_t offset;
};

struct Writer::Ring {
  io_uring ring{};
  std::unordered_map<uint64_t, Pending> pending;

  void queue(uint64_t tag) {
    const Pending& write = pending.at(tag);
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    if (!sqe) {
      io_uring_submit(&ring);
      sqe = io_uring_get_sqe(&ring);
    }
    io_uring_prep_write(sqe, write.fd, write.data, static_cast<unsigned>(write.len), write.offset);
    io_uring_sqe_set_data64(sqe, tag);
    int submitted = io_uring_submit(&ring);
    if (submitted < 0) fail_io(*write.path, "io_uring submit failed", -submitted);
  }
};

WriteMode probe_write_mode() {
  const char* forced = std::getenv("AMN_IO");
  if (forced && std::strcmp(forced, "pwrite") == 0) return WriteMode::Pwrite;
  io_uring ring{};
  if (io_uring_queue_init(4, &ring, 0) != 0) return WriteMode::Pwrite;
  io_uring_queue_exit(&ring);
  return WriteMode::Uring;
}

Writer::Writer(WriteMode mode, unsigned queue_depth) : mode_(mode) {
  if (mode_ != WriteMode::Uring) return;
  ring_ = std::make_unique<Ring>();
  int rc = io_uring_queue_init(queue_depth, &ring_->ring, 0);
  if (rc != 0) {
    ring_.reset();
    mode_ = WriteMode::Pwrite;
  }
}

Writer::~Writer() {
  if (!ring_) return;
  // Never leave the kernel writing into buffers that are about to be freed.
  while (in_flight_ > 0) {
    io_uring_cqe* cqe = nullptr;
    if (io_uring_wait_cqe(&ring_->ring, &cqe) != 0) break;
    io_uring_cqe_seen(&ring_->ring, cqe);
    --in_flight_;
  }
  io_uring_queue_exit(&ring_->ring);
}

void Writer::submit(int fd, const std::string* path, const std::byte* data, size_t len, uint64_t offset, uint64_t tag) {
  if (!ring_) {
    write_all(fd, *path, data, len, offset);
    done_.push_back(tag);
    return;
  }
  ring_->pending[tag] = Pending{fd, path, data, len, offset};
  ++in_flight_;
  ring_->queue(tag);
}

std::vector<uint64_t> Writer::reap(bool wait) {
  if (ring_) {
    bool must_wait = wait && done_.empty();
    while (in_flight_ > 0) {
      io_uring_cqe* cqe = nullptr;
      int rc = must_wait ? io_uring_wait_cqe(&ring_->ring, &cqe) : io_uring_peek_cqe(&ring_->ring, &cqe);
      if (rc == -EAGAIN || (rc == 0 && !cqe)) break;
      if (rc == -EINTR) continue;
      if (rc < 0) fail_io("io_uring", "waiting for a write failed", -rc);
      uint64_t tag = io_uring_cqe_get_data64(cqe);
      int res = cqe->res;
      io_uring_cqe_seen(&ring_->ring, cqe);
      Pending& write = ring_->pending.at(tag);
      if (res < 0) {
        --in_flight_;
        fail_io(*write.path, "write failed at offset " + std::to_string(write.offset), -res);
      }
      if (res == 0) {
        --in_flight_;
        fail_io(*write.path, "write made no progress at offset " + std::to_string(write.offset), ENOSPC);
      }
      if (static_cast<size_t>(res) < write.len) {  // short write: queue the rest
        write.data += res;
        write.len -= static_cast<size_t>(res);
        write.offset += static_cast<uint64_t>(res);
        ring_->queue(tag);
        continue;
      }
      ring_->pending.erase(tag);
      --in_flight_;
      done_.push_back(tag);
      must_wait = false;
    }
  }
  std::vector<uint64_t> out;
  out.swap(done_);
  return out;
}

#else

struct Writer::Ring {};

WriteMode probe_write_mode() { return WriteMode::Pwrite; }

Writer::Writer(WriteMode, unsigned) : mode_(WriteMode::Pwrite) {}

Writer::~Writer() = default;

void Writer::submit(int fd, const std::string* path, const std::byte* data, size_t len, uint64_t offset, uint64_t tag) {
  write_all(fd, *path, data, len, offset);
  done_.push_back(tag);
}

std::vector<uint64_t> Writer::reap(bool) {
  std::vector<uint64_t> out;
  out.swap(done_);
  return out;
}

#endif

std::vector<uint64_t> Writer::drain() {
  std::vector<uint64_t> all;
  while (in_flight_ > 0 || !done_.empty()) {
    auto some = reap(true);
    all.insert(all.end(), some.begin(), some.end());
  }
  return all;
}

}  // namespace amn::io
