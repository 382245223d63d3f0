// `ollama:NAME[:TAG]` resolved in the local Ollama store, treating the store as untrusted: the
// name is checked against Ollama's own rules before it becomes a path, the manifest is size
// capped and parsed by the one JSON parser, and nothing outside the store is opened.
#include "stages/open/ollama.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>

#include "amn/error.hpp"
#include "io/budget.hpp"
#include "io/display.hpp"
#include "io/json.hpp"

namespace amn::stages {
namespace {
namespace fs = std::filesystem;

constexpr uint64_t kMaxManifestBytes = 1u << 20;  ///< a real manifest is under 1 KiB
constexpr size_t kMaxPartChars = 80;               ///< Ollama's cap for a namespace, model or tag
constexpr size_t kDigestHexChars = 64;
constexpr std::string_view kModelMediaType = "application/vnd.ollama.image.model";
constexpr std::string_view kRegistry = "registry.ollama.ai";

bool is_word_char(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
}

/// Ollama's rule for a namespace, model or tag (types/model/name.go): 1-80 characters, the first
/// a letter, digit or `_`, the rest also `-` and (outside a namespace) `.`. amn also refuses `..`.
void check_part(const std::string& reference, std::string_view part, std::string_view what, bool dots) {
  bool ok = !part.empty() && part.size() <= kMaxPartChars && is_word_char(part.front()) &&
            part.find("..") == std::string_view::npos &&
            std::all_of(part.begin(), part.end(), [&](char ch) { return is_word_char(ch) || ch == '-' || (dots && ch == '.'); });
  if (!ok) {
    throw Error(ErrorCode::Usage, io::quoted(reference) + ": " + std::string(what) + " " + io::quoted(part) +
                                      " is not a valid Ollama name part (1-80 letters, digits, '_', '-'" +
                                      (dots ? ", '.'" : "") + ", starting with a letter, digit or '_')");
  }
}

/// True when `path` (canonical) is `root` (canonical) or lies under it.
bool inside(const fs::path& path, const fs::path& root) {
  auto [root_end, path_end] = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
  return root_end == root.end();
}

/// `path` with symlinks resolved, refused unless it is a regular file inside `root`.
fs::path checked_file(const std::string& reference, const fs::path& path, const fs::path& root, std::string_view what) {
  std::error_code error;
  fs::path real = fs::canonical(path, error);
  // Missing like a missing input file (exit 1); leading elsewhere refused as a hostile store is.
  if (error) throw Error(ErrorCode::Io, io::quoted(reference) + ": no " + std::string(what) + " " + io::display(path.string()));
  if (!inside(real, root)) {
    throw Error(ErrorCode::Unsupported, io::quoted(reference) + ": the " + std::string(what) + " " + io::display(path.string()) +
                                      " leads outside the Ollama store " + io::display(root.string()) + " (to " +
                                      io::display(real.string()) + ")");
  }
  if (!fs::is_regular_file(real, error)) {
    throw Error(ErrorCode::Unsupported, io::quoted(reference) + ": the " + std::string(what) + " " + io::display(path.string()) +
                                      " is not a regular file");
  }
  return real;
}

fs::path store_root(const std::string& reference) {
  const char* models = std::getenv("OLLAMA_MODELS");
  fs::path root;
  if (models && *models) {
    root = models;
  } else {
    const char* home = std::getenv("HOME");
    if (!home || !*home) throw Error(ErrorCode::Usage, io::quoted(reference) + ": neither OLLAMA_MODELS nor HOME is set");
    root = fs::path(home) / ".ollama" / "models";
  }
  std::error_code error;
  fs::path real = fs::canonical(root, error);
  if (error || !fs::is_directory(real, error)) {
    throw Error(ErrorCode::Io, io::quoted(reference) + ": no Ollama store at " + io::display(root.string()) +
                                      " (set OLLAMA_MODELS to its models directory)");
  }
  return real;
}

/// The digest of the manifest's model layer, checked to be `sha256:` and 64 lower-case hex digits.
std::string model_digest(const std::string& manifest_path, const rapidjson::Document& manifest) {
  if (!manifest.IsObject()) fail_parse(manifest_path, "manifest: not a JSON object");
  auto layers = manifest.FindMember("layers");
  if (layers == manifest.MemberEnd() || !layers->value.IsArray()) fail_parse(manifest_path, "manifest: no \"layers\" array");
  for (const auto& layer : layers->value.GetArray()) {
    if (!layer.IsObject()) fail_parse(manifest_path, "manifest: a layer is not an object");
    auto media = layer.FindMember("mediaType");
    if (media == layer.MemberEnd() || !media->value.IsString()) continue;
    if (std::string_view(media->value.GetString(), media->value.GetStringLength()) != kModelMediaType) continue;
    auto digest = layer.FindMember("digest");
    if (digest == layer.MemberEnd() || !digest->value.IsString()) fail_parse(manifest_path, "manifest: the model layer has no digest");
    std::string text(digest->value.GetString(), digest->value.GetStringLength());
    constexpr std::string_view kAlgorithm = "sha256:";
    bool well_formed = text.size() == kAlgorithm.size() + kDigestHexChars && text.starts_with(kAlgorithm) &&
                       std::all_of(text.begin() + kAlgorithm.size(), text.end(),
                                   [](char ch) { return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'); });
    if (!well_formed) {
      fail_parse(manifest_path, "manifest: model layer digest " + io::quoted(text) + " is not sha256:<64 lower-case hex digits>");
    }
    return text.substr(kAlgorithm.size());
  }
  fail_parse(manifest_path, "manifest: no layer of media type " + std::string(kModelMediaType) + " (not a GGUF model)");
}

}  // namespace

std::string resolve_ollama(const std::string& reference, const Limits& limits) {
  std::string_view spec = std::string_view(reference).substr(kOllamaPrefix.size());
  std::string_view tag = "latest";
  if (auto colon = spec.rfind(':'); colon != std::string_view::npos) {
    tag = spec.substr(colon + 1);
    spec = spec.substr(0, colon);
  }
  std::string_view space = "library";
  std::string_view model = spec;
  if (auto slash = spec.find('/'); slash != std::string_view::npos) {
    space = spec.substr(0, slash);
    model = spec.substr(slash + 1);
  }
  check_part(reference, space, "namespace", false);
  check_part(reference, model, "model name", true);  // a second '/' fails here
  check_part(reference, tag, "tag", true);

  const fs::path root = store_root(reference);
  fs::path manifest = root / "manifests" / kRegistry / space / model / tag;
  std::error_code error;
  if (!fs::exists(fs::symlink_status(manifest, error))) {
    // Ollama 0.4 and later store names in lower case.
    auto lower = [](std::string_view part) {
      std::string text(part);
      std::transform(text.begin(), text.end(), text.begin(), [](unsigned char ch) { return std::tolower(ch); });
      return text;
    };
    fs::path lowered = root / "manifests" / kRegistry / lower(space) / lower(model) / lower(tag);
    if (fs::exists(fs::symlink_status(lowered, error))) manifest = lowered;
  }
  const fs::path manifest_real = checked_file(reference, manifest, root, "manifest");
  io::HeapBudget budget(limits);
  const std::string manifest_path = manifest_real.string();
  const rapidjson::Document document = io::read_json_file(manifest_path, kMaxManifestBytes, "manifest");
  const std::string hex = model_digest(manifest_path, document);
  return checked_file(reference, root / "blobs" / ("sha256-" + hex), root, "blob").string();
}

}  // namespace amn::stages
