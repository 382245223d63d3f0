// safetensors reader: the 8-byte header length, the JSON header (checked token by token), the
// data section's byte ranges; and the `model.safetensors.index.json` shard index.
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <algorithm>
#include <array>
#include <deque>
#include <filesystem>
#include <limits>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "amn/error.hpp"
#include "formats/formats.hpp"
#include "formats/typed_metadata.hpp"
#include "io/budget.hpp"
#include "io/display.hpp"
#include "io/file.hpp"
#include "io/json.hpp"

namespace amn::formats {
namespace {

constexpr uint64_t kLengthFieldBytes = 8;            ///< the little-endian u64 header length
constexpr uint64_t kSpecMaxHeaderBytes = 100'000'000;  ///< safetensors' own MAX_HEADER_SIZE
constexpr std::string_view kMetadataKey = "__metadata__";
constexpr char kPaddingByte = ' ';
/// Longest shard name an index may give: a file name (NAME_MAX) on Linux.
constexpr size_t kMaxFileName = 255;

/// A failure found by a SAX handler; thrown once the parser has returned and the offset is known.
struct HandlerError {
  ErrorCode code = ErrorCode::Parse;
  std::string message;
};

/// Throws the handler's error, or the JSON policy's (syntax, depth), with the header offset.
[[noreturn]] void fail_json(const std::string& path, const std::optional<HandlerError>& handler_error,
                            const io::JsonParse& outcome, uint64_t base_offset, std::string_view what) {
  if (handler_error) {
    throw Error(handler_error->code, path + ": " + handler_error->message + " (at offset " +
                                         std::to_string(base_offset + outcome.result.Offset()) + ")");
  }
  io::fail_json(path, what, outcome, base_offset);
}

/// One tensor entry of the header as written, before the byte ranges are checked.
struct HeaderTensor {
  std::string name;
  uint64_t file_offset = 0;  ///< where the entry's name ends in the file, for messages
  std::optional<DType> dtype;
  std::vector<int64_t> shape;
  bool has_shape = false;
  std::array<uint64_t, 2> data_offsets{};  ///< [begin, end) within the data section
  size_t offsets_read = 0;
  bool has_offsets = false;
};

/// SAX handler for the safetensors header: `{ name: {dtype, shape, data_offsets}, ...,
/// "__metadata__": {string: string} }`. Any other shape of JSON is refused at the first token
/// that does not fit, so nothing beyond the expected structure is ever built.
class HeaderHandler : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, HeaderHandler> {
 public:
  HeaderHandler(const std::string& path, const rapidjson::MemoryStream& stream, const Limits& limits)
      : path_(path), stream_(stream), limits_(limits) {}

  std::deque<HeaderTensor> tensors;  ///< deque: names stay put, so `seen_names_` may view them
  std::vector<MetaEntry> metadata;
  std::optional<HandlerError> error;

  bool StartObject() {
    switch (state_) {
      case State::Start: state_ = State::TopKey; return true;
      case State::MetadataValue: state_ = State::MetadataKey; return true;
      case State::TensorValue: state_ = State::FieldKey; return true;
      default: return unexpected("an object");
    }
  }

  bool Key(const char* text, rapidjson::SizeType length, bool /*copy*/) {
    std::string_view key(text, length);
    switch (state_) {
      case State::TopKey: return top_key(key);
      case State::MetadataKey: return metadata_key(key);
      case State::FieldKey: return field_key(key);
      default: return unexpected("a key");
    }
  }

  bool String(const char* text, rapidjson::SizeType length, bool /*copy*/) {
    std::string_view value(text, length);
    if (state_ == State::MetadataString) {
      if (value.size() > limits_.max_string) {
        return fail(ErrorCode::Limit, "__metadata__: value of " + io::quoted(metadata.back().key) + " is " +
                                          std::to_string(value.size()) + " bytes, above the cap of " +
                                          std::to_string(limits_.max_string));
      }
      io::charge(path_, value.size(), "header: __metadata__ value");
      metadata.back().value.value = std::string(value);
      state_ = State::MetadataKey;
      return true;
    }
    if (state_ == State::DtypeValue) {
      auto dtype = dtype_from_name(value);
      if (!dtype || is_block_type(*dtype)) {
        return fail(ErrorCode::Unsupported, tensor_field("dtype") + "unknown dtype " + io::quoted(value));
      }
      tensors.back().dtype = dtype;
      state_ = State::FieldKey;
      return true;
    }
    return unexpected("a string");
  }

