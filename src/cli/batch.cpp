// `amn batch` (batch.hpp): discovery, shares, the journal and the run.
//
// The journal is OUTDIR/.amn-batch/journal.jsonl: one JSON object per finished model, appended
// with one write() under an exclusive flock (no torn or interleaved line, even from several
// processes or over NFS), recording the options, each input file's size and mtime and each
// output's size and CRC-32. A model is converted while its lock file
// (OUTDIR/.amn-batch/locks/HASH.lock) is flocked, so two processes never write the same model at
// once; the second waits, then finds it journalled and verified and skips it.
#include "cli/batch.hpp"

#include <fcntl.h>
#include <libdeflate.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "cli/report.hpp"
#include "io/display.hpp"
#include "io/json.hpp"

namespace amn::cli {
namespace fs = std::filesystem;
namespace {

const std::set<std::string> kModelExtensions = {".safetensors", ".gguf", ".npz", ".npy", ".pth", ".pt", ".bin"};
const std::regex kSplitPart("(.*)-([0-9]{5})-of-([0-9]{5})\\.(gguf|safetensors)$");

uint64_t file_size_or_zero(const fs::path& path) {
  std::error_code error;
  const auto size = fs::file_size(path, error);
  return error ? 0 : size;
}

/// A directory that is one model: it holds an index, a safetensors shard set, or a config.json
/// (or quantize_config.json) beside weights. Its weight bytes go to `bytes`.
bool is_model_directory(const fs::path& dir, uint64_t& bytes) {
  bool index = false, shards = false, config = false, weights = false;
  bytes = 0;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    if (name.ends_with(".index.json")) index = true;
    if (name == "config.json" || name == "quantize_config.json") config = true;
    if (!entry.is_regular_file(error)) continue;
    if (kModelExtensions.contains(entry.path().extension().string())) {
      weights = true;
      bytes += file_size_or_zero(entry.path());
      std::smatch match;
      if (std::regex_match(name, match, kSplitPart) && match[4] == "safetensors") shards = true;
    }
  }
  return weights && (index || shards || config);
}

void add_file(std::vector<BatchModel>& models, const fs::path& file, const fs::path& rel) {
  const std::string name = file.filename().string();
  std::smatch match;
  BatchModel model{file.string(), rel, false, file_size_or_zero(file)};
  if (std::regex_match(name, match, kSplitPart) && match[4] == "gguf") {
    if (match[2] != "00001") return;  // the set is found through its first part
    const int count = std::stoi(match[3]);
    for (int part = 2; part <= count; ++part) {
      char suffix[32];
      std::snprintf(suffix, sizeof(suffix), "-%05d-of-%05d.gguf", part, count);
      model.bytes += file_size_or_zero(file.parent_path() / (std::string(match[1]) + suffix));
    }
  }
  models.push_back(std::move(model));
}

void search(std::vector<BatchModel>& models, const fs::path& dir, const fs::path& rel, const fs::path& skip) {
  std::error_code error;
  if (!skip.empty() && fs::equivalent(dir, skip, error)) return;
  uint64_t bytes = 0;
  if (is_model_directory(dir, bytes)) {
    models.push_back(BatchModel{dir.string(), rel.empty() ? dir.filename() : rel, true, bytes});
    return;
  }
  std::vector<fs::directory_entry> entries;
  for (const auto& entry : fs::directory_iterator(dir, error)) entries.push_back(entry);
  std::sort(entries.begin(), entries.end());
  for (const auto& entry : entries) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with(".")) continue;
    if (entry.is_directory(error) && !entry.is_symlink(error)) {
      search(models, entry.path(), rel / name, skip);
    } else if (entry.is_regular_file(error) && kModelExtensions.contains(entry.path().extension().string())) {
      add_file(models, entry.path(), rel / name);
    }
  }
}

}  // namespace

