// Typed metadata in text (see typed_metadata.hpp).
#include "formats/typed_metadata.hpp"

#include <libdeflate.h>

#include <array>
#include <charconv>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <utility>

#include "amn/error.hpp"
#include "formats/formats.hpp"
#include "io/budget.hpp"
#include "io/cursor.hpp"
#include "io/display.hpp"

namespace amn::formats {
namespace {

constexpr std::array<std::pair<std::string_view, MetaType>, 12> kScalarTypes = {{
    {"u8", MetaType::U8}, {"i8", MetaType::I8}, {"u16", MetaType::U16}, {"i16", MetaType::I16},
    {"u32", MetaType::U32}, {"i32", MetaType::I32}, {"u64", MetaType::U64}, {"i64", MetaType::I64},
    {"f32", MetaType::F32}, {"f64", MetaType::F64}, {"bool", MetaType::Bool}, {"str", MetaType::String},
}};
constexpr std::string_view kArrayType = "array";
constexpr std::string_view kBase64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr int kDeflateLevel = 6;  // libdeflate default: fast on ten-million-value arrays
constexpr uint64_t kStringLengthBytes = 8;

bool fits(MetaType type, const MetaValue& value) {
  const auto* unsigned_value = std::get_if<uint64_t>(&value.value);
  const auto* signed_value = std::get_if<int64_t>(&value.value);
  switch (type) {
    case MetaType::U8: return std::in_range<uint8_t>(*unsigned_value);
    case MetaType::U16: return std::in_range<uint16_t>(*unsigned_value);
    case MetaType::U32: return std::in_range<uint32_t>(*unsigned_value);
    case MetaType::I8: return std::in_range<int8_t>(*signed_value);
    case MetaType::I16: return std::in_range<int16_t>(*signed_value);
    case MetaType::I32: return std::in_range<int32_t>(*signed_value);
    default: return true;
  }
}

/// Shortest text that reads back as the same value (f32 values as floats).
std::string float_text(double value, bool single) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  auto result = single ? std::to_chars(buffer, buffer + sizeof(buffer), static_cast<float>(value))
                       : std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

std::string scalar_text(const MetaValue& value) {
  return std::visit(
      [&](const auto& held) -> std::string {
        using Held = std::decay_t<decltype(held)>;
        if constexpr (std::is_same_v<Held, std::string>) {
          return held;
        } else if constexpr (std::is_same_v<Held, bool>) {
          return held ? "true" : "false";
        } else if constexpr (std::is_same_v<Held, double>) {
          return float_text(held, value.type == MetaType::F32);
        } else if constexpr (std::is_same_v<Held, std::vector<MetaValue>>) {
          throw std::logic_error("scalar_text: an array");
        } else {
          return std::to_string(held);
        }
      },
      value.value);
}

std::string base64(const std::vector<std::byte>& bytes) {
  std::string text;
  text.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t pos = 0; pos < bytes.size(); pos += 3) {
    uint32_t group = 0;
    const size_t take = std::min<size_t>(3, bytes.size() - pos);
    for (size_t idx = 0; idx < 3; ++idx) group = group << 8 | (idx < take ? static_cast<uint8_t>(bytes[pos + idx]) : 0);
    for (size_t idx = 0; idx < 4; ++idx) text += idx <= take ? kBase64[group >> (18 - 6 * idx) & 0x3f] : '=';
  }
  return text;
}

std::optional<std::vector<std::byte>> unbase64(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::vector<std::byte> bytes;
  bytes.reserve(text.size() / 4 * 3);
  for (size_t pos = 0; pos < text.size(); pos += 4) {
    uint32_t group = 0;
    size_t pad = 0;
    for (size_t idx = 0; idx < 4; ++idx) {
      const char symbol = text[pos + idx];
      size_t digit = kBase64.find(symbol);
      if (symbol == '=' && pos + 4 == text.size() && idx >= 2) {
        ++pad;
        digit = 0;
      } else if (digit == std::string_view::npos || pad) {
        return std::nullopt;
      }
      group = group << 6 | static_cast<uint32_t>(digit);
    }
    for (size_t idx = 0; idx < 3 - pad; ++idx) bytes.push_back(static_cast<std::byte>(group >> (16 - 8 * idx) & 0xff));
  }
  return bytes;
}

std::vector<std::byte> deflate(const std::vector<std::byte>& raw) {
  std::unique_ptr<libdeflate_compressor, decltype(&libdeflate_free_compressor)> compressor(
      libdeflate_alloc_compressor(kDeflateLevel), libdeflate_free_compressor);
  if (!compressor) throw std::bad_alloc();
  std::vector<std::byte> packed(libdeflate_deflate_compress_bound(compressor.get(), raw.size()));
  packed.resize(libdeflate_deflate_compress(compressor.get(), raw.data(), raw.size(), packed.data(), packed.size()));
  return packed;
}

/// The fewest bytes one element of `type` takes in GGUF (a string: its length field).
uint64_t min_bytes(MetaType type) {
  switch (type) {
    case MetaType::U8: case MetaType::I8: case MetaType::Bool: return 1;
    case MetaType::U16: case MetaType::I16: return 2;
    case MetaType::U32: case MetaType::I32: case MetaType::F32: return 4;
    case MetaType::U64: case MetaType::I64: case MetaType::F64: case MetaType::String: return kStringLengthBytes;
    case MetaType::Array: break;
  }
  throw std::logic_error("min_bytes: an array");
}

/// Reads one element of type `type` from `cursor`.
MetaValue read_scalar(io::Cursor& cursor, MetaType type, const std::string& field, const Limits& limits) {
  MetaValue value;
  value.type = type;
  switch (type) {
    case MetaType::U8: value.value = uint64_t{cursor.read<uint8_t>(field)}; break;
    case MetaType::I8: value.value = int64_t{cursor.read<int8_t>(field)}; break;
    case MetaType::U16: value.value = uint64_t{cursor.read<uint16_t>(field)}; break;
    case MetaType::I16: value.value = int64_t{cursor.read<int16_t>(field)}; break;
    case MetaType::U32: value.value = uint64_t{cursor.read<uint32_t>(field)}; break;
    case MetaType::I32: value.value = int64_t{cursor.read<int32_t>(field)}; break;
    case MetaType::U64: value.value = cursor.read<uint64_t>(field); break;
    case MetaType::I64: value.value = cursor.read<int64_t>(field); break;
    case MetaType::F32: value.value = double{cursor.read<float>(field)}; break;
    case MetaType::F64: value.value = cursor.read<double>(field); break;
    case MetaType::Bool: value.value = cursor.read<uint8_t>(field) != 0; break;
    case MetaType::String: {
      const auto length = cursor.read<uint64_t>(field);
      if (length > limits.max_string) fail_limit(cursor.file(), field + ": a string above the cap");
      io::charge(cursor.file(), length, field);
      value.value = std::string(cursor.take_string(length, field));
      break;
    }
    case MetaType::Array: fail_parse(cursor.file(), field + ": an array inside an array");
  }
  return value;
}

/// The array encoded as `N:BASE64` (see the header).
MetaValue read_array(const std::string& file, const std::string& field, std::string_view text, const Limits& limits) {
  const size_t colon = text.find(':');
  uint64_t raw_size = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + (colon == std::string_view::npos ? 0 : colon), raw_size);
  if (colon == std::string_view::npos || error != std::errc() || end != text.data() + colon) {
    fail_parse(file, field + ": expected gguf:array:N:BASE64");
  }
  if (raw_size > limits.max_alloc) fail_parse(file, field + ": " + std::to_string(raw_size) + " bytes are above the allocation cap");
  const std::string_view encoded = text.substr(colon + 1);
  io::charge(file, encoded.size() + raw_size, field);
  auto packed = unbase64(encoded);
  if (!packed) fail_parse(file, field + ": not valid base64");
  std::vector<std::byte> raw(raw_size);
  std::unique_ptr<libdeflate_decompressor, decltype(&libdeflate_free_decompressor)> inflater(
      libdeflate_alloc_decompressor(), libdeflate_free_decompressor);
  if (!inflater) throw std::bad_alloc();
  if (libdeflate_deflate_decompress(inflater.get(), packed->data(), packed->size(), raw.data(), raw.size(), nullptr) !=
      LIBDEFLATE_SUCCESS) {
    fail_parse(file, field + ": the DEFLATE data does not inflate to " + std::to_string(raw_size) + " bytes");
  }
  io::Cursor cursor(raw, file);
  const auto elem_id = cursor.read<uint32_t>(field + " element type");
  if (elem_id >= static_cast<uint32_t>(MetaType::F64) + 1 || elem_id == static_cast<uint32_t>(MetaType::Array)) {
    fail_parse(file, field + ": element type " + std::to_string(elem_id) + " is not a GGUF scalar type");
  }
  const auto elem_type = static_cast<MetaType>(elem_id);
  const auto count = cursor.read<uint64_t>(field + " count");
  const uint64_t min_elem = min_bytes(elem_type);
  if (count > cursor.remaining() / min_elem || count > limits.max_items) {
    fail_parse(file, field + ": " + std::to_string(count) + " elements do not fit the " + std::to_string(raw_size) + " bytes");
  }
  io::charge(file, count * sizeof(MetaValue), field);
  MetaValue value;
  value.type = MetaType::Array;
  value.elem_type = elem_type;
  std::vector<MetaValue> elems;
  elems.reserve(count);
  for (uint64_t elem_idx = 0; elem_idx < count; ++elem_idx) elems.push_back(read_scalar(cursor, elem_type, field, limits));
  if (cursor.remaining() != 0) fail_parse(file, field + ": bytes after the last element");
  value.value = std::move(elems);
  return value;
}

}  // namespace