  bool StartArray() {
    if (state_ == State::ShapeValue) {
      state_ = State::ShapeDim;
      return true;
    }
    if (state_ == State::OffsetsValue) {
      state_ = State::OffsetsItem;
      return true;
    }
    return unexpected("an array");
  }

  bool EndArray(rapidjson::SizeType /*count*/) {
    if (state_ == State::ShapeDim) {
      tensors.back().has_shape = true;
    } else if (state_ == State::OffsetsItem) {
      if (tensors.back().offsets_read != tensors.back().data_offsets.size()) return wrong_offset_count();
      tensors.back().has_offsets = true;
    } else {
      return unexpected("the end of an array");
    }
    state_ = State::FieldKey;
    return true;
  }

  bool EndObject(rapidjson::SizeType /*count*/) {
    switch (state_) {
      case State::TopKey: state_ = State::Done; return true;
      case State::MetadataKey: state_ = State::TopKey; return true;
      case State::FieldKey: return end_tensor();
      default: return unexpected("the end of an object");
    }
  }

  bool Uint64(uint64_t number) { return integer(number); }
  bool Uint(unsigned number) { return integer(number); }
  bool Int64(int64_t number) { return number < 0 ? negative(number) : integer(static_cast<uint64_t>(number)); }
  bool Int(int number) { return Int64(number); }
  bool Double(double /*number*/) {
    return in_number_array() ? non_integer("a fractional or out-of-range number") : unexpected("a number");
  }
  /// null and booleans: never valid anywhere in a safetensors header.
  bool Default() { return unexpected("null or a boolean"); }

 private:
  enum class State {
    Start,           // before the top-level '{'
    TopKey,          // a tensor name, "__metadata__", or '}'
    MetadataValue,   // the '{' of __metadata__
    MetadataKey,     // a metadata key or '}'
    MetadataString,  // a metadata value
    TensorValue,     // the '{' of a tensor entry
    FieldKey,        // "dtype", "shape", "data_offsets" or '}'
    DtypeValue,
    ShapeValue,      // the '[' of shape
    ShapeDim,        // a dim or ']'
    OffsetsValue,    // the '[' of data_offsets
    OffsetsItem,     // begin/end or ']'
    Done,
  };

  bool fail(ErrorCode code, std::string message) {
    error = HandlerError{code, "header: " + std::move(message)};
    return false;
  }

  /// "tensor 'name': field: " — the prefix of messages about the current tensor entry.
  std::string tensor_field(std::string_view field) const {
    return "tensor " + io::quoted(tensors.back().name) + ": " + std::string(field) + ": ";
  }

  bool malformed(std::string message) { return fail(ErrorCode::Parse, std::move(message)); }

  bool unexpected(std::string_view token) {
    std::string found = ", found " + std::string(token);
    switch (state_) {
      case State::MetadataValue: return malformed("__metadata__: must be an object" + found);
      case State::MetadataString:
        return malformed("__metadata__: value of " + io::quoted(metadata.back().key) + " must be a string" + found);
      case State::TensorValue:
        return malformed("tensor " + io::quoted(tensors.back().name) + ": must be an object" + found);
      case State::DtypeValue: return malformed(tensor_field("dtype") + "must be a string" + found);
      case State::ShapeValue: return malformed(tensor_field("shape") + "must be an array" + found);
      case State::OffsetsValue: return malformed(tensor_field("data_offsets") + "must be an array" + found);
      case State::ShapeDim:
      case State::OffsetsItem: return non_integer(token);
      default: return malformed("unexpected " + std::string(token));
    }
  }

