// The streaming engine. Work items are output windows: [k·W, (k+1)·W) of one output file. A
// serial source hands out windows and pooled buffers, a parallel stage fills each window (header
// bytes, zero padding, and every overlapping tensor's bytes read and transformed), and a serial
// sink submits the window's write at its final offset. Buffers return to the pool when their
// write completes, so at most `buffers` windows exist at once whatever the model size.
#include "stages/engine/engine.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include <libdeflate.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/global_control.h>
#include <tbb/parallel_pipeline.h>
#include <zlib.h>

#include "stages/engine/system.hpp"

namespace amn::stages {
namespace {

constexpr uint64_t kMinWindow = 64 * 1024;
constexpr uint64_t kMaxWindow = 4ull << 20;
constexpr uint64_t kMinBudget = 16ull << 20;
/// RSS that is not window buffers: code, oneTBB, catalog, headers. Subtracted from the budget.
constexpr uint64_t kBaseOverhead = 40ull << 20;
constexpr unsigned kQueuedWrites = 4;  ///< windows that may wait in the io_uring queue

/// A buffer aligned for O_DIRECT.
struct AlignedBuffer {
  std::byte* data = nullptr;
  explicit AlignedBuffer(uint64_t size) {
    void* memory = nullptr;
    if (posix_memalign(&memory, kDirectAlign, std::max<uint64_t>(size, kDirectAlign)) != 0) throw std::bad_alloc();
    data = static_cast<std::byte*>(memory);
    std::memset(data, 0, size);  // touch every page now, not in the hot loop
  }
  ~AlignedBuffer() { std::free(data); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
};

/// A byte range of one output file and what fills it.
struct Segment {
  uint64_t begin = 0;
  uint64_t end = 0;
  int64_t planned = -1;  ///< index into Plan::tensors; -1 = the header
};

/// One unit of work.
struct Item {
  size_t file = 0;
  uint64_t begin = 0;
  uint64_t end = 0;
  size_t slot = 0;
};

}  // namespace

double stream_ratio(const Plan& plan) {
  auto bits = [](DType type) { return static_cast<double>(info(type).block_bits) / info(type).block_elems; };
  double ratio = 0.0;
  for (const auto& planned : plan.tensors) ratio = std::max(ratio, bits(planned.in_dtype) / bits(planned.out.dtype));
  return ratio;
}

EngineConfig configure(const ConvertOptions& options, uint64_t largest_file, double stream_ratio) {
  EngineConfig config;
  ThreadChoice threads = choose_threads(options.threads);
  config.threads = threads.threads;
  config.threads_note = threads.lowered;
  config.memory_budget = effective_budget(options.memory_budget);
  config.mode = io::probe_write_mode();
  const size_t tokens = 2 * static_cast<size_t>(config.threads) + 1;
  config.buffers = tokens + (config.mode == io::WriteMode::Uring ? kQueuedWrites : 0);
  if (options.chunk_bytes) {
    config.window = options.chunk_bytes;
  } else {
    uint64_t for_buffers = config.memory_budget > kBaseOverhead + kMinBudget ? config.memory_budget - kBaseOverhead : kMinBudget;
    // Window buffers (and what standard input keeps for each in flight), after each thread's
    // scratch (a strip, and the input it decodes from).
    const uint64_t scratch = 2 * kStripBytes * config.threads;
    const double per_window = static_cast<double>(config.buffers) + static_cast<double>(tokens + 1) * stream_ratio;
    auto window = static_cast<uint64_t>(for_buffers > scratch ? static_cast<double>(for_buffers - scratch) / per_window : 0.0);
    window = std::clamp(window, kMinWindow, kMaxWindow);
    uint64_t needed = (std::max<uint64_t>(largest_file, 1) + kDirectAlign - 1) / kDirectAlign * kDirectAlign;
    config.window = std::min(window / kDirectAlign * kDirectAlign, needed);
  }
  // Windows in flight read input at most `tokens` windows apart (the plan follows the input order).
  config.stream_window = static_cast<uint64_t>(static_cast<double>((tokens + 1) * config.window) * stream_ratio);
  const char* forced = std::getenv("AMN_IO");
  bool buffered = forced && std::strstr(forced, "buffered");
  config.direct = !buffered && config.window % kDirectAlign == 0;
  return config;
}

std::vector<uint32_t> run_engine(const Plan& plan, const std::vector<FilePlan>& files,
                std::vector<std::unique_ptr<io::OutputFile>>& outputs, const EngineConfig& config,
                io::TensorData& data, Progress* progress) {
  tbb::global_control parallelism(tbb::global_control::max_allowed_parallelism, config.threads);

  // Segments of each file, sorted by offset, and the work list.
  std::vector<std::vector<Segment>> segments(files.size());
  std::vector<int> write_fds(files.size());
  std::vector<bool> direct(files.size(), false);
  for (size_t file_idx = 0; file_idx < files.size(); ++file_idx) {
    const FilePlan& file = files[file_idx];
    auto& list = segments[file_idx];
    list.push_back(Segment{0, file.layout.header.size(), -1});
    for (size_t planned_idx : file.tensors) {
      const auto& out = plan.tensors[planned_idx].out;
      if (out.nbytes) list.push_back(Segment{out.offset, out.offset + out.nbytes, static_cast<int64_t>(planned_idx)});
    }
    std::sort(list.begin(), list.end(), [](const Segment& a, const Segment& b) { return a.begin < b.begin; });
    outputs[file_idx]->reserve(file.layout.file_size);
    write_fds[file_idx] = outputs[file_idx]->fd();
    if (config.direct) {
      int fd = outputs[file_idx]->open_direct();
      if (fd >= 0) {
        write_fds[file_idx] = fd;
        direct[file_idx] = true;
      }
    }
  }

  std::vector<uint64_t> tensor_left(plan.tensors.size());
  for (size_t idx = 0; idx < plan.tensors.size(); ++idx) tensor_left[idx] = plan.tensors[idx].out.nbytes;
  std::mutex tensor_mutex;
  if (progress) {
    uint64_t total = 0;
    for (const auto& file : files) total += file.layout.file_size;
    progress->bytes_total = total;
    progress->tensors_total = plan.tensors.size();
    for (const auto& planned : plan.tensors) {
      if (planned.out.nbytes == 0) ++progress->tensors_done;
    }
  }

  // The pool: buffers are declared before the writer so the writer (which waits for in-flight
  // writes in its destructor) is destroyed first.
  std::vector<std::unique_ptr<AlignedBuffer>> buffers;
  std::vector<size_t> free_slots;
  for (size_t slot = 0; slot < config.buffers; ++slot) {
    buffers.push_back(std::make_unique<AlignedBuffer>(config.window));
    free_slots.push_back(slot);
  }
  std::vector<Item> in_write(config.buffers);
  io::Writer writer(config.mode, static_cast<unsigned>(config.buffers));
  std::mutex writer_mutex;
  auto release = [&](const std::vector<uint64_t>& tags) {
    for (uint64_t slot : tags) {
      free_slots.push_back(slot);
      if (progress) progress->bytes_done += in_write[slot].end - in_write[slot].begin;
    }
  };

  size_t next_file = 0;
  uint64_t next_offset = 0;
  tbb::enumerable_thread_specific<SourceScratch> scratch;
  // CRC-32 of each window as filled, combined per file at the end (batch journals need no read-back)
  std::vector<std::vector<uint32_t>> window_crcs(files.size());
  for (size_t file_idx = 0; file_idx < files.size(); ++file_idx) {
    window_crcs[file_idx].resize((files[file_idx].layout.file_size + config.window - 1) / config.window);
  }
  const size_t tokens = config.buffers - (config.mode == io::WriteMode::Uring ? kQueuedWrites : 0);
  // Windows leave in order when the output or the input is a stream: standard output takes its
  // bytes in order, and standard input keeps only the input of `tokens` consecutive windows, which
  // an out-of-order sink would not bound (a stalled window could be lapped by any number of others).
  const bool in_order = config.stream_window > 0 ||
                        std::any_of(outputs.begin(), outputs.end(), [](const auto& out) { return out->streamed(); });

  tbb::parallel_pipeline(
      tokens,
      tbb::make_filter<void, Item>(
          tbb::filter_mode::serial_in_order,
          [&](tbb::flow_control& control) -> Item {
            while (next_file < files.size() && next_offset >= files[next_file].layout.file_size) {
              ++next_file;
              next_offset = 0;
            }
            if (next_file >= files.size()) {
              control.stop();
              return Item{};
            }
            if (progress && progress->cancel.load(std::memory_order_relaxed)) {
              throw Error(ErrorCode::Cancelled, files[next_file].path + ": conversion cancelled");
            }
            Item item;
            item.file = next_file;
            item.begin = next_offset;
            item.end = std::min(next_offset + config.window, files[next_file].layout.file_size);
            next_offset = item.end;
            std::lock_guard lock(writer_mutex);
            while (free_slots.empty()) release(writer.reap(true));
            item.slot = free_slots.back();
            free_slots.pop_back();
            return item;
          }) &
          tbb::make_filter<Item, Item>(
              tbb::filter_mode::parallel,
              [&](Item item) -> Item {
                std::byte* window = buffers[item.slot]->data;
                const auto& list = segments[item.file];
                const auto& header = files[item.file].layout.header;
                uint64_t cursor = item.begin;
                auto first = std::upper_bound(list.begin(), list.end(), item.begin,
                                              [](uint64_t offset, const Segment& seg) { return offset < seg.end; });
                for (auto seg = first; seg != list.end() && seg->begin < item.end; ++seg) {
                  uint64_t lo = std::max(seg->begin, item.begin);
                  uint64_t hi = std::min(seg->end, item.end);
                  if (lo > cursor) std::memset(window + (cursor - item.begin), 0, lo - cursor);
                  if (seg->planned < 0) {
                    std::memcpy(window + (lo - item.begin), header.data() + lo, hi - lo);
                  } else {
                    const auto& planned = plan.tensors[static_cast<size_t>(seg->planned)];
                    fill_range(*planned.producer, data, lo - seg->begin, hi - seg->begin, window + (lo - item.begin),
                               scratch.local());
                    if (progress) {
                      std::lock_guard lock(tensor_mutex);
                      tensor_left[static_cast<size_t>(seg->planned)] -= hi - lo;
                      if (tensor_left[static_cast<size_t>(seg->planned)] == 0) ++progress->tensors_done;
                    }
                  }
                  cursor = hi;
                }
                if (cursor < item.end) std::memset(window + (cursor - item.begin), 0, item.end - cursor);
                window_crcs[item.file][item.begin / config.window] =
                    static_cast<uint32_t>(libdeflate_crc32(0, window, item.end - item.begin));
                return item;
              }) &
          tbb::make_filter<Item, void>(in_order ? tbb::filter_mode::serial_in_order : tbb::filter_mode::serial_out_of_order,
                                       [&](Item item) {
            uint64_t len = item.end - item.begin;
            if (outputs[item.file]->streamed()) {  // in order, synchronously: the window is free on return
              outputs[item.file]->write_at(item.begin, buffers[item.slot]->data, len);
              std::lock_guard lock(writer_mutex);
              in_write[item.slot] = item;
              release({item.slot});
              return;
            }
            if (direct[item.file] && len % kDirectAlign != 0) {
              // The file's tail: pad to the alignment; the file is truncated to size afterwards.
              uint64_t padded = (len + kDirectAlign - 1) / kDirectAlign * kDirectAlign;
              std::memset(buffers[item.slot]->data + len, 0, padded - len);
              len = padded;
            }
            std::lock_guard lock(writer_mutex);
            in_write[item.slot] = item;
            writer.submit(write_fds[item.file], &files[item.file].path, buffers[item.slot]->data, len, item.begin,
                          item.slot);
            release(writer.reap(false));
          }));
  release(writer.drain());
  std::vector<uint32_t> crcs(files.size(), 0);
  for (size_t file_idx = 0; file_idx < files.size(); ++file_idx) {
    if (direct[file_idx]) outputs[file_idx]->truncate(files[file_idx].layout.file_size);
    const uint64_t size = files[file_idx].layout.file_size;
    uLong crc = crc32(0, nullptr, 0);
    for (size_t window_idx = 0; window_idx < window_crcs[file_idx].size(); ++window_idx) {
      const uint64_t len = std::min(config.window, size - window_idx * config.window);
      crc = crc32_combine(crc, window_crcs[file_idx][window_idx], static_cast<z_off_t>(len));
    }
    crcs[file_idx] = static_cast<uint32_t>(crc);
  }
  return crcs;
}

}  // namespace amn::stages
