// convert/remember: plan the whole output first (each tensor's dtype and source: plan/plan.cpp;
// here the shard split, every file's header and every tensor's final offset), then stream the
// data through the engine and make the outputs appear atomically.
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <stdexcept>

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include "amn/amn.hpp"
#include "formats/formats.hpp"
#include "io/file.hpp"
#include "io/output.hpp"
#include "io/tensor_data.hpp"
#include "stages/engine/engine.hpp"
#include "stages/open/model_dir.hpp"
#include "stages/plan/plan.hpp"
#include "stages/plan/quant_types.hpp"

namespace amn {
namespace stages {
namespace fs = std::filesystem;

namespace {

/// Where the outputs go: a directory holds `model.<ext>`; a file name is used as given.
struct OutputNames {
  fs::path dir;
  std::string stem;
  std::string ext;      ///< ".safetensors" or ".gguf"
  bool directory = false;  ///< `-o DIR` or `-o DIR/`: a model directory
  bool create = false;     ///< `-o DIR/` that does not exist yet: made when writing starts

  [[nodiscard]] std::string single() const { return (dir / (stem + ext)).string(); }
  [[nodiscard]] std::string shard(size_t shard_idx, size_t count) const {
    char suffix[40];
    std::snprintf(suffix, sizeof(suffix), "-%05zu-of-%05zu", shard_idx + 1, count);
    return (dir / (stem + suffix + ext)).string();
  }
  [[nodiscard]] std::string index() const { return (dir / (stem + ext + ".index.json")).string(); }
};

OutputNames output_names(const std::string& output, Target target) {
  OutputNames names;
  names.ext = target == Target::Gguf ? ".gguf" : ".safetensors";
  if (io::is_stdout(output)) {  // single() is "-"
    names.stem = output;
    names.ext.clear();
    return names;
  }
  fs::path path(output);
  std::error_code error;
  if (fs::is_directory(path, error) || output.ends_with('/')) {
    if (fs::exists(fs::symlink_status(path, error)) && !fs::is_directory(path, error)) {
      throw Error(ErrorCode::Usage, output + ": not a directory");
    }
    names.dir = path;
    names.stem = "model";
    names.directory = true;
    names.create = !fs::is_directory(path, error);
    return names;
  }
  names.dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  names.stem = path.filename().string();
  // A name ending in the other format's extension is a mistake (--to safetensors -o x.gguf wrote
  // x.gguf.safetensors): refused rather than written under a name that misleads.
  const std::string other = target == Target::Gguf ? ".safetensors" : ".gguf";
  if (names.stem.ends_with(other)) {
    throw Error(ErrorCode::Usage, output + ": names a " + (target == Target::Gguf ? "safetensors" : "GGUF") +
                                      " file, but this run writes " + (target == Target::Gguf ? "GGUF" : "safetensors") +
                                      "; name it *" + names.ext + " or change --to");
  }
  if (names.stem.ends_with(names.ext)) names.stem.resize(names.stem.size() - names.ext.size());
  if (path.parent_path().empty()) names.dir = "";
  return names;
}

/// The directories `-o DIR/` needs that do not exist yet, made when writing starts and removed
/// again (those still empty) when the conversion fails, so a failure leaves nothing behind.
class MadeDirectories {
 public:
  explicit MadeDirectories(const fs::path& dir) {
    std::error_code error;
    for (fs::path missing = fs::absolute(dir).lexically_normal(); !missing.empty() && !fs::exists(missing, error);
         missing = missing.parent_path()) {
      made_.push_back(missing);
      if (missing == missing.parent_path()) break;
    }
    std::error_code failed;
    fs::create_directories(dir, failed);
    if (failed) {
      for (const auto& made : made_) fs::remove(made, error);
      fail_io(dir.string(), "cannot create this directory", failed.value());
    }
    for (const auto& made : made_) io::register_made_dir(made.string());  // Ctrl-C removes them too
  }
  ~MadeDirectories() {
    std::error_code error;
    for (const auto& dir : made_) {
      io::unregister_made_dir(dir.string());
      if (!kept_) fs::remove(dir, error);  // deepest first; a non-empty one stays
    }
  }
  MadeDirectories(const MadeDirectories&) = delete;
  MadeDirectories& operator=(const MadeDirectories&) = delete;
  void keep() { kept_ = true; }

