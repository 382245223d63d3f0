// GGUF reader (v2, v3): header, typed metadata and tensor infos, validated by ggml's gguf.cpp rules.
#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <limits>
#include <string_view>
#include <unordered_set>

#include "amn/error.hpp"
#include "formats/formats.hpp"
#include "io/budget.hpp"
#include "io/display.hpp"
#include "io/file.hpp"

namespace amn::formats {
namespace {

constexpr std::array<char, 4> kMagic = {'G', 'G', 'U', 'F'};
constexpr uint32_t kOldestVersion = 2;  ///< v1 is gone from ggml too
constexpr uint32_t kNewestVersion = 3;
constexpr uint32_t kLowHalfMask = 0xFFFF;     ///< a byte-swapped small version has a zero low half
constexpr uint32_t kDefaultAlignment = 32;    ///< GGUF_DEFAULT_ALIGNMENT
constexpr uint32_t kMaxAlignment = 1u << 20;  ///< our cap: no real file pads tensors to more than 1 MiB
constexpr uint32_t kMaxDims = 4;              ///< GGML_MAX_DIMS
constexpr uint64_t kMaxTensorName = 63;       ///< GGML_MAX_NAME (64) minus the NUL
constexpr uint32_t kMetaTypeCount = 13;
constexpr size_t kWindowBytes = 1u << 20;     ///< header read-ahead window
// The smallest encodings, used to bound a declared count by the bytes left in the file.
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;           ///< key length, 1-byte key, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;  ///< name length, n_dims, type, offset
constexpr uint64_t kStringLengthBytes = 8;

constexpr std::string_view kAlignmentKey = "general.alignment";
constexpr std::string_view kSplitCountKey = "split.count";
constexpr std::string_view kSplitNoKey = "split.no";
constexpr std::string_view kSplitTensorsKey = "split.tensors.count";

/// GGUF spec names of the metadata value types, by id.
constexpr std::array<std::string_view, kMetaTypeCount> kMetaTypeNames = {
    "UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64",
};

std::string type_name(MetaType type) { return std::string(kMetaTypeNames[static_cast<size_t>(type)]); }

/// Bytes of one fixed-size value of `type`; 0 for String and Array.
uint64_t fixed_size(MetaType type) {
  switch (type) {
    case MetaType::U8: case MetaType::I8: case MetaType::Bool: return 1;
    case MetaType::U16: case MetaType::I16: return 2;
    case MetaType::U32: case MetaType::I32: case MetaType::F32: return 4;
    case MetaType::U64: case MetaType::I64: case MetaType::F64: return 8;
    case MetaType::String: case MetaType::Array: return 0;
  }
  return 0;
}

bool is_integer(MetaType type) {
  return type != MetaType::F32 && type != MetaType::F64 && type != MetaType::Bool && fixed_size(type) != 0;
}

std::string at(uint64_t offset) { return " (at offset " + std::to_string(offset) + ")"; }

/// Sequential little-endian reads of a file's header through a bounded window refilled from the
/// file. Nothing is read past the end of the file; every read checks the bytes remaining first.
class HeaderReader {
 public:
  explicit HeaderReader(const io::File& file) : file_(file), window_(charged_window(file)) {}

  [[nodiscard]] uint64_t offset() const { return offset_; }
  [[nodiscard]] uint64_t remaining() const { return file_.size() - offset_; }

  /// Throws Error(Parse) "FIELD: truncated" unless `len` bytes remain.
  void need(uint64_t len, std::string_view field) const {
    if (len > remaining()) {
      fail_parse(file_.path(), std::string(field) + ": truncated, needs " + std::to_string(len) + " bytes but " +
                                   std::to_string(remaining()) + " remain" + at(offset_));
    }
  }

  void read_bytes(void* dst, uint64_t len, std::string_view field) {
    need(len, field);
    auto* out = static_cast<std::byte*>(dst);
    while (len > 0) {
      if (offset_ < window_begin_ || offset_ >= window_begin_ + window_len_) refill();
      size_t from = static_cast<size_t>(offset_ - window_begin_);
      size_t take = static_cast<size_t>(std::min<uint64_t>(len, window_len_ - from));
      std::memcpy(out, window_.data() + from, take);
      out += take;
      offset_ += take;
      len -= take;
    }
  }

  template <class T>
  [[nodiscard]] T read(std::string_view field) {
    T value;
    read_bytes(&value, sizeof(T), field);
    return value;
  }

