// amn — what a reader learns from headers: tensors, where their bytes are, and metadata.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "amn/dtype.hpp"

namespace amn {

/// Container formats amn reads.
enum class Format : uint8_t { Safetensors, Gguf, Npz, Npy, Pth };

/// Lower-case display name of a format ("safetensors", "gguf", "npz", "npy", "pth").
[[nodiscard]] const char* format_name(Format format);

/// How a storage blob's bytes sit in its file.
enum class Compression : uint8_t { None, Deflate };

/// A run of bytes in one input file that one or more tensors view. For ZIP members this is the
/// member's data (compressed or not); otherwise a plain byte range.
struct Storage {
  uint32_t file_index = 0;        ///< index into Catalog::files
  uint64_t offset = 0;            ///< absolute offset of the (possibly compressed) bytes in the file
  uint64_t stored_size = 0;       ///< bytes at `offset` in the file
  uint64_t size = 0;              ///< bytes after decompression (== stored_size when None)
  Compression compression = Compression::None;
  uint32_t crc32 = 0;             ///< expected CRC-32 of the decompressed bytes (ZIP members)
  bool check_crc = false;         ///< whether crc32 is meaningful
};

/// Byte order of the stored elements.
enum class ByteOrder : uint8_t { Little, Big };

/// One tensor: its logical type and shape (row-major, outermost first) and how its bytes are
/// laid out in a storage. The logical bytes are the row-major little-endian contiguous bytes.
struct Tensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;     ///< row-major; empty for a 0-d tensor
  uint64_t nbytes = 0;            ///< logical (contiguous) byte size
  uint32_t storage = 0;           ///< index into Catalog::storages
  uint64_t byte_offset = 0;       ///< offset of element [0,...,0] within the storage's bytes
  /// Element strides, one per dim, for views (pth) and fortran-order arrays (npy). Empty means
  /// C-contiguous starting at byte_offset.
  std::vector<int64_t> strides;
  ByteOrder byte_order = ByteOrder::Little;

  /// True when the logical bytes are exactly storage bytes [byte_offset, byte_offset + nbytes).
  [[nodiscard]] bool contiguous_le() const { return strides.empty() && byte_order == ByteOrder::Little; }
};

/// GGUF metadata value types (ids as in the GGUF spec).
enum class MetaType : uint8_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7, String = 8,
  Array = 9, U64 = 10, I64 = 11, F64 = 12,
};

/// One metadata value. Integers are held widened (sign by type), floats as double (f32 values
/// are exactly representable), arrays as a homogeneous list with `elem_type`.
struct MetaValue {
  MetaType type = MetaType::String;
  MetaType elem_type = MetaType::U8;  ///< for Array only
  std::variant<uint64_t, int64_t, double, bool, std::string, std::vector<MetaValue>> value;
};

/// One metadata entry: GGUF KV pair, or a safetensors `__metadata__` string.
struct MetaEntry {
  std::string key;
  MetaValue value;
};

/// A whole model as seen from its headers: one or more files (shards) of one format.
struct Catalog {
  Format format = Format::Safetensors;
  std::vector<std::string> files;       ///< input paths, shard order
  std::vector<uint64_t> file_sizes;     ///< bytes of each file
  std::vector<Storage> storages;
  std::vector<Tensor> tensors;          ///< in file order
  std::vector<MetaEntry> metadata;      ///< GGUF KV (typed) or safetensors __metadata__ (strings)
  /// Non-tensor values found in the input (pth nested checkpoints: "epoch" -> "int 3").
  std::vector<std::pair<std::string, std::string>> extras;
  /// PyTorch checkpoints: the top-level keys whose value is a dict holding tensors (a state dict
  /// wrapped as {"model": state_dict, "epoch": 3}); open_model unwraps one (TensorSelection).
  std::vector<std::string> state_dicts;
  uint32_t gguf_version = 0;            ///< GGUF only
  uint32_t gguf_alignment = 0;          ///< GGUF only
  std::string description;              ///< e.g. "PyTorch state_dict", "GGUF v3"

  /// Sum of logical tensor bytes.
  [[nodiscard]] uint64_t total_bytes() const;
  /// The metadata entry named `key`, or nullptr.
  [[nodiscard]] const MetaEntry* find_meta(const std::string& key) const;
};

}  // namespace amn