  bool non_integer(std::string_view token) {
    std::string field = state_ == State::ShapeDim ? "shape" : "data_offsets";
    return malformed(tensor_field(field) + "must hold non-negative integers, found " + std::string(token));
  }

  bool wrong_offset_count() { return malformed(tensor_field("data_offsets") + "must hold exactly 2 integers"); }

  bool negative(int64_t number) {
    return in_number_array() ? non_integer("the negative number " + std::to_string(number)) : unexpected("a number");
  }

  /// Inside shape or data_offsets, where only non-negative integers belong (elsewhere there may
  /// be no tensor entry yet to name).
  bool in_number_array() const { return state_ == State::ShapeDim || state_ == State::OffsetsItem; }

  bool integer(uint64_t number) {
    if (state_ == State::ShapeDim) {
      auto& tensor = tensors.back();
      if (tensor.shape.size() >= limits_.max_dims) {
        return fail(ErrorCode::Limit, tensor_field("shape") + "more than " + std::to_string(limits_.max_dims) +
                                          " dims");
      }
      if (number > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return fail(ErrorCode::Parse, tensor_field("shape") + "dim " + std::to_string(number) + " is too large");
      }
      tensor.shape.push_back(static_cast<int64_t>(number));
      return true;
    }
    if (state_ == State::OffsetsItem) {
      auto& tensor = tensors.back();
      if (tensor.offsets_read == tensor.data_offsets.size()) return wrong_offset_count();
      tensor.data_offsets[tensor.offsets_read++] = number;
      return true;
    }
    return unexpected("a number");
  }

  bool top_key(std::string_view key) {
    if (key == kMetadataKey) {
      if (seen_metadata_) return fail(ErrorCode::Parse, "duplicate key __metadata__");
      seen_metadata_ = true;
      state_ = State::MetadataValue;
      return true;
    }
    if (key.size() > limits_.max_name) {
      return fail(ErrorCode::Limit, "tensor name of " + std::to_string(key.size()) + " bytes is above the cap of " +
                                        std::to_string(limits_.max_name));
    }
    if (tensors.size() >= limits_.max_items) {
      return fail(ErrorCode::Limit, "more than " + std::to_string(limits_.max_items) + " tensors");
    }
    // The entry, its name, the duplicate check's node, and room for the shape.
    io::charge(path_, sizeof(HeaderTensor) + key.size() + io::kNodeBytes + limits_.max_dims * sizeof(int64_t),
               "header: tensor entries");
    auto& tensor = tensors.emplace_back();
    tensor.name = key;
    tensor.file_offset = kLengthFieldBytes + stream_.Tell();
    if (!seen_names_.insert(tensors.back().name).second) return malformed("duplicate tensor name " + io::quoted(key));
    state_ = State::TensorValue;
    return true;
  }

  bool metadata_key(std::string_view key) {
    if (key.size() > limits_.max_string) {
      return fail(ErrorCode::Limit, "__metadata__: key of " + std::to_string(key.size()) +
                                        " bytes is above the cap of " + std::to_string(limits_.max_string));
    }
    if (metadata.size() >= limits_.max_items) {
      return fail(ErrorCode::Limit, "__metadata__: more than " + std::to_string(limits_.max_items) + " entries");
    }
    io::charge(path_, sizeof(MetaEntry) + 2 * key.size() + io::kNodeBytes, "header: __metadata__ keys");
    metadata.emplace_back().key = key;
    if (!seen_metadata_keys_.insert(metadata.back().key).second) {
      return malformed("__metadata__: duplicate key " + io::quoted(key));
    }
    state_ = State::MetadataString;
    return true;
  }

