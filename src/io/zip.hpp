// ZIP container (NPZ and PyTorch archives): central directory, validated against local headers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "amn/catalog.hpp"
#include "amn/limits.hpp"
#include "io/file.hpp"

namespace amn::io {

/// One archive member, validated: its data range lies inside the file, does not overlap another
/// member, and its local header agrees with the central directory.
struct ZipMember {
  std::string name;
  uint64_t data_offset = 0;        ///< absolute offset of the member's (compressed) data
  uint64_t compressed_size = 0;
  uint64_t uncompressed_size = 0;
  Compression method = Compression::None;
  uint32_t crc32 = 0;
};

/// Reads and validates the central directory of `file` (ZIP64 aware). Encrypted members,
/// methods other than stored/deflate, overlapping members and bad names are refused.
[[nodiscard]] std::vector<ZipMember> read_zip_directory(const File& file, const Limits& limits);

/// True when the file starts with a ZIP local header or is an empty archive.
[[nodiscard]] bool looks_like_zip(const File& file);

/// The member's whole uncompressed bytes, CRC-checked (inflated when deflated); the caps of
/// read_storage_bytes apply.
[[nodiscard]] std::vector<std::byte> read_member(const File& file, const ZipMember& member, const Limits& limits);

/// The first min(len, uncompressed size) bytes of `member` (for reading an embedded header
/// without inflating the whole member; no CRC check is possible). The member-wide caps of
/// read_member are checked first, since its data will be read whole later.
[[nodiscard]] std::vector<std::byte> read_member_prefix(const File& file, const ZipMember& member, uint64_t len,
                                                        const Limits& limits);

/// The whole uncompressed bytes of `storage` (stored or deflated), CRC-checked when
/// storage.check_crc. Refuses sizes above limits.max_alloc and, for deflated data larger than
/// 1 MiB, ratios above limits.max_ratio (small members of zeros legitimately compress further).
/// `label` names the storage in messages ("member 'arr_0.npy'").
[[nodiscard]] std::vector<std::byte> read_storage_bytes(const File& file, const Storage& storage, const std::string& label,
                                                        const Limits& limits);

/// A Storage describing `member` in file `file_index`.
[[nodiscard]] Storage member_storage(const ZipMember& member, uint32_t file_index);

}  // namespace amn::io
