// The `amn` command line: inspect, parse, convert, remember.
#include <CLI/CLI.hpp>
#include <rapidjson/ostreamwrapper.h>
#include <rapidjson/writer.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>

#include "amn/amn.hpp"
#include "cli/batch.hpp"
#include "cli/naming.hpp"
#include "cli/report.hpp"
#include "io/display.hpp"
#include "io/output.hpp"
#include "kernels/isa.hpp"

namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
struct Options {
  std::string input;
  std::vector<std::string> inputs;  ///< batch
  std::string from;                 ///< batch --from FILE|-
  bool nul = false;                 ///< batch -0
  unsigned jobs = 1;                ///< batch --jobs
  std::string shard;                ///< batch --shard I/N
  std::string output;
  std::string to;  ///< "" = safetensors, or gguf with --quant
  std::string dtype;
  std::string quant;
  uint64_t blocksize = 0;          ///< --blocksize (bnb-nf4/fp4); 0: not given
  bool double_quant = false;       ///< --double-quant (bnb-nf4/fp4)
  std::string scheme;              ///< --scheme (fp8); "": not given
  std::vector<std::string> skip;   ///< --skip (encoders)
  std::string imatrix;
  std::string output_tensor_type;         ///< --output-tensor-type (with --quant)
  std::string token_embedding_type;       ///< --token-embedding-type (with --quant)
  bool leave_output_tensor = false;       ///< --leave-output-tensor (with --quant)
  std::vector<std::string> tensor_types;  ///< --tensor-type PATTERN=TYPE, repeatable (with --quant)
  std::vector<std::string> gguf_kv;
  std::string gguf_metadata;
  bool pure = false;
  bool json = false;
  bool force = false;
  bool quiet = false;
  bool progress = false;
  bool dry_run = false;
  bool verbose = false;
  unsigned threads = 0;
  std::string memory_budget;
  std::string max_shard_size;
  std::string chunk_size;
  std::string max_alloc;
  std::string max_total;
  uint64_t max_items = 0;
  uint64_t max_ratio = 0;
  amn::TensorSelection selection;
};

/// --select KEY, --strip-prefix P: which tensors of a checkpoint are read, under which names.
void add_selection_options(CLI::App* command, Options& options) {
  const std::string group = "Checkpoints (a state dict wrapped as {\"model\": state_dict, \"epoch\": 3} is read under its own "
                            "names when it is the only one under state_dict, model_state_dict, model, module, model_ema, "
                            "ema or state_dict_ema)";
  command->add_option("--select", options.selection.select,
                      "Read only the tensors under this top-level key, named as inside it (e.g. --select model_ema)")
      ->group(group);
  command->add_option("--strip-prefix", options.selection.strip_prefix,
                      "Remove this from the front of every tensor name that starts with it (e.g. --strip-prefix module.)")
      ->group(group);
}

/// --max-alloc, --max-total, --max-items, --max-ratio: caps on what an input may make amn
/// allocate or count. Each may only lower the built-in ceiling (amn::Limits{}).
void add_limit_options(CLI::App* command, Options& options) {
  const amn::Limits ceiling;
  const std::string group = "Limits (tighten only; the defaults are the ceilings)";
  command->add_option("--max-alloc", options.max_alloc,
                      "Largest single allocation a reader makes (default " + amn::cli::human_bytes(ceiling.max_alloc) + ")")
      ->group(group);
  command->add_option("--max-total", options.max_total,
                      "Heap a whole open may allocate (default " + amn::cli::human_bytes(ceiling.max_total) + ")")
      ->group(group);
  command->add_option("--max-items", options.max_items,
                      "Most tensors, metadata values or archive members (default " + std::to_string(ceiling.max_items) + ")")
      ->check(CLI::Range(uint64_t{1}, ceiling.max_items))
      ->group(group);
  command->add_option("--max-ratio", options.max_ratio,
                      "Highest DEFLATE expansion ratio of a member over 1 MiB (default " + std::to_string(ceiling.max_ratio) + ")")
      ->check(CLI::Range(uint64_t{1}, ceiling.max_ratio))
      ->group(group);
}