  /// A length-prefixed string of at most `max_len` bytes (longer: Error(Limit)).
  [[nodiscard]] std::string read_string(std::string_view field, uint64_t max_len) {
    uint64_t start = offset_;
    auto len = read<uint64_t>(field);
    if (len > remaining()) {
      fail_parse(file_.path(), std::string(field) + ": string length " + std::to_string(len) + " exceeds the " +
                                   std::to_string(remaining()) + " bytes remaining" + at(start));
    }
    if (len > max_len) {
      fail_limit(file_.path(), std::string(field) + ": string length " + std::to_string(len) + " is above the cap of " +
                                   std::to_string(max_len) + at(start));
    }
    io::charge(file_.path(), len, field);
    std::string text(static_cast<size_t>(len), '\0');
    read_bytes(text.data(), len, field);
    return text;
  }

 private:
  static std::vector<std::byte> charged_window(const io::File& file) {
    const auto bytes = static_cast<size_t>(std::min<uint64_t>(kWindowBytes, file.size()));
    io::charge(file.path(), bytes, "header window");
    return std::vector<std::byte>(bytes);
  }

  void refill() {
    window_begin_ = offset_;
    // Standard input may end before its (unknown) size says: read what there is.
    window_len_ = file_.read_upto(window_begin_, window_.data(), static_cast<size_t>(std::min<uint64_t>(window_.size(), remaining())));
    if (window_len_ == 0) fail_parse(file_.path(), "truncated at offset " + std::to_string(offset_));
  }

  const io::File& file_;
  std::vector<std::byte> window_;
  uint64_t window_begin_ = 0;  ///< file offset of window_[0]
  size_t window_len_ = 0;      ///< valid bytes in window_
  uint64_t offset_ = 0;        ///< file offset of the next read
};

/// One GGUF file being parsed into a catalog.
class GgufParser {
 public:
  GgufParser(const std::string& path, const Limits& limits) : file_(path), reader_(file_), limits_(limits) {}

  Catalog parse() {
    read_preamble();
    io::charge(file_.path(), n_kv_ * sizeof(MetaEntry) + n_tensors_ * sizeof(Tensor), "n_kv and n_tensors records");
    if (file_.size_known()) {  // counts checked against the bytes remaining; standard input's are not
      catalog_.metadata.reserve(n_kv_);
      catalog_.tensors.reserve(n_tensors_);
    }
    for (uint64_t kv_idx = 0; kv_idx < n_kv_; ++kv_idx) read_kv(kv_idx);
    check_alignment();
    check_split_keys();
    uint64_t data_bytes = 0;  // running aligned end of the data section, relative to its start
    for (uint64_t tensor_idx = 0; tensor_idx < n_tensors_; ++tensor_idx) read_tensor_info(tensor_idx, data_bytes);
    place_data_section();
    catalog_.format = Format::Gguf;
    catalog_.files = {file_.path()};
    catalog_.file_sizes = {file_.size()};
    catalog_.gguf_alignment = alignment_;
    catalog_.description = "GGUF v" + std::to_string(catalog_.gguf_version);
    return std::move(catalog_);
  }

 private:
  [[noreturn]] void parse_error(const std::string& message) const { fail_parse(file_.path(), message); }

  void read_preamble() {
    std::array<char, 4> magic{};
    reader_.read_bytes(magic.data(), magic.size(), "magic");
    if (magic != kMagic) parse_error("magic: expected 'GGUF'" + at(0));
    uint64_t version_offset = reader_.offset();
    auto version = reader_.read<uint32_t>("version");
    if (version != 0 && (version & kLowHalfMask) == 0) {
      fail_unsupported(file_.path(), "version: " + std::to_string(version) + " looks byte-swapped; the file looks "
                                     "big-endian, which amn does not support" + at(version_offset));
    }
    if (version == 0) parse_error("version: 0 is not a GGUF version" + at(version_offset));
    if (version < kOldestVersion || version > kNewestVersion) {
      fail_unsupported(file_.path(), "version: GGUF v" + std::to_string(version) + " is not supported (only v2 and v3)" +
                                         at(version_offset));
    }
    catalog_.gguf_version = version;
    n_tensors_ = read_count("n_tensors", kMinTensorInfoBytes);
    n_kv_ = read_count("n_kv", kMinKvBytes);
  }

