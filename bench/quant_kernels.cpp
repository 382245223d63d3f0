// Quantisation throughput: kernels::quantize_rows (the GGUF quantisers `amn convert --quant` runs)
// per block type on one thread, without and with an importance matrix. Prints a Markdown table
// of the minimum and median time per run and the minimum's throughput.
//
// Input: `rows` rows of `cols` (4096 by default) Gaussian values, σ = 0.02 as in trained weights,
// and an importance matrix exp(N(0, 1)) per column, as test/fixtures/gen/gen_quant.py draws
// them; fixed seeds, so every run (and every build) quantises the same data. Compare with
// llama.cpp through ggml_quantize_chunk on the same data (it runs the same scalar code on every
// thread): the single-thread times are the figure of merit.
//
// usage: amn-bench-quant [--reps N] [--rows N] [--cols N] [--only TYPE,...] [--imatrix no|yes|both]
//                        [--clock wall|cpu]
//        (TYPE as ggml spells it; default: every type quantize_rows handles)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "amn/dtype.hpp"
#include "kernels/quantize.hpp"

namespace {

using amn::DType;

constexpr size_t kDefaultRows = 512;
constexpr size_t kDefaultCols = 4096;
constexpr size_t kDefaultReps = 5;
constexpr float kWeightSigma = 0.02f;
constexpr uint32_t kDataSeed = 1234;
constexpr uint32_t kImatrixSeed = 5678;

/// Every block type quantize_rows handles, in ggml's type-id order.
constexpr DType kTypes[] = {DType::Q4_0,    DType::Q4_1,  DType::Q5_0,  DType::Q5_1,   DType::Q8_0,   DType::Q2_K,
                            DType::Q3_K,    DType::Q4_K,  DType::Q5_K,  DType::Q6_K,   DType::IQ2_XXS, DType::IQ2_XS,
                            DType::IQ3_XXS, DType::IQ1_S, DType::IQ4_NL, DType::IQ3_S, DType::IQ2_S,  DType::IQ4_XS,
                            DType::IQ1_M,   DType::TQ1_0, DType::TQ2_0, DType::MXFP4,  DType::NVFP4,  DType::Q1_0,
                            DType::Q2_0};

struct Options {
  size_t reps = kDefaultReps;
  size_t rows = kDefaultRows;
  size_t cols = kDefaultCols;
  std::vector<std::string> only;
  bool without_imatrix = true;
  bool with_imatrix = true;
  bool thread_cpu_clock = true;
};

/// Now in seconds: this thread's CPU time (leaves out the time other processes hold the core,
/// the noise of a shared machine) or the wall clock.
double seconds_now(bool thread_cpu) {
  if (!thread_cpu) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
  timespec time{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time);
  return static_cast<double>(time.tv_sec) + static_cast<double>(time.tv_nsec) * 1e-9;
}

Options parse_args(int argc, char** argv) {
  Options options;
  for (int arg = 1; arg + 1 < argc; arg += 2) {
    const std::string key = argv[arg];
    const std::string value = argv[arg + 1];
    if (key == "--reps") options.reps = std::max<size_t>(1, std::stoul(value));
    if (key == "--rows") options.rows = std::stoul(value);
    if (key == "--cols") options.cols = std::stoul(value);
    if (key == "--clock") options.thread_cpu_clock = value != "wall";
    if (key == "--imatrix") {
      options.without_imatrix = value != "yes";
      options.with_imatrix = value != "no";
    }
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

bool selected(const Options& options, std::string_view name) {
  if (options.only.empty()) return true;
  return std::find(options.only.begin(), options.only.end(), name) != options.only.end();
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_args(argc, argv);
  const size_t elems = options.rows * options.cols;

  std::vector<float> input(elems);
  std::mt19937 data_rng(kDataSeed);
  std::normal_distribution<float> gauss(0.0f, kWeightSigma);
  for (float& value : input) value = gauss(data_rng);
  std::vector<float> imatrix(options.cols);
  std::mt19937 imatrix_rng(kImatrixSeed);
  std::normal_distribution<float> log_importance(0.0f, 1.0f);
  for (float& value : imatrix) value = std::exp(log_importance(imatrix_rng));

  std::printf("%zu rows × %zu columns (Gaussian σ = %g), 1 thread timed by the %s, %zu runs\n\n", options.rows,
              options.cols, static_cast<double>(kWeightSigma), options.thread_cpu_clock ? "thread's CPU time" : "wall clock",
              options.reps);
  std::printf("| type | imatrix | min ms | median ms | Melem/s |\n| --- | --- | ---: | ---: | ---: |\n");
  std::vector<std::byte> output;
  for (const DType type : kTypes) {
    const auto& type_info = amn::info(type);
    if (!selected(options, type_info.name) || options.cols % type_info.block_elems != 0) continue;
    output.assign(elems / type_info.block_elems * type_info.block_bits / 8, std::byte{0});
    for (const bool use_imatrix : {false, true}) {
      if (use_imatrix ? !options.with_imatrix : !options.without_imatrix) continue;
      if (!use_imatrix && amn::kernels::quantize_needs_imatrix(type)) continue;
      const float* weights = use_imatrix ? imatrix.data() : nullptr;
      std::vector<double> times;
      for (size_t rep = 0; rep <= options.reps; ++rep) {  // run 0 warms up
        const double start = seconds_now(options.thread_cpu_clock);
        amn::kernels::quantize_rows(type, input.data(), options.rows, options.cols, weights, output.data());
        if (rep > 0) times.push_back(seconds_now(options.thread_cpu_clock) - start);
      }
      std::sort(times.begin(), times.end());
      std::printf("| %s | %s | %.2f | %.2f | %.0f |\n", std::string(type_info.name).c_str(), use_imatrix ? "yes" : "no",
                  times.front() * 1e3, times[times.size() / 2] * 1e3, static_cast<double>(elems) / times.front() / 1e6);
      std::fflush(stdout);
    }
  }
  return 0;
}
