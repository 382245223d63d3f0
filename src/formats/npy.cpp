// NPY arrays and NPZ archives (numpy format.py, versions 1.0 / 2.0 / 3.0): the header dict is
// parsed as a restricted Python literal; nothing is ever unpickled.
//
// An NPY file is "\x93NUMPY", major, minor, a header length (u16 for 1.0, u32 for 2.0/3.0), then
// the header: a dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...)} padded with
// spaces and a newline; the array data follows. An NPZ is a ZIP of `name.npy` members.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <string_view>

#include "amn/error.hpp"
#include "formats/formats.hpp"
#include "io/budget.hpp"
#include "io/display.hpp"
#include "io/file.hpp"
#include "io/zip.hpp"

namespace amn::formats {
namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
constexpr uint64_t kPrefixBytesV1 = 10;  // magic + version + u16 header length
constexpr uint64_t kPrefixBytesV2 = 12;  // magic + version + u32 header length
/// Cap on the header dict; numpy's own headers are a few hundred bytes.
constexpr uint64_t kMaxHeaderBytes = 1ull << 20;
/// Bytes of a deflated member inflated first: numpy's headers fit in far less.
constexpr uint64_t kTypicalHeadBytes = 4096;
constexpr std::string_view kNpySuffix = ".npy";

/// What an NPY header says, validated.
struct NpyHeader {
  DType dtype = DType::F32;
  ByteOrder byte_order = ByteOrder::Little;
  bool fortran_order = false;
  std::vector<int64_t> shape;
  uint64_t data_offset = 0;  ///< bytes before the data (prefix + header)
  uint64_t nbytes = 0;       ///< declared data bytes
};

/// Reads `len` bytes at `offset` of the NPY bytes (a file or a ZIP member).
using ReadAt = std::function<std::vector<std::byte>(uint64_t offset, uint64_t len)>;

/// Parses the header dict: a restricted Python literal with exactly the keys descr (a string),
/// fortran_order (True/False) and shape (a tuple of non-negative ints). Offsets in messages are
/// relative to the start of the NPY bytes.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, uint64_t text_offset, std::string file, std::string where, const Limits& limits)
      : text_(text), base_(text_offset), file_(std::move(file)), where_(std::move(where)), limits_(limits) {}

  NpyHeader parse() {
    NpyHeader header;
    skip_space();
    if (!consume('{')) fail("header", "not a dict (expected '{')");
    bool seen_descr = false, seen_fortran = false, seen_shape = false;
    skip_space();
    while (!consume('}')) {
      uint64_t key_at = pos_;
      std::string key = parse_string("header key");
      skip_space();
      if (!consume(':')) fail("header", "expected ':' after key " + io::quoted(key));
      skip_space();
      bool* seen = nullptr;
      if (key == "descr") {
        seen = &seen_descr;
        parse_descr(header);
      } else if (key == "fortran_order") {
        seen = &seen_fortran;
        header.fortran_order = parse_bool("fortran_order");
      } else if (key == "shape") {
        seen = &seen_shape;
        header.shape = parse_shape();
      } else {
        pos_ = key_at;
        fail("header", "unexpected key " + io::quoted(key, 64));
      }
      if (*seen) {
        pos_ = key_at;
        fail("header", "duplicate key " + io::quoted(key));
      }
      *seen = true;
      skip_space();
      if (!consume(',')) {
        skip_space();
        if (!consume('}')) fail("header", "expected ',' or '}'");
        break;
      }
      skip_space();
    }
    skip_space();
    if (pos_ != text_.size()) fail("header", "unexpected text after the dict");
    if (!seen_descr) fail("header", "missing key 'descr'");
    if (!seen_fortran) fail("header", "missing key 'fortran_order'");
    if (!seen_shape) fail("header", "missing key 'shape'");
    return header;
  }

