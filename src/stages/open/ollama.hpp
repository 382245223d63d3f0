// `ollama:NAME[:TAG]`: a model in the local Ollama store, resolved to its GGUF blob.
#pragma once

#include <string>
#include <string_view>

#include "amn/limits.hpp"

namespace amn::stages {

/// The prefix that names a model in the local Ollama store.
inline constexpr std::string_view kOllamaPrefix = "ollama:";

/// Resolves `ollama:[NAMESPACE/]MODEL[:TAG]` (namespace `library`, tag `latest` by default) in
/// the store at OLLAMA_MODELS, else ~/.ollama/models: the manifest
/// `manifests/registry.ollama.ai/NAMESPACE/MODEL/TAG` (at most 1 MiB, parsed by io/json) names
/// the layer of media type `application/vnd.ollama.image.model`, whose digest `sha256:<64 hex>`
/// is the blob `blobs/sha256-<64 hex>`. Returns the blob's canonical path. Refuses (Error Usage
/// or Parse, naming what is wrong) a name Ollama would not accept (each part 1-80 characters of
/// letters, digits, `_`, `-`, and `.` outside the namespace, starting with a letter, digit or
/// `_`; no `..`), a malformed manifest or digest, and a manifest or blob whose real path (after
/// symlinks) lies outside the store.
[[nodiscard]] std::string resolve_ollama(const std::string& reference, const Limits& limits);

}  // namespace amn::stages