std::vector<BatchModel> discover_models(const std::vector<std::string>& inputs, const fs::path& skip) {
  std::vector<BatchModel> models;
  for (const auto& input : inputs) {
    fs::path path = fs::path(input).lexically_normal();
    if (!path.has_filename()) path = path.parent_path();
    std::error_code error;
    if (path.filename().string().ends_with(".index.json")) path = path.parent_path();
    if (path.empty()) path = ".";
    if (fs::is_directory(path, error)) {
      const fs::path name = fs::absolute(path).lexically_normal().filename();
      uint64_t bytes = 0;
      if (is_model_directory(path, bytes)) {
        models.push_back(BatchModel{path.string(), name, true, bytes});
      } else {
        search(models, path, "", skip);
      }
    } else {
      // A file named on the command line is a model whatever its extension (its format is
      // detected when it is opened; a missing one fails on its own).
      const size_t before = models.size();
      add_file(models, path, path.filename());
      if (models.size() == before) {  // a later part of a split set: the set, from its first part
        std::smatch match;
        const std::string name = path.filename().string();
        std::regex_match(name, match, kSplitPart);
        char suffix[32];
        std::snprintf(suffix, sizeof(suffix), "-00001-of-%s.gguf", std::string(match[3]).c_str());
        add_file(models, path.parent_path() / (std::string(match[1]) + suffix), std::string(match[1]) + suffix);
      }
    }
  }
  std::sort(models.begin(), models.end(), [](const BatchModel& a, const BatchModel& b) {
    return std::tie(a.rel, a.input) < std::tie(b.rel, b.input);
  });
  models.erase(std::unique(models.begin(), models.end(),
                           [](const BatchModel& a, const BatchModel& b) { return a.input == b.input && a.rel == b.rel; }),
               models.end());
  return models;
}

std::vector<std::string> split_list(const std::string& text, bool nul) {
  std::vector<std::string> entries;
  std::string entry;
  std::istringstream in(text);
  while (std::getline(in, entry, nul ? '\0' : '\n')) {
    if (!nul && entry.ends_with('\r')) entry.pop_back();
    if (!entry.empty()) entries.push_back(entry);
  }
  return entries;
}

Share parse_share(const std::string& text) {
  auto number = [](const std::string& digits, const std::string& what) -> unsigned {
    if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) {
      throw Error(ErrorCode::Usage, what + ": '" + digits + "' is not a number");
    }
    return static_cast<unsigned>(std::stoul(digits));
  };
  Share share;
  if (!text.empty()) {
    const size_t slash = text.find('/');
    if (slash == std::string::npos) throw Error(ErrorCode::Usage, "--shard: '" + text + "' is not I/N (e.g. 0/4)");
    share.index = number(text.substr(0, slash), "--shard");
    share.count = number(text.substr(slash + 1), "--shard");
  } else if (const char* id = std::getenv("SLURM_ARRAY_TASK_ID")) {
    const char* min = std::getenv("SLURM_ARRAY_TASK_MIN");
    const char* count = std::getenv("SLURM_ARRAY_TASK_COUNT");
    if (!min || !count) throw Error(ErrorCode::Usage, "SLURM_ARRAY_TASK_ID is set without SLURM_ARRAY_TASK_MIN/COUNT");
    const unsigned first = number(min, "SLURM_ARRAY_TASK_MIN");
    const unsigned task = number(id, "SLURM_ARRAY_TASK_ID");
    share.count = number(count, "SLURM_ARRAY_TASK_COUNT");
    if (task < first) throw Error(ErrorCode::Usage, "SLURM_ARRAY_TASK_ID is below SLURM_ARRAY_TASK_MIN");
    share.index = task - first;
    if (share.index >= share.count) {
      throw Error(ErrorCode::Usage, "SLURM array task " + std::string(id) + " is not in MIN..MIN+COUNT-1 (an array with steps? "
                                    "use --array=0-N-1, or pass --shard I/N)");
    }
  }
  if (share.count == 0 || share.index >= share.count) {
    throw Error(ErrorCode::Usage, "--shard " + text + ": I must be below N and N above 0");
  }
  return share;
}