  bool field_key(std::string_view key) {
    auto& tensor = tensors.back();
    bool seen = false;
    if (key == "dtype") {
      seen = tensor.dtype.has_value();
      state_ = State::DtypeValue;
    } else if (key == "shape") {
      seen = tensor.has_shape;
      state_ = State::ShapeValue;
    } else if (key == "data_offsets") {
      seen = tensor.has_offsets;
      state_ = State::OffsetsValue;
    } else {
      return fail(ErrorCode::Parse, "tensor " + io::quoted(tensor.name) + ": unknown field " + io::quoted(key));
    }
    if (seen) return fail(ErrorCode::Parse, tensor_field(key) + "duplicate field");
    return true;
  }

  bool end_tensor() {
    const auto& tensor = tensors.back();
    if (!tensor.dtype) return fail(ErrorCode::Parse, tensor_field("dtype") + "missing");
    if (!tensor.has_shape) return fail(ErrorCode::Parse, tensor_field("shape") + "missing");
    if (!tensor.has_offsets) return fail(ErrorCode::Parse, tensor_field("data_offsets") + "missing");
    state_ = State::TopKey;
    return true;
  }

  const std::string& path_;
  const rapidjson::MemoryStream& stream_;
  const Limits& limits_;
  State state_ = State::Start;
  bool seen_metadata_ = false;
  std::unordered_set<std::string_view> seen_names_;  ///< views into `tensors`
  std::unordered_set<std::string> seen_metadata_keys_;
};

/// Reads the header length and the header bytes, checking both against the caps and the file.
std::vector<std::byte> read_header_bytes(const io::File& file, const Limits& limits) {
  const std::string& path = file.path();
  if (file.size() < kLengthFieldBytes) {
    fail_parse(path, "header length: the file is " + std::to_string(file.size()) + " bytes, shorter than the " +
                         std::to_string(kLengthFieldBytes) + "-byte header length");
  }
  uint64_t header_len = 0;
  file.read_exact(0, &header_len, sizeof(header_len));  // little-endian on every supported host
  uint64_t cap = std::min({limits.max_header_bytes, limits.max_alloc, kSpecMaxHeaderBytes});
  if (header_len > cap) {
    fail_limit(path, "header length " + std::to_string(header_len) + " is above the cap of " + std::to_string(cap) +
                         " bytes (at offset 0)");
  }
  if (header_len > file.size() - kLengthFieldBytes) {
    fail_parse(path, "header length " + std::to_string(header_len) + " runs past the end of the file (" +
                         std::to_string(file.size()) + " bytes) (at offset 0)");
  }
  auto header = file.read_vec(kLengthFieldBytes, header_len, "header");
  if (header.empty() || header.front() != std::byte{'{'}) {
    fail_parse(path, "header: does not start with '{' (at offset " + std::to_string(kLengthFieldBytes) + ")");
  }
  return header;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t dim_idx = 0; dim_idx < shape.size(); ++dim_idx) {
    text += (dim_idx ? ", " : "") + std::to_string(shape[dim_idx]);
  }
  return text + "]";
}

/// Checks one entry's dtype, shape and range against each other; returns its byte size.
uint64_t checked_byte_size(const std::string& path, const HeaderTensor& tensor) {
  std::string prefix = "header: tensor " + io::quoted(tensor.name) + ": ";
  std::string where = " (at offset " + std::to_string(tensor.file_offset) + ")";
  auto elems = element_count(tensor.shape);
  if (!elems) fail_parse(path, prefix + "shape: element count of " + shape_text(tensor.shape) + " overflows" + where);
  const auto& type = info(*tensor.dtype);
  auto bytes = byte_size(*tensor.dtype, *elems);
  if (!bytes) {
    if (*elems > std::numeric_limits<uint64_t>::max() / type.block_bits) {
      fail_parse(path, prefix + "shape: byte size of " + shape_text(tensor.shape) + " overflows" + where);
    }
    fail_parse(path, prefix + "dtype: " + std::to_string(*elems) + " elements of " + std::string(type.name) + " (" +
                         std::to_string(type.block_bits) + " bits each) do not fill whole bytes" + where);
  }
  uint64_t begin = tensor.data_offsets[0];
  uint64_t end = tensor.data_offsets[1];
  std::string range = "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
  if (begin > end) fail_parse(path, prefix + "data_offsets: begin > end in " + range + where);
  if (end - begin != *bytes) {
    fail_parse(path, prefix + "data_offsets: " + range + " holds " + std::to_string(end - begin) + " bytes but " +
                         std::string(type.name) + " " + shape_text(tensor.shape) + " needs " + std::to_string(*bytes) +
                         where);
  }
  return *bytes;
}

/// SAX handler for `model.safetensors.index.json`: takes `weight_map` (tensor name → shard file
/// name) and skips every other top-level member (transformers writes `metadata.total_size`).
class IndexHandler : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, IndexHandler> {
 public:
  IndexHandler(const std::string& index_path, const Limits& limits)
      : path_(index_path), directory_(std::filesystem::path(index_path).parent_path()), limits_(limits) {}