/// The caps the --max-* options ask for, each checked to lie under its built-in ceiling.
amn::Limits requested_limits(const Options& options) {
  const amn::Limits ceiling;
  amn::Limits limits;
  for (const auto& [flag, text, field] : {std::tuple{"--max-alloc", options.max_alloc, &limits.max_alloc},
                                          std::tuple{"--max-total", options.max_total, &limits.max_total}}) {
    if (text.empty()) continue;
    auto bytes = amn::parse_size(text);
    if (!bytes || *bytes == 0) throw amn::Error(amn::ErrorCode::Usage, std::string(flag) + ": '" + text + "' is not a size (e.g. 64MiB)");
    if (*bytes > *field) {
      throw amn::Error(amn::ErrorCode::Usage, std::string(flag) + ": " + text + " is above the built-in ceiling of " +
                                                  amn::cli::human_bytes(*field) + " (limits can only be tightened)");
    }
    *field = *bytes;
  }
  if (options.max_items != 0) limits.max_items = options.max_items;
  if (options.max_ratio != 0) limits.max_ratio = options.max_ratio;
  return ceiling.tightened(limits);
}

/// Options shared by convert and remember: the engine's knobs and the reporting flags.
void add_engine_options(CLI::App* command, Options& options) {
  command->add_option("--memory-budget", options.memory_budget,
                      "Peak memory for data in flight (default 512MiB; lowered to fit the cgroup limit)");
  command->add_option("--threads", options.threads,
                      "Worker threads (default: SLURM_CPUS_PER_TASK, else the cgroup CPU quota, else the cores)");
  command->add_option("--max-shard-size", options.max_shard_size,
                      "Split the output into shards of at most this size (e.g. 5GB, 4GiB)");
  command->add_option("--chunk-size", options.chunk_size, "Output bytes per unit of work (default: from the budget)")
      ->group("");
  command->add_flag("--dry-run", options.dry_run, "Print the plan (tensors, shards, bytes) and write nothing");
  command->add_flag("-f,--force", options.force, "Replace existing outputs");
  command->add_flag("--json", options.json, "Print a JSON summary on stdout");
  command->add_flag("--progress", options.progress, "Report progress on stderr even when it is not a terminal");
  command->add_flag("-q,--quiet", options.quiet, "Print nothing on success");
  command->add_flag("-v,--verbose", options.verbose, "Say how the engine runs (threads, chunk size, budget, I/O path, kernel ISA level)");
  add_limit_options(command, options);
  add_selection_options(command, options);
}

const char* const kInputHelp = "Model file or directory (shards); - reads standard input; ollama:NAME[:TAG] a local Ollama model";

const std::map<std::string, amn::DType> kDtypeChoices = {
    {"bf16", amn::DType::BF16}, {"f16", amn::DType::F16}, {"f32", amn::DType::F32}};

std::vector<std::string> dtype_names() {
  std::vector<std::string> names;
  for (const auto& [name, type] : kDtypeChoices) names.push_back(name);
  return names;
}