 private:
  std::vector<fs::path> made_;
  bool kept_ = false;
};

/// A safetensors output's `__metadata__`: the input's, with `"format": "pt"` first (transformers
/// 4.x refuses a file without it, and reads any other value as another framework's weights).
std::vector<MetaEntry> safetensors_metadata(const std::vector<MetaEntry>& metadata) {
  std::vector<MetaEntry> out{MetaEntry{"format", MetaValue{MetaType::String, MetaType::U8, std::string("pt")}}};
  // As the text the output will hold, not a copy of the values (a GGUF array may hold ten
  // million of them, its text is a few bytes each).
  for (const auto& entry : metadata) {
    if (entry.key == "format") continue;
    out.push_back(MetaEntry{entry.key, MetaValue{MetaType::String, MetaType::U8, formats::safetensors_meta_text(entry.value, entry.key)}});
  }
  return out;
}

/// What happened to the tensors, in one line: "dequantised 14 (to BF16), kept 9 (BF16 ×7, F32
/// ×2)". Each group counts tensors by their label; a group with one label shows no count. An
/// encoder's group counts the weights it encoded: "encoded 14 (56 tensors: F32 ×28, U8 ×28)".
std::string plan_summary(const Plan& plan) {
  static constexpr std::array<const char*, 5> kGroups = {"dequantised", "quantised", "encoded", "cast", "kept"};
  std::array<std::map<std::string, size_t>, kGroups.size()> labels;
  std::set<size_t> encoded_weights;
  for (const auto& planned : plan.tensors) {
    const std::string in(info(planned.in_dtype).name), out(info(planned.out.dtype).name);
    switch (planned.producer->kind()) {
      case SourceKind::Dequantised: ++labels[0]["to " + out]; break;
      case SourceKind::Quantised: ++labels[1][out]; break;
      case SourceKind::Encoded:
        ++labels[2][out];
        encoded_weights.insert(planned.source);
        break;
      case SourceKind::Cast: ++labels[3][in + " to " + out]; break;
      case SourceKind::Copied: ++labels[4][in]; break;
      default: throw std::logic_error("plan_summary: unknown source kind");
    }
  }
  std::string line;
  for (size_t group = 0; group < kGroups.size(); ++group) {
    if (labels[group].empty()) continue;
    size_t count = 0;
    std::string detail;
    for (const auto& [label, tensors] : labels[group]) {
      count += tensors;
      detail += (detail.empty() ? "" : ", ") + label + (labels[group].size() > 1 ? " \u00d7" + std::to_string(tensors) : "");
    }
    if (group == 2) {
      detail = std::to_string(count) + " tensors: " + detail;
      count = encoded_weights.size();
    }
    line += (line.empty() ? "" : ", ") + std::string(kGroups[group]) + " " + std::to_string(count) + " (" + detail + ")";
  }
  return line.empty() ? "no tensors" : line;
}

/// Weight files of an earlier output left in the output directory: `model.<ext>`, its shards
/// and index that this output does not write. A loader would take them for part of the model
/// (from_pretrained reads a stale model.safetensors before a new index), so they are refused,
/// and with --force removed once the new files are in place, as save_pretrained does.
std::vector<std::string> stale_outputs(const OutputNames& names, const std::vector<std::string>& targets) {
  std::vector<std::string> stale;
  std::error_code error;
  if (!names.directory || !fs::is_directory(names.dir, error)) return stale;
  // a directory output is always named model.<ext> (OutputNames)
  const std::regex ours(std::string(R"(model(-\d{5}-of-\d{5})?)") + (names.ext == ".gguf" ? R"(\.gguf)" : R"(\.safetensors)") +
                        R"((\.index\.json)?)");
  for (const auto& entry : fs::directory_iterator(names.dir, error)) {
    const std::string path = (names.dir / entry.path().filename()).string();
    if (std::regex_match(entry.path().filename().string(), ours) &&
        std::find(targets.begin(), targets.end(), path) == targets.end()) {
      stale.push_back(path);
    }
  }
  std::sort(stale.begin(), stale.end());
  return stale;
}

/// Greedy split in tensor order: a shard closes when the next tensor would pass `max_bytes`
/// (a tensor larger than that gets a shard of its own).
std::vector<std::vector<size_t>> split_shards(const Plan& plan, uint64_t max_bytes) {
  std::vector<std::vector<size_t>> shards(1);
  uint64_t in_shard = 0;
  for (size_t planned_idx = 0; planned_idx < plan.tensors.size(); ++planned_idx) {
    uint64_t bytes = plan.tensors[planned_idx].out.nbytes;
    if (max_bytes && !shards.back().empty() && in_shard + bytes > max_bytes) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(planned_idx);
    in_shard += bytes;
  }
  return shards;
}

MetaEntry meta_int(const std::string& key, MetaType type, uint64_t value) {
  MetaEntry entry;
  entry.key = key;
  entry.value.type = type;
  if (type == MetaType::I32) {
    entry.value.value = static_cast<int64_t>(value);
  } else {
    entry.value.value = value;
  }
  return entry;
}

/// The input's KV pairs with `updates` applied in order as gguf_set_val does: an updated key
/// leaves its place and is appended (so a later update of the same key wins). A safetensors
/// input's `"format": "pt"` is the container's framework tag, not model metadata: dropped.
std::vector<MetaEntry> updated_metadata(const Catalog& catalog, const std::vector<MetaEntry>& updates) {
  std::vector<MetaEntry> merged = catalog.metadata;
  if (catalog.format == Format::Safetensors) {
    std::erase_if(merged, [](const MetaEntry& entry) { return entry.key == "format"; });
  }
  for (const auto& update : updates) {
    std::erase_if(merged, [&](const MetaEntry& entry) { return entry.key == update.key; });
    merged.push_back(update);
  }
  return merged;
}

/// `model.safetensors.index.json` as huggingface_hub writes it.
std::string index_json(const std::vector<FilePlan>& files, const Plan& plan, uint64_t total_size) {
  rapidjson::StringBuffer buffer;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> writer(buffer);
  writer.SetIndent(' ', 2);
  writer.StartObject();
  writer.Key("metadata");
  writer.StartObject();
  writer.Key("total_size");
  writer.Uint64(total_size);
  writer.EndObject();
  writer.Key("weight_map");
  writer.StartObject();
  for (const auto& file : files) {
    std::string shard_name = fs::path(file.path).filename().string();
    for (size_t planned_idx : file.tensors) {
      const auto& name = plan.tensors[planned_idx].out.name;
      writer.Key(name.c_str(), static_cast<rapidjson::SizeType>(name.size()));
      writer.String(shard_name.c_str(), static_cast<rapidjson::SizeType>(shard_name.size()));
    }
  }
  writer.EndObject();
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

/// Lays out every output file of the plan.
std::vector<FilePlan> plan_files(const Catalog& catalog, Plan& plan, const ConvertOptions& options,
                                 const OutputNames& names) {
  auto shards = split_shards(plan, options.max_shard_size);
  // The input's metadata is passed as it is unless the plan changes it (or a GGUF output drops a
  // safetensors `format` tag): a GGUF's arrays may hold ten million values, not to be copied.
  const bool edited = !plan.gguf_updates.empty() ||
                      (options.target == Target::Gguf && catalog.format == Format::Safetensors && catalog.find_meta("format"));
  const std::vector<MetaEntry> updated = edited ? updated_metadata(catalog, plan.gguf_updates) : std::vector<MetaEntry>{};
  const std::vector<MetaEntry>& metadata = edited ? updated : catalog.metadata;
  std::vector<FilePlan> files;
  for (size_t shard_idx = 0; shard_idx < shards.size(); ++shard_idx) {
    FilePlan file;
    file.path = shards.size() == 1 ? names.single() : names.shard(shard_idx, shards.size());
    file.tensors = shards[shard_idx];
    std::vector<formats::OutTensor> out;
    for (size_t planned_idx : file.tensors) out.push_back(plan.tensors[planned_idx].out);
    if (options.target == Target::Gguf) {
      std::vector<MetaEntry> split_keys;
      if (shards.size() > 1) {
        split_keys.push_back(meta_int("split.no", MetaType::U16, shard_idx));
        split_keys.push_back(meta_int("split.count", MetaType::U16, shards.size()));
        split_keys.push_back(meta_int("split.tensors.count", MetaType::I32, plan.tensors.size()));
      }
      // As llama.cpp's gguf-split: the model's KV pairs live in the first split only.
      static const std::vector<MetaEntry> kNone;
      file.layout = formats::layout_gguf(out, shard_idx == 0 ? metadata : kNone, split_keys);
    } else {
      file.layout = formats::layout_safetensors(out, safetensors_metadata(metadata));
    }
    for (size_t pos = 0; pos < file.tensors.size(); ++pos) plan.tensors[file.tensors[pos]].out.offset = out[pos].offset;
    files.push_back(std::move(file));
  }
  return files;
}

/// Standard input is read front to back: the plan takes the input's tensor order (a stable sort
/// by where each source tensor's bytes start). Returns a warning when that changed the order.
std::string follow_input_order(const Catalog& catalog, Plan& plan) {
  auto input_offset = [&](const PlannedTensor& planned) {
    const Tensor& tensor = catalog.tensors[planned.source];
    return catalog.storages[tensor.storage].offset + tensor.byte_offset;
  };
  if (std::is_sorted(plan.tensors.begin(), plan.tensors.end(),
                     [&](const auto& a, const auto& b) { return input_offset(a) < input_offset(b); })) {
    return "";
  }
  std::stable_sort(plan.tensors.begin(), plan.tensors.end(),
                   [&](const auto& a, const auto& b) { return input_offset(a) < input_offset(b); });
  return "tensors are written in the input's order (standard input is read front to back), not in the order a "
         "file input would give them";
}

/// Whether `file` is present under its final name with the planned size and header: whole,
/// since outputs appear atomically, and of this plan.
bool present_as_planned(const FilePlan& file) {
  struct stat st {};
  if (::stat(file.path.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) != file.layout.file_size) return false;
  std::vector<std::byte> header(file.layout.header.size());
  try {
    const io::File existing(file.path);
    existing.read_exact(0, header.data(), header.size());
  } catch (const Error&) {
    return false;
  }
  return std::equal(header.begin(), header.end(), file.layout.header.begin(), file.layout.header.end());
}

/// With a share: writes the index once every planned file is present as planned, unless an
/// identical one already is (another task may finish at the same moment: the index appears by
/// an atomic no-replace rename, and the loser finds the winner's identical text). Returns the
/// number of files still missing.
size_t complete_shared_index(const std::vector<FilePlan>& files, const std::string& index, const std::string& text,
                             bool force) {
  const size_t missing = static_cast<size_t>(std::count_if(files.begin(), files.end(), [](const FilePlan& file) {
    return !present_as_planned(file);
  }));
  if (missing != 0 || index.empty()) return missing;
  auto same = [&] {
    std::ifstream in(index, std::ios::binary);
    const std::string existing((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return in.good() || in.eof() ? existing == text : false;
  };
  struct stat st {};
  if (::lstat(index.c_str(), &st) == 0 && same()) return 0;
  io::OutputFile out(index, force);
  out.write_at(0, text.data(), text.size());
  try {
    out.commit();
  } catch (const Error&) {
    if (!same()) throw;
  }
  return 0;
}

}  // namespace
}  // namespace stages

ConvertResult convert(const Catalog& catalog, const std::string& output, const ConvertOptions& options,
                      const Limits& limits) {
  stages::Plan plan = stages::make_plan(catalog, options, limits);
  const bool streamed_input = std::any_of(catalog.files.begin(), catalog.files.end(), [](const auto& file) { return io::is_stdin(file); });
  if (streamed_input) {
    if (auto warning = stages::follow_input_order(catalog, plan); !warning.empty()) plan.warnings.push_back(warning);
  }
  auto names = stages::output_names(output, options.target);
  std::vector<stages::FilePlan> files = stages::plan_files(catalog, plan, options, names);
  if (io::is_stdout(output) && files.size() > 1) {
    throw Error(ErrorCode::Usage, "-o -: standard output takes one file; sharded output (--max-shard-size) needs a directory");
  }
  bool with_index = files.size() > 1 && options.target == Target::Safetensors;

  ConvertResult result;
  result.tensors = plan.tensors.size();
  result.warnings = plan.warnings;
  result.summary = stages::plan_summary(plan);
  uint64_t tensor_bytes = 0;
  for (const auto& planned : plan.tensors) tensor_bytes += planned.out.nbytes;
  // With a share (one model over several tasks): this task's files, minus those present as planned.
  const bool shared = options.share_count > 1;
  if (shared && options.share_index >= options.share_count) throw Error(ErrorCode::Usage, "share index above its count");
  std::vector<uint64_t> file_sizes;
  for (const auto& file : files) file_sizes.push_back(file.layout.file_size);
  std::vector<stages::FilePlan> mine;
  for (size_t file_idx : share_of(file_sizes, shared ? options.share_index : 0, shared ? options.share_count : 1)) {
    const auto& file = files[file_idx];
    const bool kept = shared && !options.force && stages::present_as_planned(file);
    result.outputs.push_back(OutputInfo{file.path, file.layout.file_size, file.tensors.size(), kept});
    if (kept) continue;
    result.bytes_written += file.layout.file_size;
    mine.push_back(file);
  }
  std::string index_text;
  if (with_index) {
    result.index = names.index();
    index_text = stages::index_json(files, plan, tensor_bytes);
    if (!shared) result.bytes_written += index_text.size();
  }
  // A model directory in, a model directory out: config.json (edited to describe the weights)
  // and the tokenizer, generation config, chat template, README... follow the weights.
  std::optional<stages::ModelDirPlan> side_files;
  const std::filesystem::path input_dir = stages::model_directory(catalog);
  if (names.directory && options.target == Target::Safetensors && !input_dir.empty() && options.share_index == 0) {
    side_files = stages::plan_model_dir(input_dir, names.dir, plan.config_edit, limits);
    result.side_files = side_files->targets(names.dir);
  }
  uint64_t largest_file = 0;
  for (const auto& file : mine) largest_file = std::max(largest_file, file.layout.file_size);
  stages::EngineConfig config =
      stages::configure(options, largest_file, streamed_input ? stages::stream_ratio(plan) : 0.0);
  result.threads = config.threads;
  if (!config.threads_note.empty()) result.warnings.push_back(config.threads_note);
  result.memory_budget = config.memory_budget;
  result.chunk_bytes = config.window;
  result.io_mode = std::string(io::write_mode_name(config.mode)) + (config.direct ? "+O_DIRECT" : "");

  // Refuse before writing anything: output == input, or an existing output without --force.
  std::vector<std::string> targets;
  for (const auto& file : mine) targets.push_back(file.path);
  if (with_index && !shared) targets.push_back(result.index);
  targets.insert(targets.end(), result.side_files.begin(), result.side_files.end());
  for (const auto& target : targets) {
    if (io::is_stdout(target)) continue;
    for (const auto& input : catalog.files) io::refuse_same_file(input, target);
    struct stat st {};
    if (!options.force && ::lstat(target.c_str(), &st) == 0) {
      throw Error(ErrorCode::Usage, target + ": exists (use --force to replace it)");
    }
  }
  std::vector<std::string> planned = targets;  // other tasks' files and the index are not stale
  for (const auto& file : files) planned.push_back(file.path);
  if (with_index) planned.push_back(result.index);
  const std::vector<std::string> stale = stages::stale_outputs(names, planned);
  for (const auto& path : stale) {
    for (const auto& input : catalog.files) io::refuse_same_file(input, path);
    if (!options.force) {
      throw Error(ErrorCode::Usage, path + ": weights of an earlier output, which a loader would mix with these (use "
                                           "--force to remove it)");
    }
  }
  if (options.dry_run) return result;

  std::optional<stages::MadeDirectories> made;
  if (names.create) made.emplace(names.dir);
  std::vector<std::unique_ptr<io::OutputFile>> outputs;
  for (const auto& file : mine) outputs.push_back(std::make_unique<io::OutputFile>(file.path, options.force));
  std::unique_ptr<io::OutputFile> index_file;
  if (with_index && !shared) index_file = std::make_unique<io::OutputFile>(result.index, options.force);

  // Callers may tighten the caps, never raise them; no single buffer (a whole inflated member, a
  // strided span) may outgrow the memory budget.
  Limits data_limits = Limits{}.tightened(limits);
  data_limits.max_alloc = std::min(data_limits.max_alloc, config.memory_budget);
  io::TensorData data(catalog, data_limits);
  if (streamed_input) data.set_stream_window(config.stream_window);
  const std::vector<uint32_t> crcs = stages::run_engine(plan, mine, outputs, config, data, options.progress);
  for (size_t mine_idx = 0, out_idx = 0; out_idx < result.outputs.size(); ++out_idx) {
    if (!result.outputs[out_idx].kept) result.outputs[out_idx].crc32 = crcs[mine_idx++];
  }
  data.finish();
  if (index_file) index_file->write_at(0, index_text.data(), index_text.size());
  std::optional<stages::ModelDirOutput> side_output;
  if (side_files) side_output.emplace(*side_files, names.dir, options.force);
  for (auto& out : outputs) out->commit();
  if (index_file) index_file->commit();
  if (side_output) side_output->commit();
  if (made) made->keep();
  if (shared) {
    result.files_pending = stages::complete_shared_index(files, with_index ? result.index : "", index_text, options.force);
    if (result.files_pending != 0) result.index.clear();
  }
  for (const auto& path : stale) {
    std::error_code error;
    if (!std::filesystem::remove(path, error) && error) result.warnings.push_back(path + ": cannot remove this earlier output: " + error.message());
  }
  return result;
}

uint64_t output_bytes(const Catalog& catalog, const ConvertOptions& options, const Limits& limits) {
  stages::Plan plan = stages::make_plan(catalog, options, limits);
  ConvertOptions one_file = options;
  one_file.max_shard_size = 0;
  const auto names = stages::output_names(options.target == Target::Gguf ? "model.gguf" : "model.safetensors", options.target);
  return stages::plan_files(catalog, plan, one_file, names).front().layout.file_size;
}

}  // namespace amn

namespace amn {

std::vector<size_t> share_of(const std::vector<uint64_t>& bytes, unsigned index, unsigned count) {
  std::vector<size_t> order(bytes.size());
  for (size_t item = 0; item < order.size(); ++item) order[item] = item;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return bytes[a] > bytes[b]; });
  std::vector<uint64_t> load(count, 0);
  std::vector<size_t> mine;
  for (size_t item : order) {
    const auto task = static_cast<unsigned>(std::min_element(load.begin(), load.end()) - load.begin());
    load[task] += std::max<uint64_t>(bytes[item], 1);
    if (task == index) mine.push_back(item);
  }
  std::sort(mine.begin(), mine.end());
  return mine;
}

std::vector<std::string> quant_type_names() {
  std::vector<std::string> names;
  for (const auto& entry : quant::file_type_names()) names.emplace_back(entry.name);
  return names;
}

std::optional<uint64_t> parse_size(const std::string& text) {
  size_t used = 0;
  double number = 0;
  try {
    number = std::stod(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (number < 0 || text.empty() || !std::isdigit(static_cast<unsigned char>(text[0]))) return std::nullopt;
  std::string unit = text.substr(used);
  static const std::pair<const char*, double> kUnits[] = {
      {"", 1.0},     {"B", 1.0},         {"KB", 1e3},        {"MB", 1e6},        {"GB", 1e9},           {"TB", 1e12},
      {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0},
      {"K", 1024.0}, {"M", 1048576.0},   {"G", 1073741824.0}, {"T", 1099511627776.0},
  };
  for (const auto& [name, scale] : kUnits) {
    if (unit == name) {
      double bytes = number * scale;
      if (bytes >= 1.8e19) return std::nullopt;
      return static_cast<uint64_t>(bytes);
    }
  }
  return std::nullopt;
}

}  // namespace amn