 private:
  [[noreturn]] void fail(std::string_view field, const std::string& what) const {
    fail_parse(file_, where_ + std::string(field) + ": " + what + " (at offset " + std::to_string(base_ + pos_) + ")");
  }

  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r')) ++pos_;
  }

  bool consume(char expected) {
    if (pos_ < text_.size() && text_[pos_] == expected) {
      ++pos_;
      return true;
    }
    return false;
  }

  bool consume_word(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  /// A quoted string without escapes.
  std::string parse_string(std::string_view field) {
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) fail(field, "not a string");
    char quote = text_[pos_++];
    size_t stop = text_.find(quote, pos_);
    if (stop == std::string_view::npos) fail(field, "unterminated string");
    std::string_view body = text_.substr(pos_, stop - pos_);
    if (body.find('\\') != std::string_view::npos) fail(field, "escape sequences are not supported");
    pos_ = stop + 1;
    return std::string(body);
  }

  bool parse_bool(std::string_view field) {
    if (consume_word("True")) return true;
    if (consume_word("False")) return false;
    fail(field, "not True or False");
  }

  /// A non-negative decimal integer, with Python 2's optional 'L' suffix.
  int64_t parse_dim() {
    if (pos_ < text_.size() && text_[pos_] == '-') fail("shape", "negative dimension");
    if (pos_ >= text_.size() || text_[pos_] < '0' || text_[pos_] > '9') fail("shape", "dimension is not an integer");
    int64_t value = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      if (__builtin_mul_overflow(value, 10, &value) || __builtin_add_overflow(value, text_[pos_] - '0', &value)) {
        fail("shape", "dimension does not fit in 64 bits");
      }
      ++pos_;
    }
    consume('L');
    return value;
  }

  /// A tuple of dims: `()`, `(3,)`, `(3, 4)`, `(3, 4,)`. A parenthesised single int is not a tuple.
  std::vector<int64_t> parse_shape() {
    if (!consume('(')) fail("shape", "not a tuple");
    std::vector<int64_t> shape;
    skip_space();
    bool trailing_comma = false;
    while (!consume(')')) {
      if (shape.size() >= limits_.max_dims) {
        fail_limit(file_, where_ + "shape: more than " + std::to_string(limits_.max_dims) + " dimensions (at offset " +
                              std::to_string(base_ + pos_) + ")");
      }
      shape.push_back(parse_dim());
      skip_space();
      trailing_comma = consume(',');
      skip_space();
      if (!trailing_comma && !(pos_ < text_.size() && text_[pos_] == ')')) fail("shape", "expected ',' or ')'");
    }
    if (shape.size() == 1 && !trailing_comma) fail("shape", "not a tuple (a 1-tuple needs a trailing comma)");
    return shape;
  }

  void parse_descr(NpyHeader& header) {
    if (pos_ < text_.size() && (text_[pos_] == '[' || text_[pos_] == '(' || text_[pos_] == '{')) {
      fail_unsupported(file_, where_ + "descr: structured dtypes are not supported (at offset " +
                                  std::to_string(base_ + pos_) + ")");
    }
    uint64_t descr_at = pos_;
    std::string descr = parse_string("descr");
    std::string_view body = descr;
    char order = '|';
    if (!body.empty() && (body.front() == '<' || body.front() == '>' || body.front() == '|' || body.front() == '=')) {
      order = body.front();
      body.remove_prefix(1);
    }
    auto refuse = [&](bool unsupported, const std::string& why) {
      std::string message = where_ + "descr " + io::quoted(descr, 64) + ": " + why + " (at offset " +
                            std::to_string(base_ + descr_at) + ")";
      if (unsupported) fail_unsupported(file_, message);
      fail_parse(file_, message);
    };
    if (body.empty()) refuse(false, "empty type");
    char kind = body.front();
    std::string_view size_text = body.substr(1);
    if (kind == 'O') refuse(true, "object arrays need pickle and are refused");
    uint64_t size = 0;
    if (size_text.empty() || size_text.size() > 6 ||
        size_text.find_first_not_of("0123456789") != std::string_view::npos) {
      refuse(true, "not a plain numeric type");
    }
    for (char digit : size_text) size = size * 10 + static_cast<uint64_t>(digit - '0');
    if (size == 0) refuse(false, "zero-sized element type");
    std::optional<DType> dtype;
    switch (kind) {
      case 'b': if (size == 1) dtype = DType::BOOL; break;
      case 'i':
        if (size == 1) dtype = DType::I8;
        if (size == 2) dtype = DType::I16;
        if (size == 4) dtype = DType::I32;
        if (size == 8) dtype = DType::I64;
        break;
      case 'u':
        if (size == 1) dtype = DType::U8;
        if (size == 2) dtype = DType::U16;
        if (size == 4) dtype = DType::U32;
        if (size == 8) dtype = DType::U64;
        break;
      case 'f':
        if (size == 2) dtype = DType::F16;
        if (size == 4) dtype = DType::F32;
        if (size == 8) dtype = DType::F64;
        break;
      case 'c': if (size == 8) dtype = DType::C64; break;
      case 'V': if (size == 2) dtype = DType::BF16; break;  // ml_dtypes/JAX bfloat16 is saved as 2-byte void
      default: break;
    }
    if (!dtype) refuse(true, "no matching amn dtype");
    header.dtype = *dtype;
    header.byte_order = (order == '>' && size > 1) ? ByteOrder::Big : ByteOrder::Little;
  }

  std::string_view text_;
  uint64_t base_;
  std::string file_;
  std::string where_;
  const Limits& limits_;
  uint64_t pos_ = 0;
};