  /// A count of records that take at least `min_record_bytes` each, checked against the file.
  uint64_t read_count(std::string_view field, uint64_t min_record_bytes) {
    uint64_t start = reader_.offset();
    auto count = reader_.read<uint64_t>(field);
    if (count > reader_.remaining() / min_record_bytes) {
      parse_error(std::string(field) + ": " + std::to_string(count) + " records cannot fit in the " +
                  std::to_string(reader_.remaining()) + " bytes remaining" + at(start));
    }
    if (count > limits_.max_items) {
      fail_limit(file_.path(), std::string(field) + ": " + std::to_string(count) + " is above the item cap of " +
                                   std::to_string(limits_.max_items) + at(start));
    }
    return count;
  }

  MetaType read_type(const std::string& field) {
    uint64_t start = reader_.offset();
    auto id = reader_.read<uint32_t>(field);
    if (id >= kMetaTypeCount) parse_error(field + ": " + std::to_string(id) + " is not a GGUF value type" + at(start));
    return static_cast<MetaType>(id);
  }

  void read_kv(uint64_t kv_idx) {
    uint64_t start = reader_.offset();
    std::string key = reader_.read_string("key " + std::to_string(kv_idx), limits_.max_string);
    if (key.empty()) parse_error("key " + std::to_string(kv_idx) + ": empty key" + at(start));
    io::charge(file_.path(), key.size() + io::kNodeBytes, "key " + std::to_string(kv_idx));  // the duplicate check's copy
    if (!keys_.insert(key).second) parse_error("key " + io::quoted(key) + ": duplicate key" + at(start));
    std::string field = "metadata " + io::quoted(key);
    MetaValue value;
    MetaType type = read_type(field + " type");
    if (type == MetaType::Array) {
      value = read_array(field);
    } else {
      count_values(1, field, start);
      value = read_scalar(type, field);
    }
    catalog_.metadata.push_back({std::move(key), std::move(value)});
  }

  /// Counts metadata values against the item cap (each costs a MetaValue in memory).
  void count_values(uint64_t count, const std::string& field, uint64_t offset) {
    if (count > limits_.max_items - meta_values_) {
      fail_limit(file_.path(), field + ": more metadata values than the item cap of " +
                                   std::to_string(limits_.max_items) + at(offset));
    }
    meta_values_ += count;
  }

  MetaValue read_array(const std::string& field) {
    uint64_t start = reader_.offset();
    MetaType elem_type = read_type(field + " element type");
    if (elem_type == MetaType::Array) {
      fail_unsupported(file_.path(), field + ": arrays of arrays are not supported (ggml refuses them)" + at(start));
    }
    uint64_t count_offset = reader_.offset();
    auto count = reader_.read<uint64_t>(field + " count");
    uint64_t min_elem = elem_type == MetaType::String ? kStringLengthBytes : fixed_size(elem_type);
    if (count > reader_.remaining() / min_elem) {
      parse_error(field + ": " + std::to_string(count) + " " + type_name(elem_type) + " elements cannot fit in the " +
                  std::to_string(reader_.remaining()) + " bytes remaining" + at(count_offset));
    }
    count_values(count, field, count_offset);
    if (count > limits_.max_alloc / sizeof(MetaValue)) {
      fail_limit(file_.path(), field + ": " + std::to_string(count) + " elements need more memory than the cap" +
                                   at(count_offset));
    }
    io::charge(file_.path(), count * sizeof(MetaValue), field);
    std::vector<MetaValue> elems;
    if (file_.size_known()) elems.reserve(static_cast<size_t>(count));  // standard input: grown as read
    for (uint64_t elem_idx = 0; elem_idx < count; ++elem_idx) elems.push_back(read_scalar(elem_type, field));
    MetaValue value;
    value.type = MetaType::Array;
    value.elem_type = elem_type;
    value.value = std::move(elems);
    return value;
  }

  MetaValue read_scalar(MetaType type, const std::string& field) {
    MetaValue value;
    value.type = type;
    switch (type) {
      case MetaType::U8: value.value = uint64_t{reader_.read<uint8_t>(field)}; break;
      case MetaType::I8: value.value = int64_t{reader_.read<int8_t>(field)}; break;
      case MetaType::U16: value.value = uint64_t{reader_.read<uint16_t>(field)}; break;
      case MetaType::I16: value.value = int64_t{reader_.read<int16_t>(field)}; break;
      case MetaType::U32: value.value = uint64_t{reader_.read<uint32_t>(field)}; break;
      case MetaType::I32: value.value = int64_t{reader_.read<int32_t>(field)}; break;
      case MetaType::U64: value.value = reader_.read<uint64_t>(field); break;
      case MetaType::I64: value.value = reader_.read<int64_t>(field); break;
      case MetaType::F32: value.value = double{reader_.read<float>(field)}; break;
      case MetaType::F64: value.value = reader_.read<double>(field); break;
      case MetaType::Bool: value.value = reader_.read<uint8_t>(field) != 0; break;
      case MetaType::String: value.value = reader_.read_string(field, limits_.max_string); break;
      case MetaType::Array: parse_error(field + ": unexpected nested array");  // callers never pass Array
    }
    return value;
  }