  SafetensorsIndex index;
  bool seen_weight_map = false;
  std::optional<HandlerError> error;

  bool StartObject() { return open("an object"); }
  bool StartArray() { return open("an array"); }
  bool EndObject(rapidjson::SizeType /*count*/) { return close(); }
  bool EndArray(rapidjson::SizeType /*count*/) { return close(); }

  bool Key(const char* text, rapidjson::SizeType length, bool /*copy*/) {
    std::string_view key(text, length);
    if (state_ == State::Skip) return true;
    if (state_ == State::TopKey) {
      if (key != "weight_map") {
        state_ = State::Skip;
        return true;
      }
      if (seen_weight_map) return fail(ErrorCode::Parse, "duplicate key weight_map");
      seen_weight_map = true;
      state_ = State::MapValue;
      return true;
    }
    // State::MapKey: a tensor name.
    if (key.size() > limits_.max_name) {
      return fail(ErrorCode::Limit, "weight_map: tensor name of " + std::to_string(key.size()) +
                                        " bytes is above the cap of " + std::to_string(limits_.max_name));
    }
    if (index.weight_map.size() >= limits_.max_items) {
      return fail(ErrorCode::Limit, "weight_map: more than " + std::to_string(limits_.max_items) + " tensors");
    }
    // The entry, its name and the duplicate check's copy.
    io::charge(path_, sizeof(std::pair<std::string, uint32_t>) + 2 * key.size() + io::kNodeBytes, "weight_map");
    index.weight_map.emplace_back(std::string(key), 0);
    if (!seen_names_.insert(index.weight_map.back().first).second) {
      return fail(ErrorCode::Parse, "weight_map: duplicate tensor " + io::quoted(key));
    }
    state_ = State::MapShard;
    return true;
  }

  bool String(const char* text, rapidjson::SizeType length, bool /*copy*/) {
    if (state_ != State::MapShard) return scalar("a string");
    std::string_view shard(text, length);
    const std::string& name = index.weight_map.back().first;
    bool unsafe = shard.empty() || shard.size() > kMaxFileName ||
                  shard.find_first_of(std::string_view("/\\\0", 3)) != std::string_view::npos ||
                  shard.find("..") != std::string_view::npos;
    if (unsafe) {
      return fail(ErrorCode::Parse, "weight_map: tensor " + io::quoted(name) + ": shard " + io::quoted(shard) +
                                        " is not a plain file name");
    }
    io::charge(path_, 2 * shard.size() + directory_.native().size() + io::kNodeBytes, "weight_map: shard names");
    auto [found, inserted] = shard_ids_.try_emplace(std::string(shard), static_cast<uint32_t>(index.shards.size()));
    if (inserted) index.shards.push_back((directory_ / std::string(shard)).string());
    index.weight_map.back().second = found->second;
    state_ = State::MapKey;
    return true;
  }

  bool Default() { return scalar("a number, boolean or null"); }

 private:
  enum class State {
    Start,     // before the top-level '{'
    TopKey,    // "weight_map", another key (skipped), or '}'
    Skip,      // inside a skipped value
    MapValue,  // the '{' of weight_map
    MapKey,    // a tensor name or '}'
    MapShard,  // the shard file name of the tensor
    Done,
  };