/// Reads and validates the NPY prefix and header from `read_at`; `available` is the number of
/// NPY bytes (file or member size). `where` prefixes messages ("member 'x.npy': ").
NpyHeader read_npy_header(const std::string& file, const std::string& where, uint64_t available, const ReadAt& read_at,
                          const Limits& limits) {
  if (available < kPrefixBytesV1) fail_parse(file, where + "magic: shorter than an NPY prefix (" + std::to_string(available) + " bytes)");
  std::vector<std::byte> prefix = read_at(0, std::min(available, kPrefixBytesV2));
  if (std::memcmp(prefix.data(), kMagic.data(), kMagic.size()) != 0) fail_parse(file, where + "magic: not \\x93NUMPY (at offset 0)");
  auto major = static_cast<unsigned>(prefix[6]);
  auto minor = static_cast<unsigned>(prefix[7]);
  if (major < 1 || major > 3 || minor != 0) {
    fail_unsupported(file, where + "version: " + std::to_string(major) + "." + std::to_string(minor) +
                               " is not 1.0, 2.0 or 3.0 (at offset 6)");
  }
  uint64_t prefix_bytes = major == 1 ? kPrefixBytesV1 : kPrefixBytesV2;
  if (available < prefix_bytes) fail_parse(file, where + "header length: truncated (at offset 8)");
  uint64_t header_len = 0;
  if (major == 1) {
    uint16_t len16 = 0;
    std::memcpy(&len16, prefix.data() + 8, sizeof(len16));
    header_len = len16;
  } else {
    uint32_t len32 = 0;
    std::memcpy(&len32, prefix.data() + 8, sizeof(len32));
    header_len = len32;
  }
  uint64_t cap = std::min(kMaxHeaderBytes, limits.max_header_bytes);
  if (header_len > cap) {
    fail_limit(file, where + "header length: " + std::to_string(header_len) + " bytes exceeds the cap of " +
                         std::to_string(cap) + " (at offset 8)");
  }
  if (header_len > available - prefix_bytes) {
    fail_parse(file, where + "header length: " + std::to_string(header_len) + " bytes but only " +
                         std::to_string(available - prefix_bytes) + " follow (at offset 8)");
  }
  std::vector<std::byte> text_bytes = read_at(prefix_bytes, header_len);  // charged by read_at
  std::string_view text(reinterpret_cast<const char*>(text_bytes.data()), text_bytes.size());
  NpyHeader header = HeaderParser(text, prefix_bytes, file, where, limits).parse();
  header.data_offset = prefix_bytes + header_len;

  auto elems = element_count(header.shape);
  auto bytes = elems ? byte_size(header.dtype, *elems) : std::nullopt;
  if (!bytes) fail_parse(file, where + "shape: element count or byte size overflows");
  header.nbytes = *bytes;
  if (header.nbytes > available - header.data_offset) {
    fail_parse(file, where + "shape: declares " + std::to_string(header.nbytes) + " data bytes but only " +
                         std::to_string(available - header.data_offset) + " are present (at offset " +
                         std::to_string(header.data_offset) + ")");
  }
  return header;
}

