// ZIP container (NPZ and PyTorch archives): end-of-central-directory search, ZIP64 records,
// central directory entries checked against their local headers, member extraction.
//
// Layouts follow PKWARE APPNOTE 6.3: local header (30 bytes + name + extra), central directory
// entry (46 bytes + name + extra + comment), end of central directory (22 bytes + comment),
// ZIP64 end-of-central-directory record (56 bytes) and locator (20 bytes).
#include "io/zip.hpp"

#include <libdeflate.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string_view>

#include "amn/error.hpp"
#include "io/budget.hpp"
#include "io/display.hpp"
#include "io/cursor.hpp"

namespace amn::io {
namespace {

constexpr uint32_t kLocalSignature = 0x04034b50;       // "PK\3\4"
constexpr uint32_t kCentralSignature = 0x02014b50;     // "PK\1\2"
constexpr uint32_t kEndSignature = 0x06054b50;         // "PK\5\6"
constexpr uint32_t kZip64EndSignature = 0x06064b50;    // "PK\6\6"
constexpr uint32_t kZip64LocatorSignature = 0x07064b50;  // "PK\6\7"

constexpr uint64_t kLocalHeaderBytes = 30;
constexpr uint64_t kCentralEntryBytes = 46;
constexpr uint64_t kEndBytes = 22;
constexpr uint64_t kMaxCommentBytes = 65535;
constexpr uint64_t kZip64LocatorBytes = 20;
constexpr uint64_t kZip64EndBytes = 56;
constexpr uint64_t kZip64EndMinRecordSize = kZip64EndBytes - 12;  // the record size excludes signature + size

constexpr uint16_t kZip64ExtraId = 0x0001;
constexpr uint32_t kSentinel32 = 0xFFFFFFFF;
constexpr uint16_t kSentinel16 = 0xFFFF;

constexpr uint16_t kFlagEncrypted = 1u << 0;
constexpr uint16_t kFlagDataDescriptor = 1u << 3;
constexpr uint16_t kFlagStrongEncryption = 1u << 6;
/// Bit 13: local header values masked (strong encryption of the central directory); miniz, which
/// torch reads archives with, refuses it as encryption too.
constexpr uint16_t kFlagMaskedLocalHeader = 1u << 13;

constexpr uint16_t kMethodStored = 0;
constexpr uint16_t kMethodDeflate = 8;

/// Inflated members at most this large are exempt from the ratio cap (tiny members of zeros
/// legitimately compress by more than 1000×).
constexpr uint64_t kRatioExemptBytes = 1ull << 20;

uint16_t load16(const std::byte* at) {
  uint16_t value;
  std::memcpy(&value, at, sizeof(value));
  return value;
}
uint32_t load32(const std::byte* at) {
  uint32_t value;
  std::memcpy(&value, at, sizeof(value));
  return value;
}

std::string method_name(uint16_t method) {
  std::string name;
  switch (method) {
    case 1: name = "shrink"; break;
    case 6: name = "implode"; break;
    case 9: name = "deflate64"; break;
    case 12: name = "bzip2"; break;
    case 14: name = "lzma"; break;
    case 93: name = "zstd"; break;
    case 95: name = "xz"; break;
    case 98: name = "ppmd"; break;
    case 99: name = "AES encryption"; break;
    default: name = "unknown"; break;
  }
  return std::to_string(method) + " (" + name + ")";
}

/// Where the central directory is, from the end records.
struct DirectoryLocation {
  uint64_t offset = 0;
  uint64_t size = 0;
  uint64_t entries = 0;
};

/// Reads the ZIP64 end record named by the locator just before the end record at `end_pos`.
/// Returns nullopt when there is no locator. `end` holds the classic record's values, which must
/// agree with the ZIP64 ones unless they are sentinels.
std::optional<DirectoryLocation> read_zip64_end(const File& file, uint64_t end_pos, const DirectoryLocation& end,
                                                uint64_t& records_start) {
  if (end_pos < kZip64LocatorBytes) return std::nullopt;
  uint64_t locator_pos = end_pos - kZip64LocatorBytes;
  std::array<std::byte, kZip64LocatorBytes> locator{};
  file.read_exact(locator_pos, locator.data(), locator.size());
  Cursor loc(locator, file.path(), locator_pos);
  if (loc.read<uint32_t>("zip64 locator signature") != kZip64LocatorSignature) return std::nullopt;
  uint32_t record_disk = loc.read<uint32_t>("zip64 locator disk");
  uint64_t record_pos = loc.read<uint64_t>("zip64 locator record offset");
  uint32_t disks = loc.read<uint32_t>("zip64 locator disk count");
  if (record_disk != 0 || disks > 1) fail_unsupported(file.path(), "zip64 locator: multi-disk archives are not supported");
  if (record_pos > locator_pos || locator_pos - record_pos < kZip64EndBytes) {
    fail_parse(file.path(), "zip64 locator: record offset " + std::to_string(record_pos) +
                                " does not leave room for the zip64 end record before the locator (at offset " +
                                std::to_string(locator_pos) + ")");
  }
  std::array<std::byte, kZip64EndBytes> record{};
  file.read_exact(record_pos, record.data(), record.size());
  Cursor rec(record, file.path(), record_pos);
  if (rec.read<uint32_t>("zip64 end signature") != kZip64EndSignature) {
    fail_parse(file.path(), "zip64 end record: bad signature (at offset " + std::to_string(record_pos) + ")");
  }
  uint64_t record_size = rec.read<uint64_t>("zip64 end record size");
  if (record_size < kZip64EndMinRecordSize || record_size - kZip64EndMinRecordSize != locator_pos - record_pos - kZip64EndBytes) {
    fail_parse(file.path(), "zip64 end record: record size " + std::to_string(record_size) +
                                " does not end at the locator (at offset " + std::to_string(record_pos + 4) + ")");
  }
  rec.skip(4, "zip64 end versions");
  uint32_t disk = rec.read<uint32_t>("zip64 end disk");
  uint32_t directory_disk = rec.read<uint32_t>("zip64 end directory disk");
  uint64_t disk_entries = rec.read<uint64_t>("zip64 end entries on disk");
  DirectoryLocation location;
  location.entries = rec.read<uint64_t>("zip64 end entries");
  location.size = rec.read<uint64_t>("zip64 end directory size");
  location.offset = rec.read<uint64_t>("zip64 end directory offset");
  if (disk != 0 || directory_disk != 0 || disk_entries != location.entries) {
    fail_unsupported(file.path(), "zip64 end record: multi-disk archives are not supported");
  }
  auto agrees = [](uint64_t classic, uint64_t sentinel, uint64_t wide) { return classic == sentinel || classic == wide; };
  if (!agrees(end.entries, kSentinel16, location.entries) || !agrees(end.size, kSentinel32, location.size) ||
      !agrees(end.offset, kSentinel32, location.offset)) {
    fail_parse(file.path(), "zip64 end record: entry count, directory size or offset disagrees with the end of "
                            "central directory record (at offset " + std::to_string(record_pos) + ")");
  }
  records_start = record_pos;
  return location;
}

/// Finds the end-of-central-directory record: the signature nearest the end whose comment
/// reaches exactly the end of the file. A second such record earlier in the file would mean one
/// of them sits inside the other's comment: that archive is ambiguous and refused. The central
/// directory must end exactly where the end records begin.
DirectoryLocation locate_directory(const File& file) {
  uint64_t file_size = file.size();
  if (file_size < kEndBytes) fail_parse(file.path(), "end of central directory: not found (file shorter than 22 bytes)");
  uint64_t tail_len = std::min<uint64_t>(file_size, kEndBytes + kMaxCommentBytes);
  uint64_t tail_base = file_size - tail_len;
  std::vector<std::byte> tail = file.read_vec(tail_base, tail_len, "end of central directory");

  std::optional<uint64_t> found;  // position within tail
  for (uint64_t pos = tail_len - kEndBytes + 1; pos-- > 0;) {
    if (load32(tail.data() + pos) != kEndSignature) continue;
    uint64_t comment_len = load16(tail.data() + pos + 20);
    if (pos + kEndBytes + comment_len != tail_len) continue;
    if (found) {
      fail_parse(file.path(), "end of central directory: a second record at offset " + std::to_string(tail_base + *found) +
                                  " lies inside the archive comment of the record at offset " +
                                  std::to_string(tail_base + pos));
    }
    found = pos;
  }
  if (!found) fail_parse(file.path(), "end of central directory: not found (not a ZIP archive, or truncated)");

  uint64_t end_pos = tail_base + *found;
  Cursor end(std::span<const std::byte>(tail).subspan(*found, kEndBytes), file.path(), end_pos);
  end.skip(4, "end signature");
  uint16_t disk = end.read<uint16_t>("end disk");
  uint16_t directory_disk = end.read<uint16_t>("end directory disk");
  uint16_t disk_entries = end.read<uint16_t>("end entries on disk");
  DirectoryLocation location;
  location.entries = end.read<uint16_t>("end entries");
  location.size = end.read<uint32_t>("end directory size");
  location.offset = end.read<uint32_t>("end directory offset");

  uint64_t records_start = end_pos;
  if (auto zip64 = read_zip64_end(file, end_pos, location, records_start)) {
    location = *zip64;
  } else {
    if (disk != 0 || directory_disk != 0 || disk_entries != location.entries) {
      fail_unsupported(file.path(), "end of central directory: multi-disk archives are not supported");
    }
    if (location.entries == kSentinel16 || location.size == kSentinel32 || location.offset == kSentinel32) {
      fail_parse(file.path(), "end of central directory: 0xFFFF/0xFFFFFFFF values without a zip64 end record (at offset " +
                                  std::to_string(end_pos) + ")");
    }
  }
  if (location.offset > records_start || location.size != records_start - location.offset) {
    fail_parse(file.path(), "central directory: offset " + std::to_string(location.offset) + " + size " +
                                std::to_string(location.size) + " does not end at the end record (at offset " +
                                std::to_string(records_start) + ")");
  }
  return location;
}

/// The ZIP64 extra field's values, read in APPNOTE order, each present only when the classic
/// field is the sentinel.
struct Zip64Values {
  uint64_t uncompressed_size;
  uint64_t compressed_size;
  uint64_t local_offset;
};

/// Replaces sentinel values in `values` with those of the ZIP64 extra field in `extra`.
/// `where` names the header for messages.
void apply_zip64_extra(std::span<const std::byte> extra, Zip64Values& values, bool offset_present,
                       const std::string& file, const std::string& where, uint64_t extra_offset) {
  bool need_usize = values.uncompressed_size == kSentinel32;
  bool need_csize = values.compressed_size == kSentinel32;
  bool need_offset = offset_present && values.local_offset == kSentinel32;
  Cursor cursor(extra, file, extra_offset);
  bool seen = false;
  while (cursor.remaining() > 0) {
    uint16_t id = cursor.read<uint16_t>(where + " extra field id");
    uint16_t len = cursor.read<uint16_t>(where + " extra field size");
    auto body = cursor.take(len, where + " extra field");
    if (id != kZip64ExtraId) continue;
    if (seen) fail_parse(file, where + ": two zip64 extra fields");
    seen = true;
    Cursor fields(body, file, cursor.file_offset() - len);
    if (need_usize) values.uncompressed_size = fields.read<uint64_t>(where + " zip64 uncompressed size");
    if (need_csize) values.compressed_size = fields.read<uint64_t>(where + " zip64 compressed size");
    if (need_offset) values.local_offset = fields.read<uint64_t>(where + " zip64 local header offset");
  }
  if ((need_usize || need_csize || need_offset) && !seen) {
    fail_parse(file, where + ": 0xFFFFFFFF size or offset without a zip64 extra field (at offset " +
                         std::to_string(extra_offset) + ")");
  }
}

/// `name` shortened and with control bytes shown as '?', for messages.
void check_name(const std::string& file, std::string_view name, const Limits& limits, uint64_t at) {
  auto refuse = [&](const std::string& why) {
    fail_parse(file, "member name " + quoted(name) + ": " + why + " (at offset " + std::to_string(at) + ")");
  };
  if (name.empty()) refuse("empty");
  if (name.size() > limits.max_name) {
    fail_limit(file, "member name: " + std::to_string(name.size()) + " bytes exceeds the cap of " +
                         std::to_string(limits.max_name) + " (at offset " + std::to_string(at) + ")");
  }
  if (name.find('\0') != std::string_view::npos) refuse("contains NUL");
  if (name.find('\\') != std::string_view::npos) refuse("contains a backslash");
  if (name.front() == '/') refuse("is an absolute path");
  size_t start = 0;
  while (start <= name.size()) {
    size_t stop = name.find('/', start);
    if (stop == std::string_view::npos) stop = name.size();
    if (name.substr(start, stop - start) == "..") refuse("has a '..' component");
    start = stop + 1;
  }
}

/// A central directory entry before its local header is checked.
struct CentralEntry {
  ZipMember member;
  uint16_t flags = 0;
  uint16_t method = 0;
  uint64_t local_offset = 0;
  uint64_t entry_offset = 0;  ///< where the central entry sits, for messages
};

/// Checks the local header of `entry` and fills in its data offset; returns the end of its data.
uint64_t check_local_header(const File& file, CentralEntry& entry, uint64_t directory_offset) {
  const std::string& path = file.path();
  const std::string where = "member " + quoted(entry.member.name) + " local header";
  if (entry.local_offset > directory_offset || directory_offset - entry.local_offset < kLocalHeaderBytes) {
    fail_parse(path, where + ": offset " + std::to_string(entry.local_offset) + " is not before the central directory");
  }
  std::array<std::byte, kLocalHeaderBytes> fixed{};
  file.read_exact(entry.local_offset, fixed.data(), fixed.size());
  Cursor local(fixed, path, entry.local_offset);
  if (local.read<uint32_t>(where + " signature") != kLocalSignature) {
    fail_parse(path, where + ": bad signature (at offset " + std::to_string(entry.local_offset) + ")");
  }
  local.skip(2, "version");
  uint16_t flags = local.read<uint16_t>(where + " flags");
  uint16_t method = local.read<uint16_t>(where + " method");
  local.skip(4, "time and date");
  uint32_t crc = local.read<uint32_t>(where + " crc-32");
  Zip64Values values{};
  values.compressed_size = local.read<uint32_t>(where + " compressed size");
  values.uncompressed_size = local.read<uint32_t>(where + " uncompressed size");
  uint16_t name_len = local.read<uint16_t>(where + " name length");
  uint16_t extra_len = local.read<uint16_t>(where + " extra length");

  uint64_t variable_offset = entry.local_offset + kLocalHeaderBytes;
  if (name_len + extra_len > directory_offset - variable_offset) {
    fail_parse(path, where + ": name and extra fields run into the central directory (at offset " +
                         std::to_string(variable_offset) + ")");
  }
  std::vector<std::byte> variable = file.read_vec(variable_offset, name_len + extra_len, where);
  std::string_view local_name(reinterpret_cast<const char*>(variable.data()), name_len);
  if (local_name != entry.member.name) {
    fail_parse(path, where + ": name " + quoted(local_name) +
                         " differs from the central directory (at offset " + std::to_string(variable_offset) + ")");
  }
  if (method != entry.method) {
    fail_parse(path, where + ": method " + std::to_string(method) + " differs from the central directory's " +
                         std::to_string(entry.method));
  }
  if ((flags & (kFlagEncrypted | kFlagStrongEncryption | kFlagMaskedLocalHeader)) != 0) fail_unsupported(path, where + ": encrypted members are not supported");
  apply_zip64_extra(std::span<const std::byte>(variable).subspan(name_len), values, false, path, where,
                    variable_offset + name_len);
  // With a data descriptor (flag bit 3) the local header may carry zeros instead of the values.
  bool deferred = (flags & kFlagDataDescriptor) != 0;
  auto agrees = [&](uint64_t local_value, uint64_t central_value) {
    return local_value == central_value || (deferred && local_value == 0);
  };
  if (!agrees(crc, entry.member.crc32) || !agrees(values.compressed_size, entry.member.compressed_size) ||
      !agrees(values.uncompressed_size, entry.member.uncompressed_size)) {
    fail_parse(path, where + ": crc-32 or sizes differ from the central directory (at offset " +
                         std::to_string(entry.local_offset + 14) + ")");
  }
  uint64_t data_offset = variable_offset + name_len + extra_len;
  if (entry.member.compressed_size > directory_offset - data_offset) {
    fail_parse(path, "member " + quoted(entry.member.name) + ": data [" + std::to_string(data_offset) + ", +" +
                         std::to_string(entry.member.compressed_size) + ") runs into the central directory at offset " +
                         std::to_string(directory_offset));
  }
  entry.member.data_offset = data_offset;
  return data_offset + entry.member.compressed_size;
}

}  // namespace

std::vector<ZipMember> read_zip_directory(const File& file, const Limits& limits) {
  const std::string& path = file.path();
  DirectoryLocation location = locate_directory(file);
  if (location.entries > limits.max_items) {
    fail_limit(path, "central directory: " + std::to_string(location.entries) + " entries exceed the item cap of " +
                         std::to_string(limits.max_items));
  }
  if (location.entries > location.size / kCentralEntryBytes) {
    fail_parse(path, "central directory: " + std::to_string(location.entries) + " entries cannot fit in " +
                         std::to_string(location.size) + " bytes (at offset " + std::to_string(location.offset) + ")");
  }
  if (location.size > limits.max_alloc) {
    fail_limit(path, "central directory: " + std::to_string(location.size) + " bytes exceed the allocation cap");
  }
  std::vector<std::byte> directory = file.read_vec(location.offset, location.size, "central directory");
  Cursor cursor(directory, path, location.offset);

  charge(path, location.entries * (sizeof(CentralEntry) + sizeof(ZipMember)), "central directory entries");
  std::vector<CentralEntry> entries;
  entries.reserve(location.entries);
  std::set<std::string> names;
  for (uint64_t entry_idx = 0; entry_idx < location.entries; ++entry_idx) {
    CentralEntry entry;
    entry.entry_offset = cursor.file_offset();
    const std::string at = " (at offset " + std::to_string(entry.entry_offset) + ")";
    if (cursor.read<uint32_t>("central directory entry signature") != kCentralSignature) {
      fail_parse(path, "central directory entry " + std::to_string(entry_idx) + ": bad signature" + at);
    }
    cursor.skip(4, "central directory versions");
    entry.flags = cursor.read<uint16_t>("central directory flags");
    entry.method = cursor.read<uint16_t>("central directory method");
    cursor.skip(4, "central directory time and date");
    entry.member.crc32 = cursor.read<uint32_t>("central directory crc-32");
    Zip64Values values{};
    values.compressed_size = cursor.read<uint32_t>("central directory compressed size");
    values.uncompressed_size = cursor.read<uint32_t>("central directory uncompressed size");
    uint16_t name_len = cursor.read<uint16_t>("central directory name length");
    uint16_t extra_len = cursor.read<uint16_t>("central directory extra length");
    uint16_t comment_len = cursor.read<uint16_t>("central directory comment length");
    uint16_t start_disk = cursor.read<uint16_t>("central directory start disk");
    cursor.skip(6, "central directory attributes");
    values.local_offset = cursor.read<uint32_t>("central directory local header offset");
    charge(path, 2 * uint64_t{name_len} + kNodeBytes, "central directory names");  // the name and the duplicate check's copy
    entry.member.name = std::string(cursor.take_string(name_len, "central directory name"));
    check_name(path, entry.member.name, limits, entry.entry_offset);
    const std::string where = "member " + quoted(entry.member.name);
    uint64_t extra_offset = cursor.file_offset();
    apply_zip64_extra(cursor.take(extra_len, "central directory extra"), values, true, path, where, extra_offset);
    cursor.skip(comment_len, "central directory comment");
    if (start_disk != 0 && start_disk != kSentinel16) fail_unsupported(path, where + ": multi-disk archives are not supported");
    if ((entry.flags & (kFlagEncrypted | kFlagStrongEncryption | kFlagMaskedLocalHeader)) != 0) {
      fail_unsupported(path, where + ": encrypted members are not supported" + at);
    }
    if (entry.method == kMethodStored) {
      entry.member.method = Compression::None;
      if (values.compressed_size != values.uncompressed_size) {
        fail_parse(path, where + ": stored member with compressed size " + std::to_string(values.compressed_size) +
                             " != uncompressed size " + std::to_string(values.uncompressed_size) + at);
      }
    } else if (entry.method == kMethodDeflate) {
      entry.member.method = Compression::Deflate;
    } else {
      fail_unsupported(path, where + ": compression method " + method_name(entry.method) +
                                 " is not supported (only stored and deflate)" + at);
    }
    entry.member.compressed_size = values.compressed_size;
    entry.member.uncompressed_size = values.uncompressed_size;
    entry.local_offset = values.local_offset;
    entries.push_back(std::move(entry));
    if (!names.insert(entries.back().member.name).second) fail_parse(path, where + ": duplicate member name" + at);
  }
  if (cursor.remaining() != 0) {
    fail_parse(path, "central directory: " + std::to_string(cursor.remaining()) + " bytes after the last of " +
                         std::to_string(location.entries) + " entries (at offset " + std::to_string(cursor.file_offset()) + ")");
  }

  // Each member occupies [local header, data end); no two may share a byte (zip-bomb construction).
  struct Span {
    uint64_t begin, end;
    size_t entry_idx;
  };
  charge(path, entries.size() * sizeof(Span), "central directory spans");
  std::vector<Span> spans;
  spans.reserve(entries.size());
  for (size_t entry_idx = 0; entry_idx < entries.size(); ++entry_idx) {
    uint64_t data_end = check_local_header(file, entries[entry_idx], location.offset);
    spans.push_back({entries[entry_idx].local_offset, data_end, entry_idx});
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  for (size_t span_idx = 1; span_idx < spans.size(); ++span_idx) {
    if (spans[span_idx].begin < spans[span_idx - 1].end) {
      fail_parse(path, "member " + quoted(entries[spans[span_idx].entry_idx].member.name) + " overlaps member " +
                           quoted(entries[spans[span_idx - 1].entry_idx].member.name) + " (local header at offset " +
                           std::to_string(spans[span_idx].begin) + ")");
    }
  }

  std::vector<ZipMember> members;
  members.reserve(entries.size());
  for (auto& entry : entries) members.push_back(std::move(entry.member));
  return members;
}

bool looks_like_zip(const File& file) {
  std::array<std::byte, 4> head{};
  if (file.size() < head.size()) return false;
  file.read_exact(0, head.data(), head.size());
  uint32_t signature = load32(head.data());
  return signature == kLocalSignature || (signature == kEndSignature && file.size() >= kEndBytes);
}

namespace {

void check_storage_limits(const std::string& file, const Storage& storage, const std::string& label,
                          const Limits& limits) {
  if (storage.size > limits.max_alloc || storage.stored_size > limits.max_alloc) {
    fail_limit(file, label + ": " + std::to_string(storage.size) + " uncompressed bytes exceed the allocation cap of " +
                         std::to_string(limits.max_alloc));
  }
  if (storage.compression == Compression::Deflate && storage.size > kRatioExemptBytes &&
      storage.size / std::max<uint64_t>(limits.max_ratio, 1) >= std::max<uint64_t>(storage.stored_size, 1)) {
    fail_limit(file, label + ": compression ratio of " + std::to_string(storage.size) + " / " +
                         std::to_string(storage.stored_size) + " bytes exceeds the cap of " +
                         std::to_string(limits.max_ratio));
  }
}

/// Inflates the raw DEFLATE data at `offset` (`compressed` bytes) into at most `len` bytes. The
/// input is read 64 KiB at a time and the output grows as bytes arrive (doubling from 64 KiB,
/// each growth charged), so a member whose declared size lies costs what its data inflates to.
/// `whole`: the data must end exactly at `len` bytes; otherwise the first `len` bytes are wanted.
std::vector<std::byte> inflate_stream(const File& file, uint64_t offset, uint64_t compressed, uint64_t len, bool whole,
                                      const std::string& label) {
  constexpr uint64_t kChunkBytes = 64 * 1024;
  constexpr int kRawDeflateWindowBits = -15;
  z_stream stream{};
  if (inflateInit2(&stream, kRawDeflateWindowBits) != Z_OK) throw Error(ErrorCode::Io, file.path() + ": cannot start inflating");
  std::unique_ptr<z_stream, decltype(&inflateEnd)> guard(&stream, &inflateEnd);
  const uint64_t input_bytes = std::min(kChunkBytes, compressed);
  charge(file.path(), input_bytes, label);
  std::vector<std::byte> input(input_bytes);
  std::vector<std::byte> out;
  uint64_t consumed = 0;
  uint64_t produced = 0;
  bool ended = false;
  std::array<std::byte, 1> probe{};  // where a full output's next byte would go (none may come)
  while (!ended && (produced < len || whole)) {
    if (produced == out.size()) {
      if (out.size() == len) {  // full: only the end of the stream may follow
        if (!whole) break;
        stream.next_out = reinterpret_cast<Bytef*>(probe.data());
        stream.avail_out = 1;
      } else {
        const uint64_t grown = std::min(len, std::max(kChunkBytes, 2 * out.size()));
        charge(file.path(), grown - out.size(), label);
        out.resize(grown);
      }
    }
    if (out.size() > produced) {
      stream.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
      stream.avail_out = static_cast<uInt>(std::min<uint64_t>(out.size() - produced, std::numeric_limits<uInt>::max()));
    }
    if (stream.avail_in == 0 && consumed < compressed) {
      const uint64_t take = std::min(kChunkBytes, compressed - consumed);
      file.read_exact(offset + consumed, input.data(), take);
      consumed += take;
      stream.next_in = reinterpret_cast<Bytef*>(input.data());
      stream.avail_in = static_cast<uInt>(take);
    }
    const uInt room = stream.avail_out;
    const uLong taken = stream.total_in;
    const int result = inflate(&stream, Z_NO_FLUSH);
    const uint64_t made = room - stream.avail_out;
    if (produced == len && made > 0) {
      fail_parse(file.path(), label + ": inflates to more than its declared uncompressed size " + std::to_string(len));
    }
    produced += made;
    if (result == Z_STREAM_END) {
      ended = true;
    } else if (result != Z_OK && result != Z_BUF_ERROR) {
      fail_parse(file.path(), label + ": invalid DEFLATE data");
    } else if (made == 0 && stream.total_in == taken) {
      if (stream.avail_in == 0 && consumed == compressed) break;  // the input is used up before the stream ends
      fail_parse(file.path(), label + ": invalid DEFLATE data (no progress)");
    }
  }
  if (produced < len) {
    fail_parse(file.path(), label + ": inflated data ends before its declared uncompressed size " + std::to_string(len) +
                                " (after " + std::to_string(produced) + " bytes)");
  }
  if (whole && !ended) fail_parse(file.path(), label + ": invalid DEFLATE data (the stream does not end)");
  out.resize(produced);
  return out;
}

}  // namespace

std::vector<std::byte> read_storage_bytes(const File& file, const Storage& storage, const std::string& label,
                                          const Limits& limits) {
  check_storage_limits(file.path(), storage, label, limits);
  if (storage.compression == Compression::None && storage.stored_size != storage.size) {
    fail_parse(file.path(), label + ": stored size " + std::to_string(storage.stored_size) + " != size " +
                                std::to_string(storage.size));
  }
  std::vector<std::byte> bytes =
      storage.compression == Compression::None
          ? file.read_vec(storage.offset, storage.stored_size, label)
          : inflate_stream(file, storage.offset, storage.stored_size, storage.size, true, label);
  if (storage.check_crc) {
    uint32_t actual = libdeflate_crc32(0, bytes.data(), bytes.size());
    if (actual != storage.crc32) {
      fail_parse(file.path(), label + ": CRC-32 mismatch (stored " + std::to_string(storage.crc32) + ", computed " +
                                  std::to_string(actual) + ")");
    }
  }
  return bytes;
}

std::vector<std::byte> read_member(const File& file, const ZipMember& member, const Limits& limits) {
  return read_storage_bytes(file, member_storage(member, 0), "member " + quoted(member.name), limits);
}

std::vector<std::byte> read_member_prefix(const File& file, const ZipMember& member, uint64_t len,
                                          const Limits& limits) {
  const std::string label = "member " + quoted(member.name);
  const Storage storage = member_storage(member, 0);
  check_storage_limits(file.path(), storage, label, limits);
  len = std::min(len, member.uncompressed_size);
  if (len > std::numeric_limits<uInt>::max()) fail_limit(file.path(), label + ": prefix of " + std::to_string(len) + " bytes is too large");
  if (member.method == Compression::None) return file.read_vec(member.data_offset, len, label);
  return inflate_stream(file, member.data_offset, member.compressed_size, len, false, label);
}

Storage member_storage(const ZipMember& member, uint32_t file_index) {
  Storage storage;
  storage.file_index = file_index;
  storage.offset = member.data_offset;
  storage.stored_size = member.compressed_size;
  storage.size = member.uncompressed_size;
  storage.compression = member.method;
  storage.crc32 = member.crc32;
  storage.check_crc = true;
  return storage;
}

}  // namespace amn::io
