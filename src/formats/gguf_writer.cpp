// GGUF writer layout: the v3 header (KV pairs, tensor infos) and every tensor's aligned offset.
#include <cstring>
#include <limits>
#include <set>
#include <string_view>
#include <utility>

#include "amn/error.hpp"
#include "formats/formats.hpp"

namespace amn::formats {
namespace {

constexpr std::string_view kMagic = "GGUF";
constexpr uint32_t kVersion = 3;
constexpr uint32_t kAlignment = 32;        ///< GGUF_DEFAULT_ALIGNMENT, also written as general.alignment
constexpr size_t kMaxDims = 4;             ///< GGML_MAX_DIMS
constexpr size_t kMaxTensorName = 63;      ///< GGML_MAX_NAME (64) minus the NUL
constexpr std::string_view kAlignmentKey = "general.alignment";
constexpr std::string_view kSplitPrefix = "split.";  ///< an output is one file: split keys are dropped

[[noreturn]] void unsupported(const std::string& message) {
  throw Error(ErrorCode::Unsupported, "GGUF output: " + message);
}

uint64_t padded(uint64_t size) { return size + (kAlignment - size % kAlignment) % kAlignment; }

/// Appends little-endian GGUF encodings to a byte vector.
class HeaderBytes {
 public:
  explicit HeaderBytes(std::vector<std::byte>& out) : out_(out) {}

  template <class T>
  void put(T value) {
    const auto* bytes = reinterpret_cast<const std::byte*>(&value);
    out_.insert(out_.end(), bytes, bytes + sizeof(T));
  }

  void put_string(std::string_view text) {
    put<uint64_t>(text.size());
    const auto* bytes = reinterpret_cast<const std::byte*>(text.data());
    out_.insert(out_.end(), bytes, bytes + text.size());
  }

  void pad() { out_.resize(padded(out_.size())); }

  /// One value's bytes (without its type id), checked against its declared type.
  void put_value(const MetaValue& value, const std::string& key) {
    switch (value.type) {
      case MetaType::U8: put_int<uint8_t>(value, key); break;
      case MetaType::I8: put_int<int8_t>(value, key); break;
      case MetaType::U16: put_int<uint16_t>(value, key); break;
      case MetaType::I16: put_int<int16_t>(value, key); break;
      case MetaType::U32: put_int<uint32_t>(value, key); break;
      case MetaType::I32: put_int<int32_t>(value, key); break;
      case MetaType::U64: put_int<uint64_t>(value, key); break;
      case MetaType::I64: put_int<int64_t>(value, key); break;
      case MetaType::F32: put(static_cast<float>(held<double>(value, key))); break;
      case MetaType::F64: put(held<double>(value, key)); break;
      case MetaType::Bool: put<uint8_t>(held<bool>(value, key) ? 1 : 0); break;
      case MetaType::String: put_string(held<std::string>(value, key)); break;
      case MetaType::Array: put_array(value, key); break;
    }
  }

 private:
  template <class V>
  static const V& held(const MetaValue& value, const std::string& key) {
    const V* held_value = std::get_if<V>(&value.value);
    if (held_value == nullptr) unsupported("metadata '" + key + "': the value does not match its declared type");
    return *held_value;
  }

  template <class T>
  void put_int(const MetaValue& value, const std::string& key) {
    bool fits = false;
    T narrow{};
    if (const auto* unsigned_value = std::get_if<uint64_t>(&value.value)) {
      fits = std::in_range<T>(*unsigned_value);
      narrow = static_cast<T>(*unsigned_value);
    } else if (const auto* signed_value = std::get_if<int64_t>(&value.value)) {
      fits = std::in_range<T>(*signed_value);
      narrow = static_cast<T>(*signed_value);
    }
    if (!fits) unsupported("metadata '" + key + "': the value does not fit its declared integer type");
    put(narrow);
  }

  void put_array(const MetaValue& value, const std::string& key) {
    if (value.elem_type == MetaType::Array) unsupported("metadata '" + key + "': arrays of arrays");
    const auto& elems = held<std::vector<MetaValue>>(value, key);
    put<uint32_t>(static_cast<uint32_t>(value.elem_type));
    put<uint64_t>(elems.size());
    for (const auto& elem : elems) {
      if (elem.type != value.elem_type) unsupported("metadata '" + key + "': an element differs from the array type");
      put_value(elem, key);
    }
  }

