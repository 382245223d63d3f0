// `amn batch VERB INPUT... -o OUTDIR`: many models through one process (one memory budget, one
// thread pool), a deterministic share of them per Slurm array task, and a resumable journal in
// OUTDIR that lets a rerun skip what is done and verified.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "amn/amn.hpp"
#include "cli/naming.hpp"

namespace amn::cli {

/// One model found among the inputs.
struct BatchModel {
  std::string input;          ///< what open_model opens (a file, a directory, a split part)
  std::filesystem::path rel;  ///< its path under its INPUT root ("a/b/x-Q4_K_M.gguf", "a/m-gptq")
  bool directory = false;     ///< a directory of shards / a model directory
  uint64_t bytes = 0;         ///< input bytes, for balancing shares
};

/// The models in `inputs`: a file is a model; a directory holding a shard set, an index or a
/// config.json (or quantize_config.json) with weights is one model; any other directory is searched (symlinked directories
/// are not followed) for such directories and for `.safetensors .gguf .npz .npy .pth .pt .bin`
/// files, a GGUF split set counting once; everything else, hidden entries and `skip` (OUTDIR) are
/// skipped. Sorted by output path, duplicates removed.
[[nodiscard]] std::vector<BatchModel> discover_models(const std::vector<std::string>& inputs,
                                                      const std::filesystem::path& skip);

/// Input paths listed in `text`, one per line (or NUL-separated when `nul`); empty entries skipped.
[[nodiscard]] std::vector<std::string> split_list(const std::string& text, bool nul);

/// A share request: `--shard I/N`, else from SLURM_ARRAY_TASK_ID/MIN/COUNT, else none.
struct Share {
  unsigned index = 0;
  unsigned count = 1;
};
/// Parses "I/N" (0 <= I < N); throws Error(Usage). Empty text: the Slurm array variables, or 0/1.
[[nodiscard]] Share parse_share(const std::string& text);

/// Everything one batch run needs.
struct BatchRequest {
  std::string verb;                  ///< "remember" or "convert"
  std::vector<std::string> inputs;   ///< positional inputs and those from --from
  std::string outdir;
  ConvertOptions convert;            ///< the verb's options (force = redo verified models too)
  Limits limits;
  TensorSelection selection;
  unsigned jobs = 1;
  Share share;
  std::string fingerprint;           ///< the options that decide the outputs' bytes, as given
  bool json = false;
  bool quiet = false;
};

/// Runs the batch; returns the exit status (0 when every model of the share is done or skipped).
[[nodiscard]] int run_batch(const BatchRequest& request);

}  // namespace amn::cli
