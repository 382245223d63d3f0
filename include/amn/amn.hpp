// amn — public entry points: open a model, read its tensors, convert it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "amn/catalog.hpp"
#include "amn/dtype.hpp"
#include "amn/error.hpp"
#include "amn/limits.hpp"

namespace amn {

/// The library version string ("0.1.0").
[[nodiscard]] const char* version();

/// Which tensors open_model keeps and how it names them.
struct TensorSelection {
  /// Keep only the tensors under this top-level key, named as inside it ("model" turns
  /// "model.layers.0.weight" into "layers.0.weight"). Empty: automatic, i.e. a PyTorch checkpoint
  /// holding exactly one state dict under a conventional key (state_dict, model_state_dict,
  /// model, module, model_ema, ema, state_dict_ema) is read as that state dict.
  std::string select;
  std::string strip_prefix;  ///< then removed from the front of every name that starts with it
};

/// Reads the headers of FILE or DIR (shards, `model.safetensors.index.json`, GGUF splits) and
/// returns the catalog. Never reads tensor data. Throws Error. Tensors left out by `selection`
/// are named in Catalog::extras ("optimizer" -> "dict holding 8 tensors, left out"). The path
/// "-" is standard input (safetensors, GGUF or NPY, read once, front to back; `convert` then
/// reads its data), and `ollama:NAME[:TAG]` a model in the local Ollama store (its GGUF blob,
/// found safely).
[[nodiscard]] Catalog open_model(const std::string& path, const Limits& limits = {},
                                 const TensorSelection& selection = {});

/// Detects the format of one file by extension, then by magic bytes; nullopt if unknown.
[[nodiscard]] std::optional<Format> detect_format(const std::string& path);

/// Output container for convert/remember.
enum class Target : uint8_t { Safetensors, Gguf };

/// Live counters of a running conversion, for progress displays (read from another thread), and
/// its stop request. Use a fresh Progress for each conversion.
struct Progress {
  std::atomic<uint64_t> bytes_done{0};     ///< output bytes written so far
  std::atomic<uint64_t> bytes_total{0};    ///< output bytes in all (set when writing starts)
  std::atomic<uint64_t> tensors_done{0};   ///< output tensors complete so far
  std::atomic<uint64_t> tensors_total{0};  ///< output tensors in all (set when writing starts)
  /// Set to true, from any thread or a signal handler (a lock-free store), to stop the
  /// conversion: it is checked before each chunk of work, convert then throws
  /// Error(ErrorCode::Cancelled) and every partial output is removed, nothing is left under
  /// the output names. A conversion that has already written its last chunk completes.
  std::atomic<bool> cancel{false};
};

/// Options for convert/remember.
struct ConvertOptions {
  Target target = Target::Safetensors;
  std::optional<DType> dtype;       ///< narrow/widen float tensors to this (F32/F16/BF16); none = keep
  bool dequantize = false;          ///< dequantise block types (to `dtype`, default BF16): remember
  /// GGUF target: a type name llama-quantize accepts (Q4_K_M, Q8_0, IQ4_XS, F16, ...); each
  /// tensor's type is chosen as llama-quantize chooses it. "" = none.
  std::string quant;
  bool pure = false;                ///< with `quant`: one type for every quantisable tensor (llama-quantize --pure)
  std::string imatrix;              ///< with `quant`: llama.cpp importance matrix (GGUF) path, "" = none
  /// With `quant`, llama-quantize's per-tensor overrides (type names as ggml spells them, any case):
  std::string output_tensor_type;    ///< output.weight's type (--output-tensor-type), "" = the mixture's
  std::string token_embedding_type;  ///< the token embeddings' type (--token-embedding-type), "" = the mixture's
  bool leave_output_tensor = false;  ///< output.weight kept as stored (--leave-output-tensor)
  std::vector<std::string> tensor_types;  ///< "PATTERN=TYPE" (--tensor-type): regex on the name, first match wins
  std::vector<MetaEntry> gguf_kv;   ///< GGUF target: KV pairs set last, replacing the input's (parse_gguf_kv)
  /// Encode into a Hugging Face quantised layout (safetensors target): "bnb-nf4", "bnb-fp4",
  /// "bnb-int8" (bitsandbytes, as transformers saves it) or "fp8" (compressed-tensors
  /// float-quantized E4M3). "" = none. Linear weights are encoded (rank-2 float `*.weight`, not
  /// lm_head, embeddings or norms, nor names containing an `encode_skip` entry, nor a sparse MoE's
  /// experts and router); the rest is kept.
  std::string encode;
  uint64_t bnb_blocksize = 64;      ///< bnb-nf4/fp4: elements per absmax block (32..4096, a power of two)
  /// bnb-nf4/fp4: quantise the absmax too (bnb_4bit_use_double_quant); reads each weight twice,
  /// once at plan time for the mean of its absmax
  bool bnb_double_quant = false;
  std::string fp8_scheme = "channel";  ///< fp8: "tensor", "channel" or "block" (128x128) scales
  std::vector<std::string> encode_skip;  ///< encode: module name parts left unquantised (--skip)
  bool force = false;               ///< replace existing outputs
  uint64_t memory_budget = 512ull << 20;  ///< peak bytes of data buffers in flight (lowered to fit cgroup memory.max)
  uint64_t chunk_bytes = 0;         ///< output bytes per unit of work; 0 = derived from the budget
  unsigned threads = 0;             ///< 0 = SLURM_CPUS_PER_TASK, else cgroup cpu.max, else the cores
  uint64_t max_shard_size = 0;      ///< 0 = one output file
  bool dry_run = false;             ///< plan only: write nothing
  Progress* progress = nullptr;     ///< optional live counters and stop request (Progress::cancel)
  /// One model over several processes (Slurm array tasks): write only the output files that
  /// share_of(file sizes, share_index, share_count) assigns to this task. A file already present
  /// under its final name with the planned size and header is kept, not rewritten (files appear
  /// atomically, so a present one is whole). The index (model.safetensors.index.json) is written
  /// by whichever task finds every file present and matching after committing its own; the
  /// config.json and other side files of a model directory by task 0. 1 = one process writes all.
  unsigned share_count = 1;
  unsigned share_index = 0;         ///< this task's number, below share_count
};

/// One output file of a conversion.
struct OutputInfo {
  std::string path;
  uint64_t bytes = 0;
  uint64_t tensors = 0;
  bool kept = false;  ///< with a share: already present with the planned size and header, not rewritten
  uint32_t crc32 = 0;  ///< CRC-32 of the bytes written (0 when kept or with dry_run)
};

/// What convert wrote (or, with dry_run, would write) and how.
struct ConvertResult {
  std::vector<OutputInfo> outputs;  ///< in shard order
  std::string index;                ///< model.safetensors.index.json path when sharded safetensors (with a share: once present)
  size_t files_pending = 0;         ///< with a share: planned files of other tasks not present yet
  /// A model directory in and out (`-o DIR/`): config.json and the other non-weight files
  /// written beside the weights (tokenizer, generation config, ...).
  std::vector<std::string> side_files;
  uint64_t tensors = 0;
  /// What was done to the tensors, one line: "dequantised 14 (to BF16), kept 9 (BF16 ×7, F32 ×2)"
  /// (groups: dequantised, quantised, cast, kept; labels: out type, in to out type, stored type).
  std::string summary;
  uint64_t bytes_written = 0;       ///< sum of output file sizes (index included)
  std::string io_mode;              ///< "io_uring" or "pwrite", "+O_DIRECT" when used
  unsigned threads = 0;
  uint64_t memory_budget = 0;       ///< budget in force after the cgroup check
  uint64_t chunk_bytes = 0;         ///< output bytes per unit of work
  std::vector<std::string> warnings;  ///< what the person running it should know (fallbacks, no architecture)
};

/// Task `index` of `count`: its share of items sized `bytes`, balanced by bytes (largest first,
/// each to the least loaded task; ties by position, then task number), in item order. Every task
/// computes the same assignment from the same sizes. `amn batch --shard` and
/// ConvertOptions::share_count use it.
[[nodiscard]] std::vector<size_t> share_of(const std::vector<uint64_t>& bytes, unsigned index, unsigned count);

/// Parses `KEY=TYPE:VALUE` (TYPE one of u8 i8 u16 i16 u32 i32 u64 i64 f32 f64 bool str; bool
/// is true/false), e.g. `general.name=str:My model`. Throws Error(Usage) naming what is wrong.
[[nodiscard]] MetaEntry parse_gguf_kv(const std::string& text);

/// Reads `--gguf-metadata FILE.json`: one JSON object (through the untrusted-JSON policy, at most
/// 16 MiB) whose members are `"KEY": "TYPE:VALUE"` (one value, typed as parse_gguf_kv types it)
/// or `"KEY": ["TYPE", "VALUE", ...]` (an array of TYPE; each element a JSON string read by the
/// same rule), in file order. Throws Error(Parse) naming the file and key for anything else
/// (another JSON type, an unknown TYPE, a value that is not one, a key given twice).
[[nodiscard]] std::vector<MetaEntry> read_gguf_metadata(const std::string& path);

/// Every type name `ConvertOptions::quant` accepts, as llama-quantize lists them.
[[nodiscard]] std::vector<std::string> quant_type_names();

/// Parses a size with an optional unit: "512", "64KiB", "5GB", "4GiB", "1.5G" (G = GiB).
/// Returns nullopt for anything else.
[[nodiscard]] std::optional<uint64_t> parse_size(const std::string& text);

/// Writes `catalog` to `output` (a file, or a directory to hold `model.*`) in the target format,
/// streaming bounded chunks through the pipeline. Every output appears atomically under its
/// final name or not at all; "-" is standard output (one file, written in order, not atomic). Throws Error; Error(ErrorCode::Cancelled) when
/// `options.progress->cancel` was set.
///
/// No process-wide side effects: convert installs no signal handlers (the `amn` command installs
/// its own SIGINT/SIGTERM cleanup and ignores SIGXFSZ; a program using the library keeps its
/// own handlers, and can stop a conversion cleanly by setting Progress::cancel from one), and
/// it limits oneTBB's parallelism to `options.threads` only through a tbb::global_control
/// scoped to the call, so no TBB limit is left behind when convert returns or throws.
ConvertResult convert(const Catalog& catalog, const std::string& output, const ConvertOptions& options,
                      const Limits& limits = {});

/// The size in bytes of the one file convert would write for `catalog` with `options` (as if
/// `max_shard_size` were 0 and `output` a plain file): headers included, so equal to the file
/// `amn remember` / `amn convert` then writes. Plans only (recognises the schemes, reads no
/// tensor data but the small companions recognition needs). Throws what convert would refuse.
[[nodiscard]] uint64_t output_bytes(const Catalog& catalog, const ConvertOptions& options, const Limits& limits = {});

/// Called by convert_with_progress on the calling thread with the live counters. It may set
/// `progress.cancel` to stop the conversion; an exception it throws stops it too.
using ProgressCallback = std::function<void(Progress& progress)>;

/// convert() on a worker thread while the calling thread calls `on_progress` about every
/// `interval` (first right after the start), and once more after a successful conversion with
/// the final counters. The counters are `*options.progress` when set, else the helper's own.
/// Returns what convert returns; throws what it throws (Error(ErrorCode::Cancelled) after
/// `progress.cancel`), or, when `on_progress` throws, cancels the conversion, waits for its
/// outputs to be removed and rethrows that exception.
ConvertResult convert_with_progress(const Catalog& catalog, const std::string& output, ConvertOptions options,
                                    const ProgressCallback& on_progress,
                                    std::chrono::milliseconds interval = std::chrono::milliseconds(100),
                                    const Limits& limits = {});

}  // namespace amn

namespace amn {

/// The quantisation scheme, named by the same recognisers `remember` uses (one rule each), from
/// tensor names, dtypes, shapes, config.json and the small companion tensors they read
/// ("GGUF Q4_K", "GPTQ 4-bit, group 128", "FP8 E4M3 (per-tensor)", "compressed-tensors NVFP4",
/// "MXFP4 (gpt-oss experts)", ...), or "" for none. Throws the Error with which `remember` would
/// refuse a scheme it recognises but cannot dequantise.
[[nodiscard]] std::string quant_scheme(const Catalog& catalog, const Limits& limits = {});

}  // namespace amn
