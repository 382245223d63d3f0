// Untrusted JSON: one policy for every JSON text amn reads (see json.hpp).
#include "io/json.hpp"

#include <rapidjson/error/en.h>

#include "io/budget.hpp"

namespace amn::io {
namespace {

/// Bytes charged per DOM value: the value itself, its slot on the document's stack while it is
/// built, and room for that stack's growth.
constexpr uint64_t kDomValueBytes = 3 * sizeof(rapidjson::Value);

}  // namespace

std::optional<size_t> trailing_data(std::string_view text, size_t from) {
  for (size_t pos = from; pos < text.size(); ++pos) {
    const char byte = text[pos];
    if (byte != ' ' && byte != '\t' && byte != '\n' && byte != '\r') return pos;
  }
  return std::nullopt;
}

/// "WHAT: ", or "" for a whole file.
std::string prefix(std::string_view what) { return what.empty() ? std::string() : std::string(what) + ": "; }

void charge_json_value(const std::string& path, std::string_view what, uint64_t bytes, JsonParse& outcome) {
  try {
    charge(path, bytes, what.empty() ? "JSON" : what);
  } catch (const Error& error) {
    outcome.error = error;
  }
}

void fail_json(const std::string& path, std::string_view what, const JsonParse& outcome, uint64_t base_offset) {
  const std::string where = " (at offset " + std::to_string(base_offset + outcome.result.Offset()) + ")";
  if (outcome.error) throw *outcome.error;
  if (outcome.too_deep) {
    fail_limit(path, prefix(what) + "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels" + where);
  }
  fail_parse(path, prefix(what) + "invalid JSON: " + rapidjson::GetParseError_En(outcome.result.Code()) + where);
}

rapidjson::Document parse_json(const std::string& path, std::string_view text, std::string_view what) {
  rapidjson::Document document;
  rapidjson::MemoryStream stream(text.data(), text.size());
  JsonParse outcome;
  // Document::Populate hands the document (a SAX handler) to this generator and keeps the root
  // it builds when the generator succeeds.
  auto generate = [&](rapidjson::Document& handler) {
    outcome = parse_json_sax(stream, handler, path, what, kDomValueBytes);
    return !outcome.result.IsError();
  };
  document.Populate(generate);
  if (outcome.result.IsError()) fail_json(path, what, outcome);
  if (auto pos = trailing_data(text, stream.Tell())) {
    fail_parse(path, prefix(what) + "data after the JSON value (at offset " + std::to_string(*pos) + ")");
  }
  return document;
}

std::vector<std::byte> read_json_bytes(const File& file, uint64_t max_bytes, std::string_view what) {
  if (file.size() > max_bytes) {
    fail_limit(file.path(), prefix(what) + "JSON of " + std::to_string(file.size()) + " bytes is above the cap of " +
                                std::to_string(max_bytes) + " bytes");
  }
  return file.read_vec(0, file.size(), what.empty() ? "JSON" : what);
}

rapidjson::Document read_json_file(const std::string& path, uint64_t max_bytes, std::string_view what) {
  const File file(path);
  const auto bytes = read_json_bytes(file, max_bytes, what);
  return parse_json(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), what);
}

}  // namespace amn::io