/// The options of `convert` beside its inputs and -o (shared by `convert` and `batch convert`).
void add_convert_options(CLI::App* convert, Options& options) {
  auto* to = convert->add_option("--to", options.to,
                                 "Output format (default safetensors; gguf with --quant or -o NAME.gguf), or an encoder writing a "
                                 "transformers-loadable directory: bnb-nf4, bnb-fp4, bnb-int8 (bitsandbytes, "
                                 "byte-identical to its CPU quantisers), fp8 (compressed-tensors E4M3, as llm-compressor)")
                ->check(CLI::IsMember({"safetensors", "gguf", "bnb-nf4", "bnb-fp4", "bnb-int8", "fp8"}));
  convert->add_option("--dtype", options.dtype, "Narrow/widen float tensors (and dequantise block types) to this type")
      ->check(CLI::IsMember(dtype_names()));
  std::string quant_names;
  for (const auto& name : amn::quant_type_names()) quant_names += (quant_names.empty() ? "" : " ") + name;
  auto* quant = convert->add_option("--quant", options.quant,
                                     "Quantise into GGUF, each tensor typed as llama-quantize types it (implies --to gguf): " +
                                         quant_names)
                    ->excludes("--dtype");
  convert->add_flag("--pure", options.pure, "With --quant: one type for every quantisable tensor (no mixture)")->needs(quant);
  convert->add_option("--imatrix", options.imatrix, "With --quant: llama.cpp importance matrix (GGUF, from llama-imatrix)")
      ->needs(quant);
  convert->add_option("--output-tensor-type", options.output_tensor_type,
                      "With --quant: this ggml type (q8_0, q6_k, f16, ...) for output.weight, as llama-quantize's option")
      ->needs(quant);
  convert->add_option("--token-embedding-type", options.token_embedding_type,
                      "With --quant: this ggml type for the token embeddings, e.g. --token-embedding-type q8_0")
      ->needs(quant);
  convert->add_flag("--leave-output-tensor", options.leave_output_tensor,
                    "With --quant: keep output.weight as stored (not quantised)")
      ->needs(quant);
  convert->add_option("--tensor-type", options.tensor_types,
                      "With --quant: PATTERN=TYPE, repeatable: tensors whose name the regex PATTERN matches (searched, "
                      "lower-cased; the first matching PATTERN wins) get TYPE instead of the mixture's, as llama-quantize "
                      "--tensor-type, e.g. --tensor-type attn_v=q8_0 --tensor-type 'blk\\.[0-3]\\.ffn_down=q6_k'")
      ->allow_extra_args(false)
      ->needs(quant);
  convert->add_option("--gguf-kv", options.gguf_kv,
                      "GGUF output: set KEY=TYPE:VALUE (TYPE u8 i8 u16 i16 u32 i32 u64 i64 f32 f64 bool str), repeatable")
      ->take_all();
  convert->add_option("--gguf-metadata", options.gguf_metadata,
                      "GGUF output: set the KV pairs of a JSON object {\"KEY\": \"TYPE:VALUE\", \"KEY\": [\"TYPE\", \"VALUE\", ...]} "
                      "(before --gguf-kv, which wins), e.g. {\"general.name\": \"str:Tiny\", \"llama.context_length\": \"u32:512\"}");
  convert->add_option("--blocksize", options.blocksize, "bnb-nf4/bnb-fp4: elements per absmax block (32..4096, default 64)")
      ->needs(to);
  convert->add_flag("--double-quant", options.double_quant,
                    "bnb-nf4/bnb-fp4: quantise the absmax too, as bnb_4bit_use_double_quant does (~0.37 bits less per "
                    "weight; each weight is read twice). Same bytes as bitsandbytes under torch's default threads "
                    "(OMP_NUM_THREADS, else the physical cores), e.g. --to bnb-nf4 --double-quant")
      ->needs(to);
  convert->add_option("--scheme", options.scheme,
                      "fp8: weight scales per tensor (llm-compressor FP8), channel (FP8_DYNAMIC, default) or 128x128 "
                      "block (FP8_BLOCK)")
      ->check(CLI::IsMember({"tensor", "channel", "block"}))
      ->needs(to);
  convert->add_option("--skip", options.skip,
                      "Encoders: leave Linear weights whose module name contains this unquantised (repeatable; lm_head, "
                      "embeddings and norms are never quantised)")
      ->needs(to);
  add_engine_options(convert, options);
}

/// The options of `remember` beside its inputs and -o (shared by `remember` and `batch remember`).
void add_remember_options(CLI::App* remember, Options& options) {
  remember->add_option("--dtype", options.dtype,
                       "Without it: dequantised tensors are written as bf16, every other tensor as stored. With it: "
                       "every float tensor, dequantised or not, as this type (integers stay as stored)")
      ->check(CLI::IsMember(dtype_names()));
  add_engine_options(remember, options);
}

int run_report(const Options& options, bool per_tensor) {
  amn::Catalog catalog = amn::open_model(options.input, requested_limits(options), options.selection);
  const std::optional<amn::DType> dtype =
      options.dtype.empty() ? std::nullopt : std::optional<amn::DType>(kDtypeChoices.at(options.dtype));
  const amn::cli::Recovery recovery = amn::cli::recovery_of(catalog, dtype, options.dtype, requested_limits(options));
  amn::cli::print_catalog(std::cout, options.input, catalog, recovery, per_tensor, options.json);
  return 0;
}

/// Peak resident set size of this process in bytes: VmHWM, which (unlike getrusage's
/// ru_maxrss) does not carry over the peak of the process that exec'd amn.
uint64_t peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  }
  return 0;
}

/// Prints progress on stderr until stopped: a refreshed line on a TTY, an occasional full line
/// elsewhere (only with --progress).
class ProgressPrinter {
 public:
  ProgressPrinter(amn::Progress& progress, bool enabled) : progress_(progress) {
    tty_ = ::isatty(STDERR_FILENO) != 0;
    if (!enabled) return;
    thread_ = std::thread([this] { loop(); });
  }
  ~ProgressPrinter() { stop(); }

