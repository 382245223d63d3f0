// Opening a model: format detection, dispatch to the readers, shards merged into one catalog.
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <regex>
#include <set>
#include <unordered_map>

#include "amn/amn.hpp"
#include "formats/formats.hpp"
#include "io/budget.hpp"
#include "io/display.hpp"
#include "io/file.hpp"
#include "io/zip.hpp"
#include "stages/open/checkpoint.hpp"
#include "stages/open/ollama.hpp"

namespace amn {
namespace fs = std::filesystem;

const char* version() { return AMN_VERSION; }

namespace {

bool ends_with(const std::string& text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return text;
}

std::optional<Format> detect_by_magic(const std::string& path) {
  io::File file(path);
  std::array<char, 16> head{};
  const size_t len = file.read_upto(0, head.data(), head.size());
  if (len >= 4 && std::memcmp(head.data(), "GGUF", 4) == 0) return Format::Gguf;
  if (len >= 6 && std::memcmp(head.data(), "\x93NUMPY", 6) == 0) return Format::Npy;
  const bool zip = len >= 4 && std::memcmp(head.data(), "PK\x03\x04", 4) == 0;
  uint64_t header_len = 0;
  if (len >= 8) std::memcpy(&header_len, head.data(), 8);
  // a safetensors header length may start with 0x80 too: its '{' at byte 8 tells it from a pickle
  const bool safetensors = len >= 9 && head[8] == '{' && header_len >= 2 && header_len <= file.size() - 8;
  const bool pickle = !safetensors && len >= 2 && static_cast<unsigned char>(head[0]) == 0x80 && head[1] >= 2 && head[1] <= 5;
  if (file.streamed() && (zip || pickle)) {
    fail_unsupported(path, "a ZIP archive or pickle (.npz, .pth) needs random access and cannot be read from standard "
                           "input; save it to a file and pass its path");
  }
  if (zip) {
    // A ZIP: PyTorch archives hold `<prefix>/data.pkl`; anything else is read as NPZ.
    for (const auto& member : io::read_zip_directory(file, Limits{})) {
      if (ends_with(member.name, "/data.pkl") || ends_with(member.name, "/constants.pkl")) return Format::Pth;
    }
    return Format::Npz;
  }
  if (safetensors) return Format::Safetensors;
  if (pickle) return Format::Pth;  // legacy raw pickle; the pth reader explains the refusal
  return std::nullopt;
}

/// A view (a `.pth` tensor whose strides repeat elements, or many names over one storage) may
/// be planned larger than the bytes it reads: a tensor may materialise more than its whole
/// storage only up to kTinyViewBytes (an expanded buffer), and one file's tensors together at
/// most kMaxViewFactor times its storages' bytes plus kViewSlackBytes (tied weights).
constexpr uint64_t kTinyViewBytes = uint64_t{1} << 20;
constexpr uint64_t kMaxViewFactor = 64;
constexpr uint64_t kViewSlackBytes = uint64_t{16} << 20;

void check_materialised(const std::string& path, const Catalog& part) {
  uint64_t stored = 0;
  for (const auto& storage : part.storages) stored += storage.size;  // each below the file or the inflate caps
  uint64_t planned = 0;
  for (const auto& tensor : part.tensors) {
    const uint64_t holds = tensor.storage < part.storages.size() ? part.storages[tensor.storage].size : 0;
    if (tensor.nbytes > kTinyViewBytes && tensor.nbytes > holds) {
      fail_limit(path, "tensor " + io::quoted(tensor.name) + ": a view of " + std::to_string(tensor.nbytes) +
                           " bytes over a storage of " + std::to_string(holds) + " bytes (a view may repeat elements only up to " +
                           std::to_string(kTinyViewBytes) + " bytes)");
    }
    planned = tensor.nbytes > UINT64_MAX - planned ? UINT64_MAX : planned + tensor.nbytes;
  }
  const uint64_t allowed = stored > (UINT64_MAX - kViewSlackBytes) / kMaxViewFactor ? UINT64_MAX : stored * kMaxViewFactor + kViewSlackBytes;
  if (planned > allowed) {
    fail_limit(path, "its tensors materialise " + std::to_string(planned) + " bytes from " + std::to_string(stored) +
                         " bytes of storage (views and tied names may repeat storage at most " + std::to_string(kMaxViewFactor) +
                         " times, plus " + std::to_string(kViewSlackBytes) + " bytes)");
  }
}

Catalog read_format(const std::string& path, Format format, const Limits& limits) {
  switch (format) {
    case Format::Safetensors: return formats::read_safetensors(path, limits);
    case Format::Gguf: return formats::read_gguf(path, limits);
    case Format::Npz: return formats::read_npz(path, limits);
    case Format::Npy: return formats::read_npy(path, limits);
    case Format::Pth: return formats::read_pth(path, limits);
  }
  fail_unsupported(path, "unknown format");
}

Catalog read_one(const std::string& path, Format format, const Limits& limits) {
  Catalog part = read_format(path, format, limits);
  check_materialised(path, part);
  return part;
}

/// Appends `part` (one shard) to `whole`, renumbering its files and storages.
void append_shard(Catalog& whole, Catalog part, std::set<std::string>& names) {
  auto file_base = static_cast<uint32_t>(whole.files.size());
  auto storage_base = static_cast<uint32_t>(whole.storages.size());
  const std::string shard = part.files.empty() ? std::string() : part.files.front();
  for (auto& storage : part.storages) {
    storage.file_index += file_base;
    whole.storages.push_back(storage);
  }
  for (auto& tensor : part.tensors) {
    io::charge(shard, tensor.name.size() + io::kNodeBytes, "tensor names of all shards");
    if (!names.insert(tensor.name).second) {
      fail_parse(shard, "tensor " + io::quoted(tensor.name) + " also appears in an earlier shard");
    }
    tensor.storage += storage_base;
    whole.tensors.push_back(std::move(tensor));
  }
  whole.files.insert(whole.files.end(), part.files.begin(), part.files.end());
  whole.file_sizes.insert(whole.file_sizes.end(), part.file_sizes.begin(), part.file_sizes.end());
  for (auto& extra : part.extras) whole.extras.push_back(std::move(extra));
}

/// An unsigned metadata value of `catalog` (the GGUF reader has checked the split keys' types).
std::optional<uint64_t> meta_uint(const Catalog& catalog, const std::string& key) {
  const MetaEntry* entry = catalog.find_meta(key);
  if (entry == nullptr) return std::nullopt;
  if (const auto* value = std::get_if<uint64_t>(&entry->value.value)) return *value;
  return static_cast<uint64_t>(std::get<int64_t>(entry->value.value));
}

/// GGUF split sets (llama.cpp gguf-split): shard k of n says split.no = k and split.count = n.
/// `in_split_set`: the first shard declared a split set, so every shard must.
void check_gguf_split_part(const Catalog& part, size_t shard_idx, size_t shard_count, bool in_split_set) {
  const std::string& path = part.files.front();
  auto count = meta_uint(part, "split.count").value_or(0);
  auto number = meta_uint(part, "split.no").value_or(0);
  if (count == 0 && !in_split_set) return;  // not a split file (gguf-split --merge leaves split.count 0)
  if (count != shard_count) {
    fail_parse(path, "split.count: " + std::to_string(count) + ", but the split set has " + std::to_string(shard_count) +
                         " files" + (shard_count == 1 ? " (open the set by its -00001-of-N name)" : ""));
  }
  if (number != shard_idx) {
    fail_parse(path, "split.no: " + std::to_string(number) + ", but this is file " + std::to_string(shard_idx + 1) +
                         " of the set (split.no counts from 0)");
  }
}

/// The tensors of a whole GGUF split set add up to the first file's split.tensors.count.
void check_gguf_split_total(const Catalog& whole) {
  auto declared = meta_uint(whole, "split.tensors.count");
  if (declared && *declared != whole.tensors.size()) {
    fail_parse(whole.files.front(), "split.tensors.count: " + std::to_string(*declared) + ", but the split set holds " +
                                        std::to_string(whole.tensors.size()) + " tensors");
  }
}

Catalog merge_shards(const std::vector<std::string>& paths, Format format, const Limits& limits) {
  Catalog whole;
  std::set<std::string> names;
  for (size_t shard_idx = 0; shard_idx < paths.size(); ++shard_idx) {
    Catalog part = read_one(paths[shard_idx], format, limits);
    if (format == Format::Gguf) {
      bool in_split_set = shard_idx > 0 && meta_uint(whole, "split.count").value_or(0) > 0;
      check_gguf_split_part(part, shard_idx, paths.size(), in_split_set);
    }
    if (shard_idx == 0) {
      whole.format = part.format;
      whole.metadata = std::move(part.metadata);  // append_shard does not read it
      whole.gguf_version = part.gguf_version;
      whole.gguf_alignment = part.gguf_alignment;
      whole.description = part.description;
      whole.state_dicts = part.state_dicts;
    }
    append_shard(whole, std::move(part), names);
    if (whole.tensors.size() > limits.max_items) fail_limit(paths[shard_idx], "more tensors than the item cap");
  }
  if (format == Format::Gguf && meta_uint(whole, "split.count").value_or(0) > 0) check_gguf_split_total(whole);
  if (paths.size() > 1) whole.description += ", " + std::to_string(paths.size()) + " shards";
  return whole;
}

/// The shards a `model.safetensors.index.json` (or transformers 4.x's `pytorch_model.bin.index.json`,
/// the same JSON) lists, merged; each tensor its weight_map names must be in the shard it names.
Catalog merge_indexed_shards(const std::string& index_path, const Limits& limits) {
  auto index = formats::read_safetensors_index_map(index_path, limits);
  const Format format = index_path.ends_with(".bin.index.json") ? Format::Pth : Format::Safetensors;
  Catalog whole = merge_shards(index.shards, format, limits);
  std::unordered_map<std::string_view, uint32_t> file_of;  // one file per safetensors shard, in index order
  for (const auto& tensor : whole.tensors) file_of.emplace(tensor.name, whole.storages[tensor.storage].file_index);
  for (const auto& [name, shard_idx] : index.weight_map) {
    auto found = file_of.find(name);
    if (found == file_of.end()) {
      fail_parse(index_path, "weight_map: tensor " + io::quoted(name) + " is not in its shard " +
                                 io::display(index.shards[shard_idx]));
    }
    if (found->second != shard_idx) {
      fail_parse(index_path, "weight_map: tensor " + io::quoted(name) + " is listed in " +
                                 io::display(index.shards[shard_idx]) + " but found in " +
                                 io::display(whole.files[found->second]));
    }
  }
  return whole;
}

/// `name-00001-of-00003.gguf` → all three split paths, checked to exist.
std::optional<std::vector<std::string>> gguf_split_set(const std::string& path) {
  static const std::regex kSplit(R"((.*)-(\d{5})-of-(\d{5})\.gguf)");
  std::smatch match;
  if (!std::regex_match(path, match, kSplit)) return std::nullopt;
  int count = std::stoi(match[3].str());
  if (count < 1) return std::nullopt;
  std::vector<std::string> parts;
  for (int part = 1; part <= count; ++part) {
    char suffix[32];
    std::snprintf(suffix, sizeof(suffix), "-%05d-of-%05d.gguf", part, count);
    std::string part_path = match[1].str() + suffix;
    if (!fs::exists(part_path)) fail_parse(path, "split set is missing " + part_path);
    parts.push_back(part_path);
  }
  return parts;
}

Catalog open_directory(const std::string& dir, const Limits& limits) {
  for (const char* name : {"model.safetensors.index.json", "pytorch_model.bin.index.json"}) {
    fs::path index = fs::path(dir) / name;
    if (fs::exists(index)) return merge_indexed_shards(index.string(), limits);
  }
  // As transformers' from_pretrained: model.safetensors is the model; other weight files beside it
  // (Mistral's consolidated.safetensors, a PEFT adapter_model.safetensors) are not read.
  if (const fs::path single = fs::path(dir) / "model.safetensors"; fs::is_regular_file(single)) {
    return merge_shards({single.string()}, Format::Safetensors, limits);
  }
  std::vector<std::string> candidates;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    auto name = entry.path().string();
    if (detect_format(name)) candidates.push_back(name);
  }
  std::sort(candidates.begin(), candidates.end());
  if (candidates.empty()) throw Error(ErrorCode::Usage, dir + ": no model files (safetensors, gguf, npz, npy, pth) in this directory");
  std::set<Format> kinds;
  for (const auto& path : candidates) kinds.insert(*detect_format(path));
  if (kinds.size() > 1 && kinds.count(Format::Safetensors) != 0) {
    // As transformers: safetensors weights first; a Trainer checkpoint's optimizer.pt,
    // training_args.bin or a pytorch_model.bin copy beside them are not read.
    std::erase_if(candidates, [](const std::string& path) { return *detect_format(path) != Format::Safetensors; });
    kinds = {Format::Safetensors};
  }
  if (kinds.size() > 1) throw Error(ErrorCode::Usage, dir + ": holds more than one format; name the file to read");
  Format format = *kinds.begin();
  // pytorch_model.bin likewise, beside a Trainer checkpoint's optimizer.pt, scheduler.pt, training_args.bin
  if (const fs::path bin = fs::path(dir) / "pytorch_model.bin"; format == Format::Pth && fs::is_regular_file(bin)) {
    candidates = {bin.string()};
  }
  if (format == Format::Gguf) {
    if (auto split = gguf_split_set(candidates.front())) {
      if (split->size() != candidates.size()) throw Error(ErrorCode::Usage, dir + ": holds files beside one GGUF split set");
      return merge_shards(*split, format, limits);
    }
  }
  if (format != Format::Safetensors && format != Format::Gguf && candidates.size() > 1) {
    throw Error(ErrorCode::Usage, dir + ": holds several " + format_name(format) + " files; name the file to read");
  }
  return merge_shards(candidates, format, limits);
}

}  // namespace