std::optional<MetaType> scalar_type(std::string_view name) {
  for (const auto& [type_name, type] : kScalarTypes) {
    if (type_name == name) return type;
  }
  return std::nullopt;
}

std::string scalar_type_name(MetaType type) {
  for (const auto& [type_name, candidate] : kScalarTypes) {
    if (candidate == type) return std::string(type_name);
  }
  throw std::logic_error("scalar_type_name: not a scalar type");
}

std::optional<MetaValue> parse_scalar(MetaType type, const std::string& text) {
  MetaValue value;
  value.type = type;
  try {
    size_t used = 0;
    switch (type) {
      case MetaType::String: value.value = text; return value;
      case MetaType::Bool:
        if (text != "true" && text != "false") return std::nullopt;
        value.value = text == "true";
        return value;
      case MetaType::F32: case MetaType::F64: value.value = std::stod(text, &used); break;
      case MetaType::I8: case MetaType::I16: case MetaType::I32: case MetaType::I64:
        value.value = static_cast<int64_t>(std::stoll(text, &used));
        break;
      case MetaType::U8: case MetaType::U16: case MetaType::U32: case MetaType::U64:
        if (text.starts_with('-')) return std::nullopt;
        value.value = static_cast<uint64_t>(std::stoull(text, &used));
        break;
      case MetaType::Array: return std::nullopt;
    }
    if (used != text.size() || !fits(type, value)) return std::nullopt;
  } catch (const std::logic_error&) {  // std::invalid_argument, std::out_of_range
    return std::nullopt;
  }
  return value;
}