  void stop() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    thread_.join();
    if (tty_) {
      std::cerr << "\r\033[K" << std::flush;
    } else {
      print_line();  // a batch log always gets the final count
    }
  }

 private:
  void loop() {
    using namespace std::chrono;
    const auto period = tty_ ? milliseconds(250) : seconds(10);
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, period, [this] { return done_; })) print_line();
  }

  void print_line() {
    double seconds_run = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    uint64_t done = progress_.bytes_done, total = progress_.bytes_total;
    double rate = seconds_run > 0 ? static_cast<double>(done) / seconds_run : 0.0;
    char eta[32] = "?";
    if (rate > 0 && total >= done) std::snprintf(eta, sizeof(eta), "%.0f s", static_cast<double>(total - done) / rate);
    std::cerr << (tty_ ? "\r\033[K" : "") << "amn: " << progress_.tensors_done << "/" << progress_.tensors_total
              << " tensors, " << amn::cli::human_bytes(done) << " / " << amn::cli::human_bytes(total) << ", "
              << amn::cli::human_bytes(static_cast<uint64_t>(rate)) << "/s, ETA " << eta << (tty_ ? "" : "\n")
              << std::flush;
  }

  amn::Progress& progress_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  bool tty_ = false;
  bool done_ = false;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread thread_;
};

void print_plan(const amn::ConvertResult& result) {
  std::cout << "Plan: " << result.tensors << " tensors, " << amn::cli::human_bytes(result.bytes_written) << " ("
            << result.bytes_written << " bytes) in " << result.outputs.size() << " file(s)\n";
  for (const auto& out : result.outputs) {
    std::cout << "  " << amn::io::display(out.path) << "  " << out.tensors << " tensors  "
              << amn::cli::human_bytes(out.bytes) << '\n';
  }
  if (!result.index.empty()) std::cout << "  " << amn::io::display(result.index) << "  (index)\n";
  std::cout << "Tensors: " << result.summary << '\n';
  for (const auto& file : result.side_files) std::cout << "  " << amn::io::display(file) << "  (from the input's directory)\n";
  std::cout << "Engine: " << result.threads << " threads, " << amn::cli::human_bytes(result.chunk_bytes)
            << " chunks, budget " << amn::cli::human_bytes(result.memory_budget) << ", " << result.io_mode << '\n';
}

/// The library options `options` ask of `verb` (convert or remember); throws Error(Usage).
amn::ConvertOptions make_convert_options(const Options& options, const std::string& verb) {
  amn::ConvertOptions convert;
  if (!options.quant.empty() && options.to == "safetensors") {
    throw amn::Error(amn::ErrorCode::Usage, "--quant writes GGUF; it cannot be combined with --to safetensors");
  }
  // without --to: GGUF for --quant or an output named *.gguf, else safetensors
  const bool gguf = !options.quant.empty() || options.output.ends_with(".gguf");
  const std::string format = !options.to.empty() ? options.to : gguf ? "gguf" : "safetensors";
  convert.target = format == "gguf" ? amn::Target::Gguf : amn::Target::Safetensors;
  // An encoder option another output would ignore is refused, not dropped.
  if (options.blocksize != 0 && format != "bnb-nf4" && format != "bnb-fp4") {
    throw amn::Error(amn::ErrorCode::Usage, "--blocksize is for --to bnb-nf4 or bnb-fp4, not " + format);
  }
  if (options.double_quant && format != "bnb-nf4" && format != "bnb-fp4") {
    throw amn::Error(amn::ErrorCode::Usage, "--double-quant is for --to bnb-nf4 or bnb-fp4, not " + format);
  }
  if (!options.scheme.empty() && format != "fp8") {
    throw amn::Error(amn::ErrorCode::Usage, "--scheme is for --to fp8, not " + format);
  }
  if (!options.skip.empty() && !format.starts_with("bnb-") && format != "fp8") {
    throw amn::Error(amn::ErrorCode::Usage, "--skip is for the encoders (--to bnb-nf4, bnb-fp4, bnb-int8, fp8), not " + format);
  }
  if (format.starts_with("bnb-") || format == "fp8") {
    convert.encode = format;
    if (options.blocksize != 0) convert.bnb_blocksize = options.blocksize;
    if (!options.scheme.empty()) convert.fp8_scheme = options.scheme;
    convert.bnb_double_quant = options.double_quant;
    convert.encode_skip = options.skip;
  }
  if (!options.dtype.empty()) convert.dtype = kDtypeChoices.at(options.dtype);
  convert.quant = options.quant;
  convert.pure = options.pure;
  convert.imatrix = options.imatrix;
  convert.output_tensor_type = options.output_tensor_type;
  convert.token_embedding_type = options.token_embedding_type;
  convert.leave_output_tensor = options.leave_output_tensor;
  convert.tensor_types = options.tensor_types;
  if ((!options.gguf_kv.empty() || !options.gguf_metadata.empty()) && convert.target != amn::Target::Gguf) {
    throw amn::Error(amn::ErrorCode::Usage, "--gguf-kv and --gguf-metadata set GGUF metadata; add --to gguf or --quant");
  }
  if (!options.gguf_metadata.empty()) convert.gguf_kv = amn::read_gguf_metadata(options.gguf_metadata);
  for (const auto& text : options.gguf_kv) convert.gguf_kv.push_back(amn::parse_gguf_kv(text));
  convert.dequantize = verb == "remember";
  convert.force = options.force;
  convert.threads = options.threads;
  convert.dry_run = options.dry_run;
  for (const auto& [text, field] : {std::pair{options.memory_budget, &convert.memory_budget},
                                    std::pair{options.max_shard_size, &convert.max_shard_size},
                                    std::pair{options.chunk_size, &convert.chunk_bytes}}) {
    if (text.empty()) continue;
    auto bytes = amn::parse_size(text);
    if (!bytes || *bytes == 0) throw amn::Error(amn::ErrorCode::Usage, "'" + text + "' is not a size (e.g. 512MiB, 5GB)");
    *field = *bytes;
  }
  return convert;
}