  void check_alignment() {
    const MetaEntry* entry = catalog_.find_meta(std::string(kAlignmentKey));
    if (entry == nullptr) return;
    if (entry->value.type != MetaType::U32) {
      parse_error(std::string(kAlignmentKey) + ": must be UINT32, found " + type_name(entry->value.type));
    }
    auto alignment = std::get<uint64_t>(entry->value.value);
    if (!std::has_single_bit(alignment)) {
      parse_error(std::string(kAlignmentKey) + ": " + std::to_string(alignment) + " is not a nonzero power of two");
    }
    if (alignment > kMaxAlignment) {
      fail_limit(file_.path(), std::string(kAlignmentKey) + ": " + std::to_string(alignment) + " is above the cap of " +
                                   std::to_string(kMaxAlignment));
    }
    alignment_ = static_cast<uint32_t>(alignment);
  }

  /// The split keys llama.cpp's gguf-split writes: split.no and split.count (UINT16, 0-based
  /// split.no below split.count; a merged file keeps split.count 0) and split.tensors.count.
  void check_split_keys() {
    const MetaEntry* count = catalog_.find_meta(std::string(kSplitCountKey));
    const MetaEntry* number = catalog_.find_meta(std::string(kSplitNoKey));
    const MetaEntry* tensors = catalog_.find_meta(std::string(kSplitTensorsKey));
    if (count == nullptr && number == nullptr && tensors == nullptr) return;
    if (count == nullptr || number == nullptr) parse_error("split.no and split.count: must appear together");
    for (const MetaEntry* entry : {count, number}) {
      if (entry->value.type != MetaType::U16) {
        parse_error(entry->key + ": must be UINT16 (as gguf-split writes it), found " + type_name(entry->value.type));
      }
    }
    auto split_count = std::get<uint64_t>(count->value.value);
    auto split_no = std::get<uint64_t>(number->value.value);
    if (split_count > 0 && split_no >= split_count) {
      parse_error(std::string(kSplitNoKey) + ": " + std::to_string(split_no) + " is not below split.count " +
                  std::to_string(split_count));
    }
    if (tensors != nullptr) {
      const auto* signed_count = std::get_if<int64_t>(&tensors->value.value);
      if (!is_integer(tensors->value.type) || (signed_count != nullptr && *signed_count < 0)) {
        parse_error(std::string(kSplitTensorsKey) + ": must be a non-negative integer");
      }
    }
  }