  std::vector<std::byte>& out_;
};

}  // namespace

std::vector<std::byte> gguf_value_bytes(const MetaValue& value, const std::string& key) {
  std::vector<std::byte> bytes;
  HeaderBytes(bytes).put_value(value, key);
  return bytes;
}

namespace {

/// The KV pairs written: the input's, minus split keys, with general.alignment set to ours
/// (`alignment`). Pointers, not copies: a GGUF's arrays may hold ten million values.
std::vector<const MetaEntry*> output_metadata(const std::vector<MetaEntry>& metadata, const MetaEntry& alignment) {
  std::vector<const MetaEntry*> kept;
  std::set<std::string_view> keys;
  for (const auto& entry : metadata) {
    if (entry.key.starts_with(kSplitPrefix)) continue;
    if (entry.key.empty()) unsupported("metadata: an empty key");
    if (!keys.insert(entry.key).second) unsupported("metadata '" + entry.key + "': duplicate key");
    kept.push_back(entry.key == kAlignmentKey ? &alignment : &entry);
  }
  return kept;
}

/// Writes one tensor info (name, ne innermost first, ggml type id, relative offset).
void put_tensor_info(HeaderBytes& header, const OutTensor& tensor, uint64_t relative_offset) {
  const auto& type_info = info(tensor.dtype);
  std::string field = "tensor '" + tensor.name + "'";
  if (type_info.gguf_id < 0) unsupported(field + ": dtype " + std::string(type_info.name) + " has no GGUF type");
  if (tensor.name.size() > kMaxTensorName) unsupported(field + ": name longer than GGUF's 63 bytes");
  if (tensor.shape.size() > kMaxDims) unsupported(field + ": more than GGUF's 4 dimensions");
  auto elems = element_count(tensor.shape);
  int64_t row = tensor.shape.empty() ? 1 : tensor.shape.back();
  auto nbytes = elems ? byte_size(tensor.dtype, *elems) : std::nullopt;
  if (row % type_info.block_elems != 0 || !nbytes || *nbytes != tensor.nbytes) {
    throw Error(ErrorCode::Usage, "GGUF output: " + field + ": shape, dtype and byte size disagree");
  }
  header.put_string(tensor.name);
  header.put<uint32_t>(static_cast<uint32_t>(tensor.shape.size()));
  for (auto dim = tensor.shape.rbegin(); dim != tensor.shape.rend(); ++dim) header.put<int64_t>(*dim);
  header.put<uint32_t>(static_cast<uint32_t>(type_info.gguf_id));
  header.put<uint64_t>(relative_offset);
}

}  // namespace

OutLayout layout_gguf(std::vector<OutTensor>& tensors, const std::vector<MetaEntry>& metadata,
                      const std::vector<MetaEntry>& split_keys) {
  const MetaEntry alignment{std::string(kAlignmentKey), MetaValue{MetaType::U32, MetaType::U8, uint64_t{kAlignment}}};
  std::vector<const MetaEntry*> kept = output_metadata(metadata, alignment);
  for (const auto& entry : split_keys) kept.push_back(&entry);
  std::set<std::string_view> names;
  for (const auto& tensor : tensors) {
    if (!names.insert(tensor.name).second) unsupported("tensor '" + tensor.name + "': duplicate tensor name");
  }

  OutLayout layout;
  HeaderBytes header(layout.header);
  for (char magic_char : kMagic) header.put(magic_char);
  header.put<uint32_t>(kVersion);
  header.put<uint64_t>(tensors.size());
  header.put<uint64_t>(kept.size());
  for (const MetaEntry* entry : kept) {
    header.put_string(entry->key);
    header.put<uint32_t>(static_cast<uint32_t>(entry->value.type));
    header.put_value(entry->value, entry->key);
  }
  // ggml and gguf-py both pad every tensor, the last one too, and so does the file size here.
  uint64_t data_bytes = 0;
  for (const auto& tensor : tensors) {
    put_tensor_info(header, tensor, data_bytes);
    if (padded(tensor.nbytes) < tensor.nbytes || padded(tensor.nbytes) > std::numeric_limits<uint64_t>::max() - data_bytes) {
      unsupported("tensor '" + tensor.name + "': the data section overflows");
    }
    data_bytes += padded(tensor.nbytes);
  }
  header.pad();
  uint64_t data_start = layout.header.size();
  if (data_bytes > std::numeric_limits<uint64_t>::max() - data_start) unsupported("the data section overflows");
  uint64_t relative_offset = 0;
  for (auto& tensor : tensors) {
    tensor.offset = data_start + relative_offset;
    relative_offset += padded(tensor.nbytes);
  }
  layout.file_size = data_start + data_bytes;
  return layout;
}

}  // namespace amn::formats