/// convert/remember --json: one object with the inputs, outputs and how the engine ran.
void print_convert_json(const char* verb, const Options& options, const amn::ConvertOptions& convert,
                        const amn::Catalog& catalog, const amn::ConvertResult& result, const std::string& format,
                        double seconds) {
  rapidjson::OStreamWrapper stream(std::cout);
  rapidjson::Writer<rapidjson::OStreamWrapper> writer(stream);
  writer.StartObject();
  writer.Key("command");
  writer.String(verb);
  writer.Key("dry_run");
  writer.Bool(options.dry_run);
  writer.Key("inputs");
  writer.StartArray();
  for (const auto& file : catalog.files) amn::io::write_json_string(writer, file);  // shard paths from an index
  writer.EndArray();
  writer.Key("outputs");
  writer.StartArray();
  for (const auto& out : result.outputs) {
    writer.StartObject();
    writer.Key("path");
    amn::io::write_json_string(writer, out.path);
    writer.Key("tensors");
    writer.Uint64(out.tensors);
    writer.Key("bytes");
    writer.Uint64(out.bytes);
    if (convert.share_count > 1) {
      writer.Key("kept");
      writer.Bool(out.kept);
    }
    writer.EndObject();
  }
  writer.EndArray();
  writer.Key("index");
  if (result.index.empty()) {
    writer.Null();
  } else {
    amn::io::write_json_string(writer, result.index);
  }
  writer.Key("files");  // config.json, tokenizer, ... beside the weights (a model directory)
  writer.StartArray();
  for (const auto& file : result.side_files) amn::io::write_json_string(writer, file);
  writer.EndArray();
  if (convert.share_count > 1) {
    writer.Key("files_pending");
    writer.Uint64(result.files_pending);
  }
  writer.Key("format");
  writer.String(format.c_str());
  writer.Key("tensors");
  writer.Uint64(result.tensors);
  writer.Key("summary");
  writer.String(result.summary.c_str());
  writer.Key("bytes");
  writer.Uint64(result.bytes_written);
  writer.Key("seconds");
  writer.Double(seconds);
  writer.Key("peak_rss_bytes");
  writer.Uint64(peak_rss_bytes());
  writer.Key("threads");
  writer.Uint(result.threads);
  writer.Key("memory_budget");
  writer.Uint64(result.memory_budget);
  writer.Key("chunk_bytes");
  writer.Uint64(result.chunk_bytes);
  writer.Key("io");
  writer.String(result.io_mode.c_str());
  writer.EndObject();
  std::cout << '\n';
}

