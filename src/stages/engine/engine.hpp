// The streaming engine: output windows flow through read → transform → write in a oneTBB
// pipeline with a bounded number of buffers; each window is written at its final offset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "amn/amn.hpp"
#include "formats/formats.hpp"
#include "io/output.hpp"
#include "io/tensor_data.hpp"
#include "io/writer.hpp"
#include "stages/plan/plan.hpp"

namespace amn::stages {

/// One planned output file: its layout and which planned tensors it holds.
struct FilePlan {
  std::string path;
  formats::OutLayout layout;
  std::vector<size_t> tensors;  ///< indices into Plan::tensors, in file order
};

/// How the engine runs, decided once from the options, the machine and the plan.
struct EngineConfig {
  unsigned threads = 1;
  std::string threads_note;     ///< "" or why the thread count asked for was lowered
  uint64_t window = 0;          ///< output bytes per work item
  size_t buffers = 0;           ///< window buffers in flight (pipeline tokens + queued writes)
  io::WriteMode mode = io::WriteMode::Pwrite;
  bool direct = false;          ///< O_DIRECT output (window a multiple of kDirectAlign)
  uint64_t memory_budget = 0;
  uint64_t stream_window = 0;   ///< standard input: bytes kept behind the furthest read (0: a file)
};

/// Output bytes of alignment O_DIRECT needs (offsets, lengths, buffer addresses).
inline constexpr uint64_t kDirectAlign = 4096;

/// Input bytes per output byte, the most over the plan's tensors: what standard input keeps
/// for each window in flight.
[[nodiscard]] double stream_ratio(const Plan& plan);

/// Chooses threads, window size, buffer count and I/O mode under `options`; no window is larger
/// than the largest output file needs. `stream_ratio` (standard input only, else 0): the input
/// kept for the windows in flight (stream_window) comes out of the same budget.
[[nodiscard]] EngineConfig configure(const ConvertOptions& options, uint64_t largest_file, double stream_ratio = 0.0);

/// Streams every file of `files` into `outputs` (same order, already created). Throws Error;
/// on any failure the caller's OutputFiles remove their temp files. When the output is standard
/// output or the input standard input (config.stream_window > 0), windows are written in order:
/// those that finish early wait, so the windows in flight are at most the pipeline's tokens apart.
/// Returns each file's CRC-32 (of all its bytes, computed from the windows as they were filled).
[[nodiscard]] std::vector<uint32_t> run_engine(const Plan& plan, const std::vector<FilePlan>& files,
                std::vector<std::unique_ptr<io::OutputFile>>& outputs, const EngineConfig& config,
                io::TensorData& data, Progress* progress);

}  // namespace amn::stages