std::string typed_text(const MetaValue& value, const std::string& key) {
  if (value.type == MetaType::Array) {
    const std::vector<std::byte> raw = gguf_value_bytes(value, key);
    return std::string(kTypedPrefix) + std::string(kArrayType) + ":" + std::to_string(raw.size()) + ":" + base64(deflate(raw));
  }
  const std::string text = scalar_text(value);
  if (value.type == MetaType::String && !text.starts_with(kTypedPrefix)) return text;
  return std::string(kTypedPrefix) + scalar_type_name(value.type) + ":" + text;
}

MetaValue from_typed_text(const std::string& file, const std::string& key, const std::string& text, const Limits& limits) {
  if (!text.starts_with(kTypedPrefix)) return MetaValue{MetaType::String, MetaType::U8, text};
  const std::string field = "__metadata__ " + io::quoted(key);
  const size_t colon = text.find(':', kTypedPrefix.size());
  if (colon == std::string::npos) fail_parse(file, field + ": expected gguf:TYPE:VALUE");
  const std::string_view type(text.data() + kTypedPrefix.size(), colon - kTypedPrefix.size());
  if (type == kArrayType) return read_array(file, field, std::string_view(text).substr(colon + 1), limits);
  const std::optional<MetaType> scalar = scalar_type(type);
  std::optional<MetaValue> value = scalar ? parse_scalar(*scalar, text.substr(colon + 1)) : std::nullopt;
  if (!value) fail_parse(file, field + ": " + io::quoted(text) + " is not gguf:TYPE:VALUE with a valid VALUE");
  return *value;
}

}  // namespace amn::formats
