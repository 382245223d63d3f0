// Untrusted text shown to a person or written into JSON: tensor names, metadata keys and values,
// member names, shard paths and pickle strings reach messages, reports and --json output only
// through these functions, so no input can move a terminal's cursor, recolour it, reorder what
// it shows (bidi overrides), hide characters, or make a line megabytes long.
//
// The notation (docs/security.md, "Untrusted text in output"):
//   \\                  a backslash
//   \t \n \r            tab, line feed, carriage return
//   \xHH                another C0 control (U+0000-U+001F) or DEL (U+007F); or a byte >= 0x80
//                       that is not part of a valid UTF-8 sequence (so \xHH never means U+0080+)
//   \uHHHH, \UHHHHHHHH  a C1 control (U+0080-U+009F) or an invisible or bidi format character
//                       (is_hidden below), by its code point
// Every other valid UTF-8 character is shown as itself.
#pragma once

#include <rapidjson/rapidjson.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace amn::io {

/// Longest run of one untrusted string shown in a message or a report, in output characters
/// (an escape such as \x1b counts its four characters).
constexpr size_t kShownChars = 200;

/// Longest error message, in bytes: a longer one keeps its head and tail around a marker.
constexpr size_t kMaxMessageBytes = 4096;

/// True for the code points never shown raw: C0 controls, DEL, C1 controls, and the invisible
/// or reordering format characters (soft hyphen U+00AD, U+061C, U+180E, U+200B-U+200F,
/// U+2028-U+202E, U+2060-U+206F, U+FEFF, U+FFF9-U+FFFB, tags U+E0000-U+E007F).
[[nodiscard]] bool is_hidden(char32_t code_point);

/// `text` in the notation above, cut after `max_chars` output characters; a cut string ends in
/// "…(N bytes)", N being the length of the whole of `text`.
[[nodiscard]] std::string display(std::string_view text, size_t max_chars = kShownChars);

/// display(text, max_chars) in single quotes: the form messages name a tensor, key or member in.
[[nodiscard]] std::string quoted(std::string_view text, size_t max_chars = kShownChars);

/// An error message made safe as a whole: what display() escapes is escaped the same way, except
/// that backslashes stay as they are (fields already quoted keep their notation), and a message
/// longer than kMaxMessageBytes keeps its head and tail around "…(N bytes cut)…".
[[nodiscard]] std::string safe_message(std::string_view message);

/// `text` as a JSON string literal, quotes included, that is valid UTF-8 whatever `text` holds:
/// `"` and `\` escaped, C0 controls as \b \f \n \r \t or \u00XX, DEL and C1 controls as \u00XX,
/// the hidden format characters as \uXXXX (a surrogate pair above U+FFFF), each byte that is not
/// part of a valid UTF-8 sequence as \ufffd (U+FFFD REPLACEMENT CHARACTER). Nothing is cut.
[[nodiscard]] std::string json_string(std::string_view text);

/// Writes `text` through a rapidjson writer (Writer or PrettyWriter), as a key or a value,
/// in json_string's form.
template <class JsonWriter>
bool write_json_string(JsonWriter& writer, std::string_view text) {
  const std::string literal = json_string(text);
  return writer.RawValue(literal.data(), literal.size(), rapidjson::kStringType);
}

}  // namespace amn::io
