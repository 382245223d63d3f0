// Format readers (headers only) and writer layouts.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "amn/catalog.hpp"
#include "amn/limits.hpp"

namespace amn::formats {

/// Each reader parses the headers of one file and returns its catalog (files = {path}).
/// Every size is validated before anything is allocated; errors are amn::Error naming the file.
[[nodiscard]] Catalog read_safetensors(const std::string& path, const Limits& limits);
[[nodiscard]] Catalog read_gguf(const std::string& path, const Limits& limits);
[[nodiscard]] Catalog read_npy(const std::string& path, const Limits& limits);
[[nodiscard]] Catalog read_npz(const std::string& path, const Limits& limits);
[[nodiscard]] Catalog read_pth(const std::string& path, const Limits& limits);

/// The shard file names listed by a `model.safetensors.index.json` (its weight_map values, in
/// first-seen order, resolved against the index's directory), validated.
[[nodiscard]] std::vector<std::string> read_safetensors_index(const std::string& index_path, const Limits& limits);

/// A `model.safetensors.index.json`: its shards and which shard holds each tensor.
struct SafetensorsIndex {
  std::vector<std::string> shards;                           ///< as read_safetensors_index returns them
  std::vector<std::pair<std::string, uint32_t>> weight_map;  ///< tensor name → index into `shards`, file order
};

/// The whole index, validated as read_safetensors_index does.
[[nodiscard]] SafetensorsIndex read_safetensors_index_map(const std::string& index_path, const Limits& limits);

/// One tensor of an output file.
struct OutTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  ///< row-major
  uint64_t nbytes = 0;
  uint64_t offset = 0;         ///< absolute offset in the output file, set by the layout function
};

/// An output file planned before any data moves: header bytes, then each tensor at `offset`.
struct OutLayout {
  std::vector<std::byte> header;  ///< written at offset 0
  uint64_t file_size = 0;         ///< header + data section (padding included)
};

/// A metadata value as safetensors' `__metadata__` stores it: formats/typed_metadata.hpp's
/// typed_text (strings as they are unless they begin with `gguf:`, other values `gguf:...`).
[[nodiscard]] std::string safetensors_meta_text(const MetaValue& value, const std::string& key);

/// Plans a safetensors file: header JSON (tensors in the given order, space padded so the data
/// section starts 8-byte aligned), `__metadata__` from `metadata` (strings written as they are:
/// already `__metadata__` text; other values through safetensors_meta_text).
/// Sets each tensor's offset.
[[nodiscard]] OutLayout layout_safetensors(std::vector<OutTensor>& tensors, const std::vector<MetaEntry>& metadata);

/// The GGUF serialisation of one value without its type id (an array: element type, count,
/// elements), as layout_gguf writes it. Throws Error for a value that does not match its type.
[[nodiscard]] std::vector<std::byte> gguf_value_bytes(const MetaValue& value, const std::string& key);

/// Plans a GGUF v3 file with alignment 32: the KV pairs (general.alignment written as 32),
/// tensor infos (shape reversed to ggml's ne order), data aligned. Sets each tensor's offset.
/// `split_keys` (split.no, split.count, split.tensors.count of a sharded output) are appended.
[[nodiscard]] OutLayout layout_gguf(std::vector<OutTensor>& tensors, const std::vector<MetaEntry>& metadata,
                                    const std::vector<MetaEntry>& split_keys = {});

}  // namespace amn::formats
