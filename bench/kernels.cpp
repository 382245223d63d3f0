// Kernel throughput: GGUF dequantisation of every block type to BF16 and F32, f32 → bf16
// narrowing, and memcpy of the same output size (the bandwidth bound; memset, write only, as a
// tighter one), on one thread and on all threads. Prints a Markdown table of medians.
//
// Input blocks are the real ggml-quantised blocks of shared/fixtures/ggml/all_types.gguf, tiled
// to the bench shape (4096 × 11008 elements by default), so scales are realistic. Q8_1 and Q8_K,
// ggml's dot-product formats that no file holds, are built from the Q8_0 blocks. The output
// buffer is page-aligned and touched before timing, as the engine's pooled window buffers are,
// and refilled with a new byte (untimed) before every run.
//
// usage: amn-bench-kernels [--reps N] [--elems N] [--only NAME,...] [--fixture PATH] [--clock wall|cpu]
//        (NAME: a block type as ggml spells it, or "narrow")
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstring>
#include <functional>
#include <cstdlib>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "amn/amn.hpp"
#include "io/tensor_data.hpp"
#include "kernels/convert.hpp"
#include "kernels/gguf/blocks.hpp"
#include "kernels/isa.hpp"

namespace {

using amn::DType;
using Clock = std::chrono::steady_clock;

constexpr size_t kDefaultElems = size_t{4096} * 11008;  // a Llama-7B FFN matrix
constexpr size_t kDefaultReps = 7;
constexpr size_t kChunkElems = size_t{1} << 20;  // elements per parallel task (MiBs, as engine windows)

struct Options {
  size_t reps = kDefaultReps;
  size_t elems = kDefaultElems;
  std::vector<std::string> only;
  std::string fixture = AMN_SOURCE_DIR "/../shared/fixtures/ggml/all_types.gguf";
  bool thread_cpu_clock = false;  // --clock cpu: one-thread runs timed in thread CPU time
};

/// Now in seconds: wall clock, or this thread's CPU time, which leaves out the time other
/// processes hold the core (the noise of a shared machine; meaningful for one thread only).
double seconds_now(bool thread_cpu) {
  if (!thread_cpu) return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
  timespec time{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time);
  return static_cast<double>(time.tv_sec) + static_cast<double>(time.tv_nsec) * 1e-9;
}

/// Median time of `reps` runs of `work` after one warm-up run, in seconds. Before each run
/// (untimed) `output` is filled with a new byte, so no run rewrites the bytes already there.
double median_seconds(size_t reps, std::span<std::byte> output, bool thread_cpu, const std::function<void()>& work) {
  std::vector<double> times;
  for (size_t rep = 0; rep <= reps; ++rep) {
    std::memset(output.data(), static_cast<int>(0xa5 + rep), output.size());
    const double start = seconds_now(thread_cpu);
    work();
    if (rep > 0) times.push_back(seconds_now(thread_cpu) - start);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

/// Runs `body(first, last)` over [0, count) split into chunks of `grain`, on all threads.
void parallel_chunks(size_t count, size_t grain, const std::function<void(size_t, size_t)>& body) {
  tbb::parallel_for(tbb::blocked_range<size_t>(0, count, std::max<size_t>(1, grain)),
                    [&](const tbb::blocked_range<size_t>& range) { body(range.begin(), range.end()); });
}

/// Repeats `pattern` until `size` bytes are filled.
std::vector<std::byte> tile(const std::vector<std::byte>& pattern, size_t size) {
  std::vector<std::byte> out(size);
  for (size_t done = 0; done < size; done += pattern.size()) {
    std::memcpy(out.data() + done, pattern.data(), std::min(pattern.size(), size - done));
  }
  return out;
}

/// Q8_1 blocks from Q8_0 blocks: same d and codes, s = d · Σq.
std::vector<std::byte> q8_1_from_q8_0(const std::vector<std::byte>& q8_0) {
  namespace gguf = amn::kernels::gguf;
  const size_t blocks = q8_0.size() / sizeof(gguf::BlockQ8_0);
  std::vector<std::byte> out(blocks * sizeof(gguf::BlockQ8_1));
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto source = gguf::load_block<gguf::BlockQ8_0>(q8_0.data(), block_idx);
    gguf::BlockQ8_1 block{};
    block.d = source.d;
    std::memcpy(block.qs, source.qs, sizeof(block.qs));
    int sum = 0;
    for (const int8_t code : source.qs) sum += code;
    const uint16_t s = amn::kernels::f32_to_f16(source.d.to_f32() * static_cast<float>(sum));
    std::memcpy(&block.s, &s, sizeof(block.s));
    std::memcpy(out.data() + block_idx * sizeof(block), &block, sizeof(block));
  }
  return out;
}

/// Q8_K blocks from runs of 8 Q8_0 blocks: the first block's d as f32, the 256 codes, bsums.
std::vector<std::byte> q8_k_from_q8_0(const std::vector<std::byte>& q8_0) {
  namespace gguf = amn::kernels::gguf;
  constexpr size_t kRun = gguf::BlockQ8_K::kElems / gguf::BlockQ8_0::kElems;
  const size_t blocks = q8_0.size() / sizeof(gguf::BlockQ8_0) / kRun;
  std::vector<std::byte> out(blocks * sizeof(gguf::BlockQ8_K));
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    gguf::BlockQ8_K block{};
    for (size_t part = 0; part < kRun; ++part) {
      const auto source = gguf::load_block<gguf::BlockQ8_0>(q8_0.data(), block_idx * kRun + part);
      const uint32_t scale_bits = std::bit_cast<uint32_t>(source.d.to_f32());
      if (part == 0) std::memcpy(block.d, &scale_bits, sizeof(block.d));
      std::memcpy(block.qs + part * sizeof(source.qs), source.qs, sizeof(source.qs));
    }
    for (size_t group = 0; group < sizeof(block.bsums) / 2; ++group) {
      int16_t sum = 0;
      for (size_t lane = 0; lane < 16; ++lane) sum = static_cast<int16_t>(sum + block.qs[group * 16 + lane]);
      std::memcpy(block.bsums + 2 * group, &sum, 2);
    }
    std::memcpy(out.data() + block_idx * sizeof(block), &block, sizeof(block));
  }
  return out;
}

/// One block pattern per block type, from the fixture.
std::map<DType, std::vector<std::byte>> load_patterns(const std::string& path) {
  const auto catalog = amn::open_model(path);
  amn::io::TensorData data(catalog, {});
  std::map<DType, std::vector<std::byte>> patterns;
  for (size_t tensor_idx = 0; tensor_idx < catalog.tensors.size(); ++tensor_idx) {
    const DType type = catalog.tensors[tensor_idx].dtype;
    if (amn::is_block_type(type)) patterns[type] = data.read_all(tensor_idx);
  }
  patterns[DType::Q8_1] = q8_1_from_q8_0(patterns.at(DType::Q8_0));
  patterns[DType::Q8_K] = q8_k_from_q8_0(patterns.at(DType::Q8_0));
  return patterns;
}

struct Row {
  std::string kernel;
  std::string out;
  double single = 0;  // Gelem/s on one thread
  double all = 0;     // Gelem/s on all threads
  double bound_single = 0;
  double bound_all = 0;
};

void print_row(const Row& row) {
  std::printf("| %-8s | %-4s | %6.2f | %6.2f | %5.0f%% | %5.0f%% |\n", row.kernel.c_str(), row.out.c_str(),
              row.single, row.all, 100 * row.single / row.bound_single, 100 * row.all / row.bound_all);
  std::fflush(stdout);
}

bool selected(const Options& options, std::string_view name) {
  if (options.only.empty()) return true;
  return std::find(options.only.begin(), options.only.end(), name) != options.only.end();
}

Options parse_args(int argc, char** argv) {
  Options options;
  for (int arg = 1; arg + 1 < argc; arg += 2) {
    const std::string key = argv[arg];
    const std::string value = argv[arg + 1];
    if (key == "--reps") options.reps = std::stoul(value);
    if (key == "--elems") options.elems = std::stoul(value);
    if (key == "--fixture") options.fixture = value;
    if (key == "--clock") options.thread_cpu_clock = value == "cpu";
    if (key == "--only") {
      for (size_t start = 0; start <= value.size();) {
        const size_t comma = std::min(value.find(',', start), value.size());
        options.only.push_back(value.substr(start, comma - start));
        start = comma + 1;
      }
    }
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_args(argc, argv);
  const size_t threads = static_cast<size_t>(tbb::this_task_arena::max_concurrency());
  const size_t elems = options.elems;

  // memcpy bound: copy of the output size (bytes per element 2 and 4), one thread and all.
  std::vector<std::byte> copy_src(elems * sizeof(float), std::byte{1});
  // output page-aligned, as the engine's window buffers are
  constexpr size_t kOutputAlignment = 4096;
  const size_t out_bytes = (elems * sizeof(float) + kOutputAlignment - 1) / kOutputAlignment * kOutputAlignment;
  const std::unique_ptr<void, decltype(&std::free)> out_storage(std::aligned_alloc(kOutputAlignment, out_bytes), &std::free);
  const std::span<std::byte> out(static_cast<std::byte*>(out_storage.get()), out_bytes);
  std::memset(out.data(), 0, out.size());
  std::map<size_t, std::pair<double, double>> bound;        // out bytes per element → Gelem/s
  std::map<size_t, std::pair<double, double>> write_bound;  // the same for memset
  const bool cpu_clock = options.thread_cpu_clock;
  for (const size_t out_size : {size_t{2}, size_t{4}}) {
    const size_t bytes = elems * out_size;
    const auto gelems = [&](double seconds) { return static_cast<double>(elems) / seconds / 1e9; };
    const auto copy = [&](size_t first, size_t last) {
      std::memcpy(out.data() + first, copy_src.data() + first, last - first);
    };
    const auto set = [&](size_t first, size_t last) { std::memset(out.data() + first, 1, last - first); };
    bound[out_size] = {
        gelems(median_seconds(options.reps, out, cpu_clock, [&] { copy(0, bytes); })),
        gelems(median_seconds(options.reps, out, false, [&] { parallel_chunks(bytes, kChunkElems * out_size, copy); }))};
    write_bound[out_size] = {
        gelems(median_seconds(options.reps, out, cpu_clock, [&] { set(0, bytes); })),
        gelems(median_seconds(options.reps, out, false, [&] { parallel_chunks(bytes, kChunkElems * out_size, set); }))};
  }

  std::printf("shape %zu elements, %zu threads, ISA %s, median of %zu, 1 thread timed by the %s\n", elems, threads,
              std::string(amn::kernels::isa_name(amn::kernels::active_isa())).c_str(), options.reps,
              cpu_clock ? "thread's CPU time" : "wall clock");
  std::printf("memcpy of the output: %.1f / %.1f GB/s (2 / 4 bytes per element) on 1 thread, %.1f / %.1f on %zu\n\n",
              bound[2].first * 2, bound[4].first * 4, bound[2].second * 2, bound[4].second * 4, threads);
  std::printf("| kernel   | out  | 1 thread Gelem/s | %zu threads Gelem/s | 1 thread %% of memcpy | %zu threads %% of memcpy |\n",
              threads, threads);
  std::printf("| --- | --- | ---: | ---: | ---: | ---: |\n");
  for (const size_t out_size : {size_t{2}, size_t{4}}) {
    const auto [single, all] = bound.at(out_size);
    print_row({"memcpy", out_size == 2 ? "2 B" : "4 B", single, all, single, all});
    const auto [write_single, write_all] = write_bound.at(out_size);
    print_row({"memset", out_size == 2 ? "2 B" : "4 B", write_single, write_all, single, all});
  }

  // f32 → bf16 narrowing of dequantised-looking values.
  if (selected(options, "narrow")) {
    std::vector<float> values(elems);
    for (size_t idx = 0; idx < elems; ++idx) values[idx] = static_cast<float>(idx % 251) * 1.0e-3f - 0.125f;
    const auto* source = values.data();
    const double single = median_seconds(options.reps, out, cpu_clock, [&] {
      amn::kernels::store_f32(source, elems, DType::BF16, out.data());
    });
    const double all = median_seconds(options.reps, out, false, [&] {
      parallel_chunks(elems, kChunkElems, [&](size_t first, size_t last) {
        amn::kernels::store_f32(source + first, last - first, DType::BF16, out.data() + first * 2);
      });
    });
    print_row({"f32→bf16", "BF16", elems / single / 1e9, elems / all / 1e9, bound[2].first, bound[2].second});
  }

  const auto patterns = load_patterns(options.fixture);
  for (const auto& [block_type, pattern] : patterns) {
    const DType type = block_type;  // a variable the lambdas below can capture (Clang 14)
    const auto& type_info = amn::info(type);
    if (!selected(options, type_info.name)) continue;
    const size_t block_bytes = type_info.block_bits / 8;
    const size_t blocks = elems / type_info.block_elems;
    const auto input = tile(pattern, blocks * block_bytes);
    for (const DType to : {DType::BF16, DType::F32}) {
      const size_t out_size = amn::info(to).block_bits / 8;
      const double single = median_seconds(options.reps, out, cpu_clock, [&] {
        amn::kernels::dequant_elements(type, input.data(), blocks, to, out.data());
      });
      const double all = median_seconds(options.reps, out, false, [&] {
        parallel_chunks(blocks, kChunkElems / type_info.block_elems, [&](size_t first, size_t last) {
          amn::kernels::dequant_elements(type, input.data() + first * block_bytes, last - first, to,
                                         out.data() + first * type_info.block_elems * out_size);
        });
      });
      const double count = static_cast<double>(blocks * type_info.block_elems);
      print_row({std::string(type_info.name), std::string(amn::info(to).name), count / single / 1e9,
                 count / all / 1e9, bound[out_size].first, bound[out_size].second});
    }
  }
  return 0;
}
