// safetensors writer layout: the header JSON (escaped, space padded to 8 bytes) and every
// tensor's final offset, planned before any data moves.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <variant>

#include "amn/error.hpp"
#include "formats/formats.hpp"
#include "formats/typed_metadata.hpp"
#include "formats/typed_metadata.hpp"

namespace amn::formats {
namespace {

constexpr uint64_t kLengthFieldBytes = 8;              ///< the little-endian u64 header length
constexpr uint64_t kHeaderAlignment = 8;               ///< data section starts 8-byte aligned
constexpr uint64_t kSpecMaxHeaderBytes = 100'000'000;  ///< safetensors' own MAX_HEADER_SIZE
constexpr std::string_view kMetadataKey = "__metadata__";
constexpr char kPaddingByte = ' ';
constexpr std::string_view kWhere = "safetensors output: ";

/// Refuses invalid UTF-8 in strings, so a name read from elsewhere cannot yield an unreadable header.
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer, rapidjson::UTF8<>, rapidjson::UTF8<>,
                                     rapidjson::CrtAllocator, rapidjson::kWriteValidateEncodingFlag>;

[[noreturn]] void fail_output(ErrorCode code, const std::string& message) {
  throw Error(code, std::string(kWhere) + message);
}

void write_string(JsonWriter& writer, std::string_view text, std::string_view what) {
  if (text.size() > std::numeric_limits<rapidjson::SizeType>::max() ||
      !writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()))) {
    fail_output(ErrorCode::Unsupported, std::string(what) + " is not valid UTF-8");
  }
}

/// Checks that `tensor` is something a safetensors file can hold, consistently described.
void check_tensor(const OutTensor& tensor) {
  std::string prefix = "tensor '" + tensor.name + "': ";
  if (is_block_type(tensor.dtype)) {
    fail_output(ErrorCode::Unsupported,
                prefix + "dtype " + std::string(info(tensor.dtype).name) + " cannot be stored in safetensors");
  }
  auto elems = element_count(tensor.shape);
  auto bytes = elems ? byte_size(tensor.dtype, *elems) : std::nullopt;
  if (!bytes) {
    fail_output(ErrorCode::Unsupported, prefix + "shape and dtype do not give a whole, representable byte size");
  }
  if (*bytes != tensor.nbytes) {
    fail_output(ErrorCode::Usage, prefix + "nbytes " + std::to_string(tensor.nbytes) +
                                      " disagrees with dtype and shape (" + std::to_string(*bytes) + ")");
  }
}

}  // namespace

std::string safetensors_meta_text(const MetaValue& value, const std::string& key) { return typed_text(value, key); }

OutLayout layout_safetensors(std::vector<OutTensor>& tensors, const std::vector<MetaEntry>& metadata) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  if (!metadata.empty()) {
    write_string(writer, kMetadataKey, "key");
    writer.StartObject();
    std::unordered_set<std::string_view> keys;
    for (const auto& entry : metadata) {
      if (!keys.insert(entry.key).second) {
        fail_output(ErrorCode::Usage, "__metadata__: duplicate key '" + entry.key + "'");
      }
      write_string(writer, entry.key, "__metadata__ key '" + entry.key + "'");
      const auto* text = std::get_if<std::string>(&entry.value.value);
      write_string(writer, text ? *text : typed_text(entry.value, entry.key), "__metadata__ " + entry.key);
    }
    writer.EndObject();
  }
  std::unordered_set<std::string_view> names;
  uint64_t data_bytes = 0;
  for (auto& tensor : tensors) {
    check_tensor(tensor);
    if (tensor.name == kMetadataKey || !names.insert(tensor.name).second) {
      fail_output(ErrorCode::Usage, "tensor name '" + tensor.name + "' is used twice or is reserved");
    }
    if (tensor.nbytes > std::numeric_limits<uint64_t>::max() - data_bytes) {
      fail_output(ErrorCode::Limit, "data section size overflows");
    }
    write_string(writer, tensor.name, "tensor name '" + tensor.name + "'");
    writer.StartObject();
    writer.Key("dtype");
    write_string(writer, info(tensor.dtype).name, "dtype");
    writer.Key("shape");
    writer.StartArray();
    for (int64_t dim : tensor.shape) writer.Uint64(static_cast<uint64_t>(dim));
    writer.EndArray();
    writer.Key("data_offsets");
    writer.StartArray();
    writer.Uint64(data_bytes);
    writer.Uint64(data_bytes + tensor.nbytes);
    writer.EndArray();
    writer.EndObject();
    tensor.offset = data_bytes;  // relative for now; made absolute once the header size is known
    data_bytes += tensor.nbytes;
  }
  writer.EndObject();

  const uint64_t json_bytes = buffer.GetSize();
  const uint64_t header_len = (json_bytes + kHeaderAlignment - 1) / kHeaderAlignment * kHeaderAlignment;
  if (header_len > kSpecMaxHeaderBytes) {
    fail_output(ErrorCode::Limit, "header of " + std::to_string(header_len) + " bytes is above safetensors' cap of " +
                                      std::to_string(kSpecMaxHeaderBytes));
  }
  const uint64_t data_start = kLengthFieldBytes + header_len;
  OutLayout layout;
  layout.header.resize(data_start, std::byte{kPaddingByte});
  std::memcpy(layout.header.data(), &header_len, kLengthFieldBytes);  // little-endian on every supported host
  std::memcpy(layout.header.data() + kLengthFieldBytes, buffer.GetString(), json_bytes);
  if (data_bytes > std::numeric_limits<uint64_t>::max() - data_start) {
    fail_output(ErrorCode::Limit, "file size overflows");
  }
  for (auto& tensor : tensors) tensor.offset += data_start;
  layout.file_size = data_start + data_bytes;
  return layout;
}

}  // namespace amn::formats
