// Human and JSON reports of a catalog (inspect, parse). Every string that came from an input is
// shown through io::display (human) or io::json_string (--json): see src/io/display.hpp.
#include "cli/report.hpp"

#include <rapidjson/ostreamwrapper.h>
#include <rapidjson/prettywriter.h>

#include <cstdio>
#include <map>
#include <ostream>

#include "io/display.hpp"

namespace amn::cli {
namespace {

using JsonWriter = rapidjson::PrettyWriter<rapidjson::OStreamWrapper>;
using io::display;
constexpr size_t kMaxArrayShown = 64;  // longer metadata arrays are summarised

/// Every string in the JSON report goes through io::json_string: valid UTF-8, no raw control,
/// bidi or invisible format character, whatever the input held.
void json_text(JsonWriter& writer, std::string_view text) { io::write_json_string(writer, text); }

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t dim_idx = 0; dim_idx < shape.size(); ++dim_idx) {
    if (dim_idx) text += ", ";
    text += std::to_string(shape[dim_idx]);
  }
  return text + "]";
}

const char* meta_type_name(MetaType type) {
  switch (type) {
    case MetaType::U8: return "u8";
    case MetaType::I8: return "i8";
    case MetaType::U16: return "u16";
    case MetaType::I16: return "i16";
    case MetaType::U32: return "u32";
    case MetaType::I32: return "i32";
    case MetaType::F32: return "f32";
    case MetaType::Bool: return "bool";
    case MetaType::String: return "string";
    case MetaType::Array: return "array";
    case MetaType::U64: return "u64";
    case MetaType::I64: return "i64";
    case MetaType::F64: return "f64";
  }
  return "?";
}

std::string meta_text(const MetaValue& value) {
  return std::visit(
      [&](const auto& held) -> std::string {
        using T = std::decay_t<decltype(held)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return display(held);
        } else if constexpr (std::is_same_v<T, bool>) {
          return held ? "true" : "false";
        } else if constexpr (std::is_same_v<T, double>) {
          char buffer[32];
          std::snprintf(buffer, sizeof(buffer), "%.9g", held);
          return buffer;
        } else if constexpr (std::is_same_v<T, std::vector<MetaValue>>) {
          if (held.size() > 8) return "[" + std::to_string(held.size()) + " × " + meta_type_name(value.elem_type) + "]";
          std::string text = "[";
          for (size_t idx = 0; idx < held.size(); ++idx) text += (idx ? ", " : "") + meta_text(held[idx]);
          return text + "]";
        } else {
          return std::to_string(held);
        }
      },
      value.value);
}

void write_meta_json(JsonWriter& writer, const MetaValue& value) {
  std::visit(
      [&](const auto& held) {
        using T = std::decay_t<decltype(held)>;
        if constexpr (std::is_same_v<T, std::string>) {
          json_text(writer, held);
        } else if constexpr (std::is_same_v<T, bool>) {
          writer.Bool(held);
        } else if constexpr (std::is_same_v<T, double>) {
          writer.Double(held);
        } else if constexpr (std::is_same_v<T, uint64_t>) {
          writer.Uint64(held);
        } else if constexpr (std::is_same_v<T, int64_t>) {
          writer.Int64(held);
        } else {
          if (held.size() > kMaxArrayShown) {
            writer.StartObject();
            writer.Key("array_of");
            writer.String(meta_type_name(value.elem_type));
            writer.Key("length");
            writer.Uint64(held.size());
            writer.EndObject();
            return;
          }
          writer.StartArray();
          for (const auto& element : held) write_meta_json(writer, element);
          writer.EndArray();
        }
      },
      value.value);
}

std::map<std::string, size_t> dtype_counts(const Catalog& catalog) {
  std::map<std::string, size_t> counts;
  for (const auto& tensor : catalog.tensors) ++counts[std::string(info(tensor.dtype).name)];
  return counts;
}

bool any_big_endian(const Catalog& catalog) {
  for (const auto& tensor : catalog.tensors) {
    if (tensor.byte_order == ByteOrder::Big) return true;
  }
  return false;
}

std::string meta_string(const Catalog& catalog, const std::string& key) {
  const MetaEntry* entry = catalog.find_meta(key);
  if (!entry) return "";
  if (const auto* text = std::get_if<std::string>(&entry->value.value)) return *text;
  return "";
}