/// A tensor over storage `storage_idx` as the header describes it. Fortran-order arrays get
/// column-major element strides so readers emit C-order values.
Tensor make_tensor(std::string name, const NpyHeader& header, uint32_t storage_idx) {
  Tensor tensor;
  tensor.name = std::move(name);
  tensor.dtype = header.dtype;
  tensor.shape = header.shape;
  tensor.nbytes = header.nbytes;
  tensor.storage = storage_idx;
  tensor.byte_offset = header.data_offset;
  tensor.byte_order = header.byte_order;
  if (header.fortran_order && header.shape.size() > 1 && header.nbytes > 0) {
    tensor.strides.resize(header.shape.size());
    int64_t stride = 1;  // cannot overflow: the product of all dims is a valid byte count
    for (size_t dim = 0; dim < header.shape.size(); ++dim) {
      tensor.strides[dim] = stride;
      stride *= header.shape[dim];
    }
  }
  return tensor;
}

Catalog start_catalog(Format format, const io::File& file, std::string description) {
  Catalog catalog;
  catalog.format = format;
  catalog.files = {file.path()};
  catalog.file_sizes = {file.size()};
  catalog.description = std::move(description);
  return catalog;
}

}  // namespace

/// The tensor is named after the file's stem ("weights.npy" → "weights").
Catalog read_npy(const std::string& path, const Limits& limits) {
  io::HeapBudget budget(limits);
  io::File file(path);
  NpyHeader header = read_npy_header(path, "", file.size(),
                                     [&](uint64_t offset, uint64_t len) { return file.read_vec(offset, len); }, limits);
  if (!file.size_known()) file.declare_end(header.data_offset + header.nbytes, true);  // standard input
  Catalog catalog = start_catalog(Format::Npy, file, "NPY array");
  Storage storage;
  storage.file_index = 0;
  storage.offset = 0;
  storage.stored_size = storage.size = file.size();
  catalog.storages.push_back(storage);
  const std::string name = io::is_stdin(path) ? "stdin" : std::filesystem::path(path).stem().string();
  catalog.tensors.push_back(make_tensor(name, header, 0));
  return catalog;
}

/// Each `name.npy` member becomes tensor `name` over one storage (the member, stored or
/// deflated); other members are listed in Catalog::extras. Deflated members are inflated only
/// as far as their header here; their CRC is checked when the data is read.
Catalog read_npz(const std::string& path, const Limits& limits) {
  io::HeapBudget budget(limits);
  io::File file(path);
  std::vector<io::ZipMember> members = io::read_zip_directory(file, limits);
  Catalog catalog = start_catalog(Format::Npz, file, "NPZ archive");
  for (const auto& member : members) {
    std::string_view name = member.name;
    io::charge(path, sizeof(Tensor) + sizeof(Storage) + 2 * name.size() + limits.max_dims * sizeof(int64_t),
               "member " + io::quoted(member.name));  // a tensor or an extra, and its shape
    if (name.size() <= kNpySuffix.size() || !name.ends_with(kNpySuffix)) {
      catalog.extras.emplace_back(member.name, "ZIP member of " + std::to_string(member.uncompressed_size) +
                                                   " bytes, not an array (ignored)");
      continue;
    }
    const std::string where = "member " + io::quoted(member.name) + ": ";
    std::vector<std::byte> head;  // a deflated member's first bytes, inflated on demand
    ReadAt read_at = [&](uint64_t offset, uint64_t len) -> std::vector<std::byte> {
      if (member.method == Compression::None) return file.read_vec(member.data_offset + offset, len);
      if (offset + len > head.size()) {
        head = io::read_member_prefix(file, member, std::max(offset + len, kTypicalHeadBytes), limits);
      }
      auto begin = head.begin() + static_cast<std::ptrdiff_t>(offset);
      return {begin, begin + static_cast<std::ptrdiff_t>(len)};
    };
    NpyHeader header = read_npy_header(path, where, member.uncompressed_size, read_at, limits);
    auto storage_idx = static_cast<uint32_t>(catalog.storages.size());
    catalog.storages.push_back(io::member_storage(member, 0));
    catalog.tensors.push_back(make_tensor(std::string(name.substr(0, name.size() - kNpySuffix.size())), header, storage_idx));
  }
  return catalog;
}

}  // namespace amn::formats