namespace {

// --- the journal --------------------------------------------------------------------------------

struct FileStamp {
  std::string path;
  uint64_t size = 0;
  int64_t stamp = 0;  ///< inputs: mtime in ns; outputs: CRC-32
  bool operator==(const FileStamp&) const = default;
};

struct Record {
  std::string key;  ///< the output's path under OUTDIR
  std::string options;
  std::vector<FileStamp> inputs;
  std::vector<FileStamp> outputs;  ///< paths relative to OUTDIR
};

std::optional<FileStamp> input_stamp(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileStamp{path, static_cast<uint64_t>(st.st_size),
                   static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

/// Size and CRC-32 of a file, read whole.
std::optional<FileStamp> output_stamp(const fs::path& outdir, const std::string& rel) {
  const std::string path = (outdir / rel).string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  constexpr size_t kChunk = 4u << 20;
  std::vector<char> buffer(kChunk);
  uint32_t crc = 0;
  uint64_t size = 0;
  for (;;) {
    const ssize_t got = ::read(fd, buffer.data(), kChunk);
    if (got < 0) {
      ::close(fd);
      return std::nullopt;
    }
    if (got == 0) break;
    crc = libdeflate_crc32(crc, buffer.data(), static_cast<size_t>(got));
    size += static_cast<uint64_t>(got);
  }
  ::close(fd);
  return FileStamp{rel, size, crc};
}

std::string record_json(const Record& record) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("key");
  io::write_json_string(writer, record.key);
  writer.Key("options");
  io::write_json_string(writer, record.options);
  for (const auto& [name, files] : {std::pair{"inputs", &record.inputs}, std::pair{"outputs", &record.outputs}}) {
    writer.Key(name);
    writer.StartArray();
    for (const auto& file : *files) {
      writer.StartArray();
      io::write_json_string(writer, file.path);
      writer.Uint64(file.size);
      writer.Int64(file.stamp);
      writer.EndArray();
    }
    writer.EndArray();
  }
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

/// One journal line, or nullopt when it is not one (a line cut by a crash, a foreign line).
std::optional<Record> parse_record(const std::string& path, const std::string& line) {
  try {
    const rapidjson::Document doc = io::parse_json(path, line, "journal line");
    if (!doc.IsObject() || !doc.HasMember("key") || !doc["key"].IsString() || !doc.HasMember("options") ||
        !doc["options"].IsString()) {
      return std::nullopt;
    }
    Record record{doc["key"].GetString(), doc["options"].GetString(), {}, {}};
    for (const auto& [name, files] : {std::pair{"inputs", &record.inputs}, std::pair{"outputs", &record.outputs}}) {
      if (!doc.HasMember(name) || !doc[name].IsArray()) return std::nullopt;
      for (const auto& item : doc[name].GetArray()) {
        if (!item.IsArray() || item.Size() != 3 || !item[0].IsString() || !item[1].IsUint64() || !item[2].IsInt64()) {
          return std::nullopt;
        }
        files->push_back(FileStamp{item[0].GetString(), item[1].GetUint64(), item[2].GetInt64()});
      }
    }
    return record;
  } catch (const Error&) {
    return std::nullopt;
  }
}

/// A path from the journal that names a file inside OUTDIR.
bool inside(const std::string& rel) {
  const fs::path path(rel);
  if (rel.empty() || path.is_absolute()) return false;
  return std::none_of(path.begin(), path.end(), [](const fs::path& part) { return part == ".."; });
}

class Journal {
 public:
  explicit Journal(fs::path outdir) : outdir_(std::move(outdir)), dir_(outdir_ / ".amn-batch"), path_(dir_ / "journal.jsonl") {
    fs::create_directories(dir_ / "locks");
  }

  /// The last record of `key`, after reading what other processes appended since.
  std::optional<Record> last(const std::string& key) {
    std::lock_guard lock(mutex_);
    refresh();
    auto found = records_.find(key);
    return found == records_.end() ? std::nullopt : std::optional<Record>(found->second);
  }

  /// Appends `record` as one line with one write under an exclusive flock, then fdatasync. A line
  /// cut short by a crash is ended first, so it does not swallow this one.
  void append(const Record& record) {
    std::string line = record_json(record);
    const int fd = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) throw Error(ErrorCode::Io, path_.string() + ": cannot open the journal");
    ::flock(fd, LOCK_EX);
    struct stat st {};
    char last = '\n';
    if (::fstat(fd, &st) == 0 && st.st_size > 0 && ::pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n') {
      line.insert(line.begin(), '\n');
    }
    const ssize_t wrote = ::write(fd, line.data(), line.size());
    const bool synced = ::fdatasync(fd) == 0;
    ::close(fd);  // releases the flock
    if (wrote != static_cast<ssize_t>(line.size()) || !synced) {
      throw Error(ErrorCode::Io, path_.string() + ": cannot append to the journal");
    }
  }

  /// Holds the model's lock file flocked (blocking) until destroyed.
  class ModelLock {
   public:
    explicit ModelLock(const fs::path& path) : fd_(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
      if (fd_ < 0 || ::flock(fd_, LOCK_EX) != 0) throw Error(ErrorCode::Io, path.string() + ": cannot lock");
    }
    ~ModelLock() {
      if (fd_ >= 0) ::close(fd_);
    }
    ModelLock(const ModelLock&) = delete;
    ModelLock& operator=(const ModelLock&) = delete;

   private:
    int fd_;
  };

  [[nodiscard]] fs::path lock_path(const std::string& key) const {
    uint64_t hash = 1469598103934665603ull;  // FNV-1a
    for (unsigned char letter : key) hash = (hash ^ letter) * 1099511628211ull;
    char name[32];
    std::snprintf(name, sizeof(name), "%016llx.lock", static_cast<unsigned long long>(hash));
    return dir_ / "locks" / name;
  }

  /// Whether `record` still describes what is on disk: same options, inputs unchanged, every
  /// output present with its size and CRC-32.
  [[nodiscard]] bool verifies(const Record& record, const std::string& options) const {
    if (record.options != options || record.outputs.empty()) return false;
    for (const auto& input : record.inputs) {
      if (input_stamp(input.path) != input) return false;
    }
    for (const auto& output : record.outputs) {
      if (!inside(output.path)) return false;
      std::error_code error;
      if (fs::file_size(outdir_ / output.path, error) != output.size || error) return false;
      if (output_stamp(outdir_, output.path) != output) return false;
    }
    return true;
  }

 private:
  void refresh() {
    std::ifstream in(path_, std::ios::binary);
    if (!in) return;
    in.seekg(static_cast<std::streamoff>(offset_));
    std::string line;
    while (std::getline(in, line)) {
      if (in.eof()) break;  // no newline yet: not a whole line
      offset_ += line.size() + 1;
      if (auto record = parse_record(path_.string(), line)) records_[record->key] = std::move(*record);
    }
  }

  fs::path outdir_, dir_, path_;
  std::mutex mutex_;
  uint64_t offset_ = 0;
  std::map<std::string, Record> records_;
};

// --- the run ------------------------------------------------------------------------------------

struct Outcome {
  std::string status;  ///< "done", "skipped", "failed" (or "planned" with --dry-run)
  std::vector<std::string> outputs;
  uint64_t bytes = 0;
  double seconds = 0;
  std::string error;
};

class BatchRun {
 public:
  BatchRun(const BatchRequest& request, std::vector<BatchModel> models)
      : request_(request), models_(std::move(models)), outdir_(request.outdir), kind_(output_kind(request.convert)),
        fingerprint_(request.fingerprint) {
    if (!request.convert.dry_run) journal_.emplace(outdir_);
  }

  int run() {
    const auto started = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    const unsigned jobs = std::max(1u, std::min<unsigned>(request_.jobs, static_cast<unsigned>(models_.size())));
    for (unsigned worker = 0; worker < jobs; ++worker) {
      workers.emplace_back([this] {
        for (size_t model_idx = next_++; model_idx < models_.size(); model_idx = next_++) report(models_[model_idx], process(models_[model_idx]));
      });
    }
    for (auto& worker : workers) worker.join();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (!request_.quiet) {
      std::cerr << "amn: batch: " << models_.size() << " models";
      if (request_.share.count > 1) std::cerr << " (share " << request_.share.index << "/" << request_.share.count << ")";
      std::cerr << ": " << counts_["done"] << " done, " << counts_["skipped"] << " skipped, " << counts_["failed"]
                << " failed; " << human_bytes(bytes_) << " written in " << seconds << " s\n";
    }
    return counts_["failed"] == 0 ? 0 : 1;
  }

 private:
  [[nodiscard]] std::string output_of(const BatchModel& model) const {
    return (model.rel.parent_path() / output_name(model.rel.filename().string(), model.directory, kind_)).string();
  }

  Outcome process(const BatchModel& model) {
    const auto started = std::chrono::steady_clock::now();
    Outcome outcome;
    const std::string key = output_of(model);
    try {
      if (auto owner = owners_.find(key); owner != owners_.end() && owner->second != model.input) {
        throw Error(ErrorCode::Usage, key + ": also the output of " + owner->second + " (rename one of them)");
      }
      outcome = convert_one(model, key);
    } catch (const std::exception& error) {
      outcome.status = "failed";
      outcome.error = io::safe_message(error.what());
    }
    outcome.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return outcome;
  }

  Outcome convert_one(const BatchModel& model, const std::string& key) {
    Outcome outcome;
    const fs::path target = outdir_ / key;
    if (request_.convert.dry_run) {
      outcome.status = "planned";
      outcome.outputs.push_back(target.string());
      return outcome;
    }
    Journal::ModelLock lock(journal_->lock_path(key));
    if (auto record = journal_->last(key); record && !request_.convert.force && journal_->verifies(*record, fingerprint_)) {
      outcome.status = "skipped";
      for (const auto& output : record->outputs) outcome.outputs.push_back((outdir_ / output.path).string());
      return outcome;
    }
    const Catalog catalog = open_model(model.input, request_.limits, request_.selection);
    ConvertOptions options = request_.convert;
    options.force = true;  // OUTDIR is the batch's: what the journal does not verify is written again
    options.memory_budget = std::max<uint64_t>(options.memory_budget / std::max(1u, request_.jobs), 1);
    fs::create_directories(target.parent_path());
    const ConvertResult result = convert(catalog, target.string(), options, request_.limits);
    Record record{key, fingerprint_, {}, {}};
    for (const auto& file : catalog.files) {
      if (auto stamp = input_stamp(fs::absolute(file).lexically_normal().string())) record.inputs.push_back(*stamp);
    }
    // Weight files as the engine wrote them (size and CRC-32 from its windows); files it kept, the
    // index and the side files (small) are read back.
    auto add = [&](const std::string& path, std::optional<FileStamp> stamp) {
      if (!stamp) throw Error(ErrorCode::Io, path + ": cannot read back what was written");
      record.outputs.push_back(*stamp);
      outcome.outputs.push_back(path);
    };
    auto rel = [&](const std::string& path) { return fs::path(path).lexically_relative(outdir_).string(); };
    for (const auto& out : result.outputs) {
      add(out.path, out.kept ? output_stamp(outdir_, rel(out.path))
                             : FileStamp{rel(out.path), out.bytes, static_cast<int64_t>(out.crc32)});
    }
    std::vector<std::string> small = result.side_files;
    if (!result.index.empty()) small.insert(small.begin(), result.index);
    for (const auto& path : small) add(path, output_stamp(outdir_, rel(path)));
    journal_->append(record);
    outcome.status = "done";
    outcome.bytes = result.bytes_written;
    return outcome;
  }

  void report(const BatchModel& model, const Outcome& outcome) {
    std::lock_guard lock(report_mutex_);
    ++counts_[outcome.status];
    bytes_ += outcome.bytes;
    if (request_.json) {
      rapidjson::StringBuffer buffer;
      rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
      writer.StartObject();
      writer.Key("input");
      io::write_json_string(writer, model.input);
      writer.Key("status");
      writer.String(outcome.status.c_str());
      writer.Key("outputs");
      writer.StartArray();
      for (const auto& path : outcome.outputs) io::write_json_string(writer, path);
      writer.EndArray();
      writer.Key("bytes");
      writer.Uint64(outcome.bytes);
      writer.Key("seconds");
      writer.Double(outcome.seconds);
      if (!outcome.error.empty()) {
        writer.Key("error");
        io::write_json_string(writer, outcome.error);
      }
      writer.EndObject();
      std::cout << buffer.GetString() << std::endl;  // flushed: a job log line per finished model
    } else if (outcome.status == "failed") {
      std::cerr << "amn: error: " << outcome.error << '\n';
    } else if (!request_.quiet) {
      std::cerr << "amn: " << outcome.status << " " << io::display(model.input) << " -> "
                << io::display(outcome.outputs.empty() ? std::string() : outcome.outputs.front())
                << (outcome.outputs.size() > 1 ? " (+" + std::to_string(outcome.outputs.size() - 1) + " files)" : "")
                << (outcome.status == "done" ? ", " + human_bytes(outcome.bytes) : "") << '\n';
    }
  }

 public:
  std::map<std::string, std::string> owners_;  ///< output key -> the first model's input

 private:
  const BatchRequest& request_;
  std::vector<BatchModel> models_;
  fs::path outdir_;
  OutputKind kind_;
  std::string fingerprint_;
  std::optional<Journal> journal_;
  std::atomic<size_t> next_{0};
  std::mutex report_mutex_;
  std::map<std::string, size_t> counts_;
  uint64_t bytes_ = 0;
};

}  // namespace

int run_batch(const BatchRequest& request) {
  const fs::path outdir = fs::path(request.outdir).lexically_normal();
  std::error_code error;
  if (fs::exists(outdir, error) && !fs::is_directory(outdir, error)) {
    throw Error(ErrorCode::Usage, request.outdir + ": not a directory");
  }
  if (request.inputs.empty()) throw Error(ErrorCode::Usage, "batch: no inputs (give INPUT... or --from FILE)");
  std::vector<BatchModel> all = discover_models(request.inputs, outdir);
  // Every task sees the same list, so each output's first claimant is the same everywhere.
  const OutputKind kind = output_kind(request.convert);
  std::map<std::string, std::string> owners;
  for (const auto& model : all) {
    owners.emplace((model.rel.parent_path() / output_name(model.rel.filename().string(), model.directory, kind)).string(),
                   model.input);
  }
  std::vector<uint64_t> sizes;
  for (const auto& model : all) sizes.push_back(model.bytes);
  std::vector<BatchModel> mine;
  for (size_t model_idx : share_of(sizes, request.share.index, request.share.count)) mine.push_back(all[model_idx]);
  if (!request.convert.dry_run) fs::create_directories(outdir);
  BatchRun run(request, std::move(mine));
  run.owners_ = std::move(owners);
  return run.run();
}

}  // namespace amn::cli