  bool fail(ErrorCode code, std::string message) {
    error = HandlerError{code, std::move(message)};
    return false;
  }

  bool open(std::string_view token) {
    switch (state_) {
      case State::Start:
        if (token != "an object") return fail(ErrorCode::Parse, "index: must be a JSON object");
        state_ = State::TopKey;
        return true;
      case State::MapValue:
        if (token != "an object") return fail(ErrorCode::Parse, "weight_map: must be an object");
        state_ = State::MapKey;
        return true;
      case State::Skip:  // the JSON policy caps the depth (io::kMaxJsonDepth)
        ++skip_depth_;
        return true;
      case State::MapShard: return scalar(token);
      default: return fail(ErrorCode::Parse, "index: unexpected " + std::string(token));
    }
  }

  bool close() {
    switch (state_) {
      case State::TopKey: state_ = State::Done; return true;
      case State::MapKey: state_ = State::TopKey; return true;
      case State::Skip:
        if (--skip_depth_ == 0) state_ = State::TopKey;
        return true;
      default: return fail(ErrorCode::Parse, "index: unexpected end of a container");
    }
  }

  bool scalar(std::string_view token) {
    if (state_ == State::Skip) {
      if (skip_depth_ == 0) state_ = State::TopKey;
      return true;
    }
    if (state_ == State::MapShard) {
      return fail(ErrorCode::Parse, "weight_map: tensor " + io::quoted(index.weight_map.back().first) +
                                        ": shard must be a string, found " + std::string(token));
    }
    if (state_ == State::MapValue) return fail(ErrorCode::Parse, "weight_map: must be an object");
    return fail(ErrorCode::Parse, "index: unexpected " + std::string(token));
  }

  const std::string& path_;
  std::filesystem::path directory_;
  const Limits& limits_;
  State state_ = State::Start;
  uint32_t skip_depth_ = 0;
  std::unordered_set<std::string> seen_names_;
  std::unordered_map<std::string, uint32_t> shard_ids_;
};

}  // namespace