void print_json(std::ostream& out, const std::string& path, const Catalog& catalog, const Recovery& recovery,
                bool per_tensor) {
  rapidjson::OStreamWrapper stream(out);
  JsonWriter writer(stream);
  writer.SetIndent(' ', 2);
  writer.StartObject();
  writer.Key("path");
  json_text(writer, path);
  writer.Key("format");
  writer.String(format_name(catalog.format));
  writer.Key("description");
  json_text(writer, catalog.description);
  writer.Key("files");
  writer.StartArray();
  for (const auto& file : catalog.files) json_text(writer, file);
  writer.EndArray();
  writer.Key("tensor_count");
  writer.Uint64(catalog.tensors.size());
  writer.Key("total_bytes");
  writer.Uint64(catalog.total_bytes());
  writer.Key("dtypes");
  writer.StartObject();
  for (const auto& [name, count] : dtype_counts(catalog)) {
    json_text(writer, name);
    writer.Uint64(count);
  }
  writer.EndObject();
  writer.Key("scheme");
  if (recovery.scheme.empty()) {
    writer.Null();
  } else {
    json_text(writer, recovery.scheme);
  }
  writer.Key("remember");
  writer.StartObject();
  writer.Key("dtype");
  recovery.dtype.empty() ? writer.Null() : writer.String(recovery.dtype.c_str());
  writer.Key("bytes");
  recovery.bytes ? writer.Uint64(*recovery.bytes) : writer.Null();
  writer.Key("refusal");
  if (recovery.refusal.empty()) {
    writer.Null();
  } else {
    json_text(writer, recovery.refusal);
  }
  writer.EndObject();
  writer.Key("byte_order");
  writer.String(any_big_endian(catalog) ? "big-endian" : "little-endian");
  if (catalog.format == Format::Gguf) {
    writer.Key("gguf");
    writer.StartObject();
    writer.Key("version");
    writer.Uint(catalog.gguf_version);
    writer.Key("alignment");
    writer.Uint(catalog.gguf_alignment);
    writer.Key("architecture");
    json_text(writer, meta_string(catalog, "general.architecture"));
    writer.Key("kv_count");
    writer.Uint64(catalog.metadata.size());
    writer.EndObject();
  }
  writer.Key("non_tensor_values");
  writer.Uint64(catalog.extras.size());
  if (per_tensor) {
    writer.Key("metadata");
    writer.StartObject();
    for (const auto& entry : catalog.metadata) {
      json_text(writer, entry.key);
      write_meta_json(writer, entry.value);
    }
    writer.EndObject();
    writer.Key("extras");
    writer.StartObject();
    for (const auto& [key, value] : catalog.extras) {
      json_text(writer, key);
      json_text(writer, value);
    }
    writer.EndObject();
    writer.Key("tensors");
    writer.StartArray();
    for (const auto& tensor : catalog.tensors) {
      writer.StartObject();
      writer.Key("name");
      json_text(writer, tensor.name);
      writer.Key("dtype");
      json_text(writer, info(tensor.dtype).name);
      writer.Key("shape");
      writer.StartArray();
      for (int64_t dim : tensor.shape) writer.Int64(dim);
      writer.EndArray();
      writer.Key("bytes");
      writer.Uint64(tensor.nbytes);
      writer.EndObject();
    }
    writer.EndArray();
  }
  writer.EndObject();
  out << '\n';
}

}  // namespace

std::string human_bytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < std::size(kUnits)) {
    value /= 1024.0;
    ++unit;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.1f %s", value, kUnits[unit]);
  return buffer;
}

Recovery recovery_of(const Catalog& catalog, std::optional<DType> dtype, const std::string& dtype_name,
                     const Limits& limits) {
  Recovery recovery;
  recovery.dtype = dtype_name;
  ConvertOptions options;
  options.dequantize = true;
  options.dtype = dtype;
  try {
    recovery.scheme = quant_scheme(catalog, limits);
    recovery.bytes = output_bytes(catalog, options, limits);
  } catch (const Error& error) {
    recovery.refusal = error.what();
  }
  return recovery;
}

void print_catalog(std::ostream& out, const std::string& path, const Catalog& catalog, const Recovery& recovery,
                   bool per_tensor, bool json) {
  if (json) {
    print_json(out, path, catalog, recovery, per_tensor);
    return;
  }
  out << "Path:        " << display(path) << '\n';
  out << "Format:      " << io::safe_message(catalog.description);
  if (catalog.files.size() > 1) out << " (" << catalog.files.size() << " files)";
  out << '\n';
  out << "Tensors:     " << catalog.tensors.size() << '\n';
  out << "Total size:  " << human_bytes(catalog.total_bytes()) << " (" << catalog.total_bytes() << " bytes)\n";
  out << "Dtypes:      ";
  bool first = true;
  for (const auto& [name, count] : dtype_counts(catalog)) {
    out << (first ? "" : ", ") << name << " ×" << count;
    first = false;
  }
  out << '\n';
  out << "Scheme:      " << (recovery.scheme.empty() ? (recovery.refusal.empty() ? "none (unquantised)" : "not dequantisable")
                                                    : io::safe_message(recovery.scheme))
      << '\n';
  out << "Remember:    ";
  if (recovery.bytes) {
    out << human_bytes(*recovery.bytes) << " (" << *recovery.bytes << " bytes) with "
        << (recovery.dtype.empty() ? "dequantised tensors as BF16, the rest as stored" : "--dtype " + recovery.dtype) << '\n';
  } else {
    out << "refused: " << io::safe_message(recovery.refusal) << '\n';
  }
  out << "Byte order:  " << (any_big_endian(catalog) ? "big-endian (swapped on output)" : "little-endian") << '\n';
  if (catalog.format == Format::Gguf) {
    std::string arch = meta_string(catalog, "general.architecture");
    out << "GGUF:        version " << catalog.gguf_version << ", alignment " << catalog.gguf_alignment
        << ", architecture " << (arch.empty() ? "(none)" : display(arch)) << ", " << catalog.metadata.size() << " KV pairs\n";
  }
  if (!catalog.extras.empty()) out << "Non-tensor:  " << catalog.extras.size() << " values\n";
  if (!per_tensor) return;
  if (!catalog.metadata.empty()) {
    out << "\nMetadata:\n";
    for (const auto& entry : catalog.metadata) {
      out << "  " << display(entry.key) << " = " << meta_text(entry.value) << '\n';
    }
  }
  if (!catalog.extras.empty()) {
    out << "\nNon-tensor values:\n";
    // A value is amn's description of it ("str 'adam'"), its strings already quoted (io::quoted).
    for (const auto& [key, value] : catalog.extras) {
      out << "  " << display(key) << " = " << io::safe_message(value) << '\n';
    }
  }
  out << "\nTensors:\n";
  for (const auto& tensor : catalog.tensors) {
    out << "  " << display(tensor.name) << "  " << info(tensor.dtype).name << "  " << shape_text(tensor.shape) << "  "
        << human_bytes(tensor.nbytes) << '\n';
  }
}

}  // namespace amn::cli