/// convert/remember's lines on stderr: what was written, what was done, a share's state.
void print_convert_done(const char* verb, const Options& options, const amn::ConvertOptions& convert,
                        const amn::ConvertResult& result, const std::string& output, double seconds) {
  std::cerr << "amn: " << verb << " " << amn::io::display(options.input) << " -> "
            << (result.outputs.size() == 1 ? amn::io::display(result.outputs.front().path)
                                           : amn::io::display(output) + " (" + std::to_string(result.outputs.size()) + " shards)")
            << ": " << result.tensors << " tensors, " << amn::cli::human_bytes(result.bytes_written) << " in "
            << seconds << " s\n"
            << "amn: " << result.summary << '\n';
  if (convert.share_count > 1) {
    const auto kept = std::count_if(result.outputs.begin(), result.outputs.end(), [](const auto& out) { return out.kept; });
    std::cerr << "amn: task " << convert.share_index << "/" << convert.share_count << ": " << result.outputs.size()
              << " file(s) of this share (" << kept << " already present), "
              << (result.files_pending == 0 ? "the model is complete"
                                            : std::to_string(result.files_pending) + " file(s) of other tasks pending")
              << '\n';
  }
}

int run_convert(const Options& options, const char* verb) {
  amn::ConvertOptions convert = make_convert_options(options, verb);
  const std::string format = convert.target == amn::Target::Gguf ? "gguf" : "safetensors";
  if (options.json && options.output == "-" && !options.dry_run) {
    throw amn::Error(amn::ErrorCode::Usage, "--json prints on standard output, which carries the model with -o -");
  }
  // Without -o: beside the input, named from it (cli/naming.hpp).
  const std::string output =
      options.output.empty() ? amn::cli::default_output(options.input, amn::cli::output_kind(convert)) : options.output;
  if (!options.shard.empty()) {
    const amn::cli::Share share = amn::cli::parse_share(options.shard);
    convert.share_index = share.index;
    convert.share_count = share.count;
  }
  amn::Progress progress;
  convert.progress = &progress;
  const amn::Limits limits = requested_limits(options);
  auto started = std::chrono::steady_clock::now();
  amn::Catalog catalog = amn::open_model(options.input, limits, options.selection);
  if (options.verbose && !options.dry_run) {
    amn::ConvertOptions plan_only = convert;
    plan_only.dry_run = true;
    amn::ConvertResult plan = amn::convert(catalog, output, plan_only, limits);
    std::cerr << "amn: engine: " << plan.threads << " threads, " << amn::cli::human_bytes(plan.chunk_bytes)
              << " chunks, memory budget " << amn::cli::human_bytes(plan.memory_budget) << ", output through "
              << plan.io_mode << ", kernels " << amn::kernels::isa_name(amn::kernels::active_isa()) << '\n';
  }
  ProgressPrinter printer(progress, !options.quiet && !options.dry_run &&
                                        (options.progress || ::isatty(STDERR_FILENO) != 0));
  amn::ConvertResult result = amn::convert(catalog, output, convert, limits);
  printer.stop();
  if (!options.quiet) {
    for (const auto& warning : result.warnings) std::cerr << "amn: warning: " << warning << '\n';
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (options.json) {
    print_convert_json(verb, options, convert, catalog, result, format, seconds);
  } else if (options.dry_run) {
    print_plan(result);
  } else if (!options.quiet) {
    print_convert_done(verb, options, convert, result, output, seconds);
  }
  return 0;
}

/// `amn batch VERB`: the verb's options, the inputs (and --from), the share.
int run_batch_command(const Options& options, const std::string& verb) {
  amn::cli::BatchRequest request;
  request.verb = verb;
  request.inputs = options.inputs;
  if (!options.from.empty()) {
    std::string text;
    if (options.from == "-") {
      text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
      std::ifstream in(options.from, std::ios::binary);
      if (!in) throw amn::Error(amn::ErrorCode::Io, options.from + ": cannot read the list of inputs");
      text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    for (auto& entry : amn::cli::split_list(text, options.nul)) request.inputs.push_back(std::move(entry));
  }
  request.outdir = options.output;
  request.convert = make_convert_options(options, verb);
  request.limits = requested_limits(options);
  request.selection = options.selection;
  request.jobs = std::max(1u, options.jobs);
  request.share = amn::cli::parse_share(options.shard);
  request.json = options.json;
  request.quiet = options.quiet;
  request.fingerprint = verb + "|" + options.to + "|" + options.dtype + "|" + options.quant + "|" +
                        (options.pure ? "pure" : "") + "|" + options.imatrix + "|" + options.max_shard_size + "|" +
                        options.selection.select + "|" + options.selection.strip_prefix;
  for (const auto& entry : options.gguf_kv) request.fingerprint += "|" + entry;
  request.fingerprint += "|" + options.output_tensor_type + "|" + options.token_embedding_type + "|" +
                         (options.leave_output_tensor ? "leave-output" : "");
  for (const auto& entry : options.tensor_types) request.fingerprint += "|" + entry;
  request.fingerprint += "|" + options.gguf_metadata;
  return amn::cli::run_batch(request);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"amn: inspect, convert and dequantise ML tensor files (safetensors, GGUF, NPZ/NPY, PyTorch)"};
  app.set_version_flag("--version", std::string("amn ") + amn::version());
  app.require_subcommand(1);
  app.footer("Run `amn COMMAND --help` for a command's options and an example.");
  Options options;

  auto* inspect = app.add_subcommand("inspect", "Summarise a model from its headers: format, tensors, size, dtypes, scheme");
  inspect->alias("info");
  inspect->add_option("input", options.input, kInputHelp)->required();
  inspect->add_flag("--json", options.json, "Print one JSON object on stdout");
  add_limit_options(inspect, options);
  add_selection_options(inspect, options);
  inspect->footer("Example: amn inspect model.safetensors --json\n"
                  "Example: amn inspect ollama:llama3.2:1b\n"
                  "Example: amn inspect Llama-3-8B-GPTQ/ --dtype f32   (the size `amn remember --dtype f32` writes)");

  auto* parse = app.add_subcommand("parse", "Everything inspect shows, plus each tensor, the metadata and non-tensor values");
  parse->add_option("input", options.input, kInputHelp)->required();
  parse->add_flag("--json", options.json, "Print one JSON object on stdout");
  add_limit_options(parse, options);
  add_selection_options(parse, options);
  parse->footer("Example: amn parse model.gguf\nExample: amn parse last.ckpt --strip-prefix model.");

  const std::string default_name =
      "; without -o: beside the input, named from it with its quantisation suffix replaced "
      "(Llama-3-8B-Q4_K_M.gguf -> Llama-3-8B-bf16.safetensors, model-gptq-4bit/ -> model-bf16/)";
  inspect->add_option("--dtype", options.dtype, "Report the size `amn remember --dtype TYPE` would write (default: without --dtype)")
      ->check(CLI::IsMember(dtype_names()));

  auto* convert = app.add_subcommand("convert", "Convert a model to safetensors or GGUF (lossless unless --dtype)");
  convert->add_option("input", options.input, kInputHelp)->required();
  convert->add_option("-o,--output", options.output,
                      "Output file, or a directory (DIR/ is created) to hold model.*; from a Hugging Face model "
                      "directory, config.json, tokenizer and other non-weight files are copied beside it; - for "
                      "standard output" + default_name);
  add_convert_options(convert, options);
  convert->footer("Example: amn convert model.pth --to gguf -o model.gguf\n"
                  "Example: amn convert model-f16.gguf --quant Q4_K_M   (writes model-Q4_K_M.gguf)\n"
                  "Example: amn convert model-f16.gguf --quant Q4_K_M --output-tensor-type q8_0 --tensor-type attn_v=q6_k\n"
                  "Example: curl -sL URL | amn convert - --quant Q8_0 -o - > model-Q8_0.gguf\n"
                  "Example: amn convert Llama-3-8B/ --to bnb-nf4 -o Llama-3-8B-nf4/   (from_pretrained loads it)\n"
                  "Example: amn convert Llama-3-8B/ --to fp8 --scheme block -o Llama-3-8B-FP8-block/");

  auto* remember = app.add_subcommand("remember", "Recover full precision into safetensors (alias: dequantize)");
  remember->alias("dequantize");
  remember->add_option("input", options.input, kInputHelp)->required();
  remember->add_option("-o,--output", options.output,
                       "Output .safetensors file, or a directory (DIR/ is created) to hold model.*; from a Hugging "
                       "Face model directory, the other files follow and config.json loses quantization_config; - "
                       "for standard output" + default_name);
  add_remember_options(remember, options);
  const std::string shard_help =
      "One model over N tasks: write only task I's share of the output files (balanced by bytes); the index "
      "appears when the last file is in place, written by whichever task completes the set "
      "(e.g. --max-shard-size 5GB --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)";
  remember->add_option("--shard", options.shard, shard_help);
  convert->add_option("--shard", options.shard, shard_help);
  remember->footer("Example: amn remember model.gguf --dtype bf16 -o model.safetensors\n"
                   "Example: amn remember Llama-3-8B-GPTQ/ -o Llama-3-8B-bf16/   (loads with from_pretrained)\n"
                   "Example: amn remember Llama-3-8B-Q4_K_M.gguf   (writes Llama-3-8B-bf16.safetensors)\n"
                   "Example: curl -sL URL | amn remember - --dtype bf16 -o - | aws s3 cp - s3://bucket/model.safetensors\n"
                   "Example: amn remember ollama:llama3.2:1b -o llama3.2-1b.safetensors");

  auto* batch = app.add_subcommand("batch", "Run remember or convert over many models: a tree, a list, a Slurm array share");
  batch->require_subcommand(1);
  batch->footer("Example: amn batch remember /data/models -o /data/bf16 --jobs 2 --json\n"
                "Example: find /data -name '*.gguf' -print0 | amn batch convert --quant Q4_K_M --from - -0 -o out\n"
                "Example: sbatch --array=0-15 --wrap 'amn batch remember /data/models -o /data/bf16'\n"
                "A rerun skips the models the journal (OUTDIR/.amn-batch/journal.jsonl) verifies and redoes the others.");
  std::map<std::string, CLI::App*> batch_verbs;
  for (const std::string verb : {"remember", "convert"}) {
    auto* command = batch->add_subcommand(verb, "amn " + verb + " on every model found (the options are " + verb + "'s)");
    command->add_option("inputs", options.inputs,
                        "Models, or directories searched for models (a directory holding shards, an index or a "
                        "config.json is one model; .safetensors .gguf .npz .npy .pth .pt .bin files; GGUF split sets once)");
    command->add_option("-o,--output", options.output,
                        "Output directory: each model's output mirrors its path under its INPUT, named as " + verb +
                            " names a default output")
        ->required();
    command->add_option("--from", options.from, "Also read inputs from FILE, one per line (- for standard input)");
    command->add_flag("-0,--null", options.nul, "With --from: entries are NUL-separated (find -print0)");
    command->add_option("--jobs", options.jobs, "Models converted at once, sharing one --memory-budget and one thread pool")
        ->check(CLI::Range(1u, 256u));
    command->add_option("--shard", options.shard,
                        "Take share I of N of the models (balanced by input bytes; default from SLURM_ARRAY_TASK_ID, "
                        "SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_COUNT)");
    if (verb == "remember") {
      add_remember_options(command, options);
    } else {
      add_convert_options(command, options);
    }
    command->footer("--json prints one line per model as it finishes: {\"input\", \"status\": done|skipped|failed, "
                    "\"outputs\", \"bytes\", \"seconds\", \"error\"}; --force redoes verified models too.\n"
                    "Example: amn batch " + verb + " models/ -o out/ --jobs 2");
    batch_verbs[verb] = command;
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    int code = app.exit(error);
    return code == 0 ? 0 : kExitUsage;
  }

  amn::io::install_cleanup_handlers();
  std::signal(SIGXFSZ, SIG_IGN);  // a file-size limit becomes EFBIG from write(), reported and cleaned up
  try {
    if (inspect->parsed()) return run_report(options, false);
    if (parse->parsed()) return run_report(options, true);
    if (convert->parsed()) return run_convert(options, "convert");
    if (remember->parsed()) return run_convert(options, "remember");
    for (const auto& [verb, command] : batch_verbs) {
      if (command->parsed()) return run_batch_command(options, verb);
    }
  } catch (const amn::Error& error) {
    std::cerr << "amn: error: " << error.what() << '\n';  // made safe to print by amn::Error itself
    return error.code() == amn::ErrorCode::Usage ? kExitUsage : kExitError;
  } catch (const std::exception& error) {  // std::filesystem errors quote paths: made safe here
    std::cerr << "amn: error: " << amn::io::safe_message(error.what()) << '\n';
    return kExitError;
  }
  return kExitUsage;
}