Catalog read_safetensors(const std::string& path, const Limits& limits) {
  io::HeapBudget budget(limits);
  io::File file(path);
  auto header = read_header_bytes(file, limits);

  rapidjson::MemoryStream stream(reinterpret_cast<const char*>(header.data()), header.size());
  HeaderHandler handler(path, stream, limits);
  io::JsonParse outcome = io::parse_json_sax(stream, handler, path, "header");
  if (outcome.result.IsError()) fail_json(path, handler.error, outcome, kLengthFieldBytes, "header");
  for (size_t pos = stream.Tell(); pos < header.size(); ++pos) {
    if (header[pos] != std::byte{kPaddingByte}) {
      fail_parse(path, "header: padding after the JSON must be spaces, found byte " +
                           std::to_string(static_cast<unsigned>(header[pos])) + " (at offset " +
                           std::to_string(kLengthFieldBytes + pos) + ")");
    }
  }
  const uint64_t data_start = kLengthFieldBytes + header.size();
  header = {};

  // Each entry on its own, in header order; then the ranges in file order must tile the data section.
  io::charge(path, handler.tensors.size() * (sizeof(uint64_t) + sizeof(size_t) + sizeof(Tensor)), "header: tensor table");
  std::vector<uint64_t> nbytes;
  nbytes.reserve(handler.tensors.size());
  for (const auto& tensor : handler.tensors) nbytes.push_back(checked_byte_size(path, tensor));
  std::vector<size_t> order(handler.tensors.size());
  for (size_t tensor_idx = 0; tensor_idx < order.size(); ++tensor_idx) order[tensor_idx] = tensor_idx;
  std::stable_sort(order.begin(), order.end(), [&](size_t left, size_t right) {
    return handler.tensors[left].data_offsets < handler.tensors[right].data_offsets;
  });
  uint64_t covered = 0;
  const HeaderTensor* previous = nullptr;
  for (size_t tensor_idx : order) {
    const auto& tensor = handler.tensors[tensor_idx];
    uint64_t begin = tensor.data_offsets[0];
    std::string prefix = "header: tensor " + io::quoted(tensor.name) + ": data_offsets: ";
    std::string where = " (at offset " + std::to_string(tensor.file_offset) + ")";
    if (begin < covered) {
      fail_parse(path, prefix + "begins at " + std::to_string(begin) + ", overlapping tensor " +
                           io::quoted(previous->name) + " which ends at " + std::to_string(covered) + where);
    }
    if (begin > covered) {
      fail_parse(path, prefix + "hole of " + std::to_string(begin - covered) +
                           " bytes before it (the data so far ends at " + std::to_string(covered) + ")" + where);
    }
    covered = tensor.data_offsets[1];
    previous = &tensor;
  }
  if (!file.size_known()) file.declare_end(data_start + covered, false);  // standard input: checked at its end
  const uint64_t data_bytes = file.size() - data_start;
  if (covered < data_bytes) {
    fail_parse(path, "data section: " + std::to_string(data_bytes - covered) +
                         " bytes after the last tensor (at offset " + std::to_string(data_start + covered) + ")");
  }
  if (covered > data_bytes) {
    fail_parse(path, "data section: tensors need " + std::to_string(covered) + " bytes but the file holds " +
                         std::to_string(data_bytes) + " after the header (at offset " + std::to_string(data_start) +
                         ")");
  }

  Catalog catalog;
  catalog.format = Format::Safetensors;
  catalog.files = {path};
  catalog.file_sizes = {file.size()};
  auto& storage = catalog.storages.emplace_back();
  storage.offset = data_start;
  storage.stored_size = data_bytes;
  storage.size = data_bytes;
  catalog.tensors.reserve(order.size());
  for (size_t tensor_idx : order) {
    auto& entry = handler.tensors[tensor_idx];
    auto& tensor = catalog.tensors.emplace_back();
    tensor.name = std::move(entry.name);
    tensor.dtype = *entry.dtype;
    tensor.shape = std::move(entry.shape);
    tensor.nbytes = nbytes[tensor_idx];
    tensor.byte_offset = entry.data_offsets[0];
  }
  catalog.metadata = std::move(handler.metadata);
  for (auto& entry : catalog.metadata) {  // typed GGUF values kept through __metadata__ (typed_metadata.hpp)
    const std::string& text = std::get<std::string>(entry.value.value);
    if (!text.starts_with(kTypedPrefix)) continue;
    try {
      entry.value = from_typed_text(path, entry.key, text, limits);
    } catch (const Error& error) {
      if (error.code() != ErrorCode::Parse) throw;  // a spent budget ends the open
      // Not amn's encoding (another tool's string that begins with "gguf:"): kept as the string.
    }
  }
  catalog.description = "safetensors";
  return catalog;
}

SafetensorsIndex read_safetensors_index_map(const std::string& index_path, const Limits& limits) {
  io::HeapBudget budget(limits);
  io::File file(index_path);
  auto text = io::read_json_bytes(file, std::min(limits.max_header_bytes, limits.max_alloc), "index");
  IndexHandler handler(index_path, limits);
  rapidjson::MemoryStream stream(reinterpret_cast<const char*>(text.data()), text.size());
  io::JsonParse outcome = io::parse_json_sax(stream, handler, index_path, "index");
  if (outcome.result.IsError()) fail_json(index_path, handler.error, outcome, 0, "index");
  if (auto pos = io::trailing_data({reinterpret_cast<const char*>(text.data()), text.size()}, stream.Tell())) {
    fail_parse(index_path, "index: data after the JSON object (at offset " + std::to_string(*pos) + ")");
  }
  if (!handler.seen_weight_map) fail_parse(index_path, "weight_map: missing");
  if (handler.index.weight_map.empty()) fail_parse(index_path, "weight_map: lists no tensors");
  return std::move(handler.index);
}

std::vector<std::string> read_safetensors_index(const std::string& index_path, const Limits& limits) {
  return read_safetensors_index_map(index_path, limits).shards;
}

}  // namespace amn::formats