std::optional<Format> detect_format(const std::string& path) {
  std::string name = lower(path);
  if (ends_with(name, ".safetensors")) return Format::Safetensors;
  if (ends_with(name, ".gguf")) return Format::Gguf;
  if (ends_with(name, ".npz")) return Format::Npz;
  if (ends_with(name, ".npy")) return Format::Npy;
  if (ends_with(name, ".pth") || ends_with(name, ".pt")) return Format::Pth;
  if (ends_with(name, ".json") || ends_with(name, ".txt") || ends_with(name, ".md")) return std::nullopt;
  return detect_by_magic(path);
}

namespace {

Catalog open_all(const std::string& path, const Limits& requested) {
  const Limits limits = Limits{}.tightened(requested);
  if (path.starts_with(stages::kOllamaPrefix)) return open_all(stages::resolve_ollama(path, limits), limits);
  io::HeapBudget budget(limits);
  if (io::is_stdin(path)) {
    auto format = detect_by_magic(path);
    if (!format) fail_unsupported(path, "standard input is not a recognised model (safetensors, gguf, npy)");
    return merge_shards({path}, *format, limits);
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail_io(path, "cannot open", errno);
  if (S_ISDIR(st.st_mode)) return open_directory(path, limits);
  if (ends_with(path, ".index.json")) {
    return merge_indexed_shards(path, limits);
  }
  auto format = detect_format(path);
  if (!format) fail_unsupported(path, "not a recognised model file (safetensors, gguf, npz, npy, pth)");
  if (*format == Format::Gguf) {
    if (auto split = gguf_split_set(path)) return merge_shards(*split, Format::Gguf, limits);
  }
  return merge_shards({path}, *format, limits);
}

}  // namespace

Catalog open_model(const std::string& path, const Limits& limits, const TensorSelection& selection) {
  Catalog catalog = open_all(path, limits);
  stages::select_tensors(catalog, selection);
  return catalog;
}

}  // namespace amn