  void read_tensor_info(uint64_t tensor_idx, uint64_t& data_bytes) {
    uint64_t start = reader_.offset();
    std::string field = "tensor " + std::to_string(tensor_idx);
    uint64_t name_len = reader_.read<uint64_t>(field + " name");
    if (name_len > kMaxTensorName) {
      parse_error(field + " name: " + std::to_string(name_len) + " bytes; ggml allows at most " +
                  std::to_string(kMaxTensorName) + at(start));
    }
    io::charge(file_.path(), 2 * name_len + io::kNodeBytes + kMaxDims * sizeof(int64_t), field);  // name, its copy, shape
    Tensor tensor;
    tensor.name.resize(static_cast<size_t>(name_len));
    reader_.read_bytes(tensor.name.data(), name_len, field + " name");
    if (!names_.insert(tensor.name).second) {
      parse_error("tensor " + io::quoted(tensor.name) + ": duplicate tensor name" + at(start));
    }
    field = "tensor " + io::quoted(tensor.name);

    uint64_t dims_offset = reader_.offset();
    auto n_dims = reader_.read<uint32_t>(field + " n_dims");
    if (n_dims > kMaxDims) {
      parse_error(field + ": n_dims " + std::to_string(n_dims) + " is above ggml's " + std::to_string(kMaxDims) +
                  at(dims_offset));
    }
    if (n_dims > limits_.max_dims) fail_limit(file_.path(), field + ": n_dims above the cap" + at(dims_offset));
    std::array<int64_t, kMaxDims> ne{};
    for (uint32_t dim_idx = 0; dim_idx < n_dims; ++dim_idx) {
      uint64_t dim_offset = reader_.offset();
      ne[dim_idx] = reader_.read<int64_t>(field + " dims");
      if (ne[dim_idx] < 0) {
        parse_error(field + ": dimension " + std::to_string(dim_idx) + " is negative (" + std::to_string(ne[dim_idx]) +
                    ")" + at(dim_offset));
      }
    }
    // ggml's ne runs innermost first; the catalog's shape is row-major.
    tensor.shape.assign(ne.rend() - n_dims, ne.rend());
    auto elems = element_count(tensor.shape);
    if (!elems) parse_error(field + ": element count overflows" + at(dims_offset));

    uint64_t type_offset = reader_.offset();
    auto type_id = reader_.read<uint32_t>(field + " type");
    auto dtype = dtype_from_gguf_id(type_id);
    if (!dtype) {
      fail_unsupported(file_.path(), field + ": ggml type id " + std::to_string(type_id) +
                                         " is unknown or was removed from GGUF" + at(type_offset));
    }
    const auto& type_info = info(*dtype);
    int64_t row = n_dims > 0 ? ne[0] : 1;
    if (row % type_info.block_elems != 0) {
      parse_error(field + ": " + std::to_string(row) + " elements per row is not a multiple of the " +
                  std::string(type_info.name) + " block size " + std::to_string(type_info.block_elems) + at(type_offset));
    }
    auto nbytes = byte_size(*dtype, *elems);
    if (!nbytes) parse_error(field + ": byte size overflows" + at(type_offset));
    tensor.dtype = *dtype;
    tensor.nbytes = *nbytes;

    uint64_t offset_offset = reader_.offset();
    auto offset = reader_.read<uint64_t>(field + " offset");
    // ggml's rule: tensors are packed in order, each at the previous end padded to the alignment.
    if (offset != data_bytes) {
      parse_error(field + ": data offset " + std::to_string(offset) + ", expected " + std::to_string(data_bytes) +
                  " (tensors are packed in order, each aligned to " + std::to_string(alignment_) + ")" + at(offset_offset));
    }
    uint64_t padding = (alignment_ - tensor.nbytes % alignment_) % alignment_;
    if (tensor.nbytes > std::numeric_limits<uint64_t>::max() - padding ||
        tensor.nbytes + padding > std::numeric_limits<uint64_t>::max() - data_bytes) {
      parse_error(field + ": padded data size overflows the data section" + at(offset_offset));
    }
    data_bytes += tensor.nbytes + padding;
    tensor.byte_offset = offset;
    catalog_.tensors.push_back(std::move(tensor));
  }

  /// The data section starts at the header's end padded to the alignment and must hold every tensor.
  void place_data_section() {
    if (catalog_.tensors.empty()) return;
    uint64_t header_end = reader_.offset();
    uint64_t data_start = header_end + (alignment_ - header_end % alignment_) % alignment_;
    if (data_start > file_.size()) {
      parse_error("padding: the data section would start at " + std::to_string(data_start) + ", past the end of the " +
                  std::to_string(file_.size()) + "-byte file" + at(header_end));
    }
    const auto& last_tensor = catalog_.tensors.back();
    if (!file_.size_known()) file_.declare_end(data_start + last_tensor.byte_offset + last_tensor.nbytes, true);  // stdin
    uint64_t data_room = file_.size() - data_start;
    for (const auto& tensor : catalog_.tensors) {
      if (tensor.byte_offset > data_room || tensor.nbytes > data_room - tensor.byte_offset) {
        parse_error("tensor " + io::quoted(tensor.name) + ": data ends at " + std::to_string(tensor.byte_offset + tensor.nbytes) +
                    " but the data section holds " + std::to_string(data_room) + " bytes (file truncated)" +
                    at(data_start + tensor.byte_offset));
      }
    }
    const auto& last = catalog_.tensors.back();
    uint64_t data_size = last.byte_offset + last.nbytes;
    catalog_.storages.push_back(Storage{0, data_start, data_size, data_size, Compression::None, 0, false});
  }

  io::File file_;
  HeaderReader reader_;
  const Limits& limits_;
  Catalog catalog_;
  uint64_t n_tensors_ = 0;
  uint64_t n_kv_ = 0;
  uint64_t meta_values_ = 0;
  uint32_t alignment_ = kDefaultAlignment;
  std::unordered_set<std::string> keys_;
  std::unordered_set<std::string> names_;
};

}  // namespace

Catalog read_gguf(const std::string& path, const Limits& limits) {
  io::HeapBudget budget(limits);
  return GgufParser(path, limits).parse();
}

}  // namespace amn::formats
