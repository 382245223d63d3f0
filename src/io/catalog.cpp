// Catalog helpers.
#include "amn/catalog.hpp"

namespace amn {

const char* format_name(Format format) {
  switch (format) {
    case Format::Safetensors: return "safetensors";
    case Format::Gguf: return "gguf";
    case Format::Npz: return "npz";
    case Format::Npy: return "npy";
    case Format::Pth: return "pth";
  }
  return "unknown";
}

uint64_t Catalog::total_bytes() const {
  uint64_t total = 0;
  for (const auto& tensor : tensors) total += tensor.nbytes;
  return total;
}

const MetaEntry* Catalog::find_meta(const std::string& key) const {
  for (const auto& entry : metadata) {
    if (entry.key == key) return &entry;
  }
  return nullptr;
}

}  // namespace amn
