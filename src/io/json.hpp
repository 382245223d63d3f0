// Untrusted JSON: the one policy every JSON text amn reads goes through — the safetensors
// header and model.safetensors.index.json (SAX, parse_json_sax), config.json,
// quantize_config.json and BitsAndBytes quant_state (DOM, parse_json / read_json_file).
// rapidjson runs in its iterative mode (no recursion, whatever the nesting), UTF-8 is validated,
// nesting is capped at kMaxJsonDepth, the text is capped in size before it is read, and the
// text and the DOM built from it are charged to the current heap budget (io/budget.hpp).
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "amn/error.hpp"
#include "amn/limits.hpp"
#include "io/file.hpp"

namespace amn::io {

/// Deepest nesting of objects and arrays in any JSON amn reads (real files nest under 10).
constexpr uint32_t kMaxJsonDepth = 64;
/// Largest config.json / quantize_config.json read beside the weights.
constexpr uint64_t kMaxSideJsonBytes = 16u << 20;

/// Iterative (no recursion on nesting), UTF-8 checked, stop after the root (the caller decides
/// what may follow it). Not kParseFullPrecisionFlag: rapidjson 1.1.0's full-precision path calls
/// __builtin_clzll(0) on numbers such as `0e60` (undefined behaviour, found by fuzz_json), and
/// amn reads no fractional number from JSON.
constexpr unsigned kJsonParseFlags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag | rapidjson::kParseStopWhenDoneFlag;

/// How a parse of untrusted JSON ended.
struct JsonParse {
  rapidjson::ParseResult result;  ///< rapidjson's verdict; kParseErrorTermination when stopped
  bool too_deep = false;          ///< stopped by kMaxJsonDepth
  std::optional<Error> error;     ///< stopped by a failed budget charge
};

/// Forwards every SAX event to `Handler`, refusing nesting deeper than kMaxJsonDepth and, when
/// `value_bytes` is not 0, charging that many bytes per value (plus each string's bytes) to the
/// current heap budget as `what` of `path`.
template <class Handler>
class JsonGuard {
 public:
  JsonGuard(Handler& handler, JsonParse& outcome, const std::string& path, std::string_view what, uint64_t value_bytes)
      : handler_(handler), outcome_(outcome), path_(path), what_(what), value_bytes_(value_bytes) {}

  bool Null() { return value(0) && handler_.Null(); }
  bool Bool(bool flag) { return value(0) && handler_.Bool(flag); }
  bool Int(int number) { return value(0) && handler_.Int(number); }
  bool Uint(unsigned number) { return value(0) && handler_.Uint(number); }
  bool Int64(int64_t number) { return value(0) && handler_.Int64(number); }
  bool Uint64(uint64_t number) { return value(0) && handler_.Uint64(number); }
  bool Double(double number) { return value(0) && handler_.Double(number); }
  bool RawNumber(const char* text, rapidjson::SizeType length, bool copy) {
    return value(length + 1) && handler_.RawNumber(text, length, copy);
  }
  bool String(const char* text, rapidjson::SizeType length, bool copy) {
    return value(length + 1) && handler_.String(text, length, copy);
  }
  bool Key(const char* text, rapidjson::SizeType length, bool copy) {
    return value(length + 1) && handler_.Key(text, length, copy);
  }
  bool StartObject() { return open() && handler_.StartObject(); }
  bool StartArray() { return open() && handler_.StartArray(); }
  bool EndObject(rapidjson::SizeType members) {
    --depth_;
    return handler_.EndObject(members);
  }
  bool EndArray(rapidjson::SizeType elements) {
    --depth_;
    return handler_.EndArray(elements);
  }

 private:
  bool open() {
    if (++depth_ > kMaxJsonDepth) {
      outcome_.too_deep = true;
      return false;
    }
    return value(0);
  }

  bool value(uint64_t text_bytes);

  Handler& handler_;
  JsonParse& outcome_;
  const std::string& path_;
  std::string_view what_;
  uint64_t value_bytes_;
  uint32_t depth_ = 0;
};

/// Charges one value (a no-op when the guard does not charge); a refused charge stops the parse.
void charge_json_value(const std::string& path, std::string_view what, uint64_t bytes, JsonParse& outcome);

template <class Handler>
bool JsonGuard<Handler>::value(uint64_t text_bytes) {
  if (value_bytes_ == 0) return true;
  charge_json_value(path_, what_, value_bytes_ + text_bytes, outcome_);
  return !outcome_.error;
}

/// Parses the JSON in `stream` with kJsonParseFlags (plus `kExtraFlags`, e.g.
/// kParseNumbersAsStringsFlag to pass numbers on as their text), sending its events to `handler`
/// through a JsonGuard that caps the depth (and charges `value_bytes` per value when not 0).
/// Stops after the root value; stream.Tell() is then where it ended.
template <unsigned kExtraFlags = 0, class Handler>
JsonParse parse_json_sax(rapidjson::MemoryStream& stream, Handler& handler, const std::string& path,
                         std::string_view what, uint64_t value_bytes = 0) {
  JsonParse outcome;
  JsonGuard<Handler> guard(handler, outcome, path, what, value_bytes);
  rapidjson::Reader reader;
  outcome.result = reader.Parse<kJsonParseFlags | kExtraFlags>(stream, guard);
  return outcome;
}

/// Throws for a parse that failed on its own terms (not through the handler): Error(Limit)
/// "PATH: WHAT: nested deeper than 64 levels (at offset N)" for the depth cap, the budget's
/// Error(Limit) for a refused charge, else Error(Parse) "PATH: WHAT: invalid JSON: REASON (at
/// offset N)". `base_offset` is where the text starts in its file. Everywhere in this file an
/// empty `what` means the whole file: "PATH: nested deeper than ...".
[[noreturn]] void fail_json(const std::string& path, std::string_view what, const JsonParse& outcome,
                            uint64_t base_offset = 0);

/// The offset of the first byte of `text` at or after `from` that is not JSON whitespace, if any.
[[nodiscard]] std::optional<size_t> trailing_data(std::string_view text, size_t from);

/// Parses untrusted JSON text (the contents of `path`, named `what` in messages) into a DOM
/// under the policy above; only JSON whitespace may follow the root value. The DOM is charged to
/// the current heap budget as it is built (its values, strings and the parser's stack).
[[nodiscard]] rapidjson::Document parse_json(const std::string& path, std::string_view text, std::string_view what);

/// Reads `file` whole for a JSON reader: refuses (Error(Limit), naming `what` and the cap) a file
/// larger than `max_bytes`, then reads it through File::read_vec (charged).
[[nodiscard]] std::vector<std::byte> read_json_bytes(const File& file, uint64_t max_bytes, std::string_view what);

/// read_json_bytes then parse_json: a JSON file beside the weights (config.json, ...).
[[nodiscard]] rapidjson::Document read_json_file(const std::string& path, uint64_t max_bytes, std::string_view what);

}  // namespace amn::io
