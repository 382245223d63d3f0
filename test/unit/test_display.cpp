// Covers untrusted text in output (src/io/display.hpp; shared/docs/hostile-inputs.md case 62):
// the display notation for messages and reports, its length bound, the whole-message pass that
// amn::Error applies, and the JSON string rule for --json; checked on the documented classes of
// characters, on every malformed UTF-8 form, and on random bytes.
#include <doctest/doctest.h>

#include <rapidjson/document.h>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "amn/error.hpp"
#include "io/display.hpp"

using amn::io::display;
using amn::io::json_string;
using amn::io::quoted;
using amn::io::safe_message;

namespace {

/// The code points of `text`, or nullopt when it is not valid UTF-8 (RFC 3629), decoded here
/// independently of display.cpp.
std::optional<std::vector<char32_t>> utf8(std::string_view text) {
  std::vector<char32_t> out;
  for (size_t pos = 0; pos < text.size();) {
    const auto lead = static_cast<unsigned char>(text[pos]);
    size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xe ? 3 : (lead >> 3) == 0x1e ? 4 : 0;
    if (length == 0 || pos + length > text.size()) return std::nullopt;
    char32_t code_point = length == 1 ? lead : lead & (0x7f >> length);
    for (size_t idx = 1; idx < length; ++idx) {
      const auto byte = static_cast<unsigned char>(text[pos + idx]);
      if ((byte & 0xc0) != 0x80) return std::nullopt;
      code_point = code_point << 6 | (byte & 0x3f);
    }
    const char32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code_point < smallest[length] || code_point > 0x10ffff || (code_point >= 0xd800 && code_point <= 0xdfff)) {
      return std::nullopt;
    }
    out.push_back(code_point);
    pos += length;
  }
  return out;
}

/// Valid UTF-8 holding no code point that amn::io::is_hidden names.
bool printable(std::string_view text) {
  auto code_points = utf8(text);
  if (!code_points) return false;
  for (char32_t code_point : *code_points) {
    if (amn::io::is_hidden(code_point)) return false;
  }
  return true;
}

/// The string a JSON literal stands for, or nullopt when rapidjson refuses it.
std::optional<std::string> json_value(const std::string& literal) {
  rapidjson::Document document;
  document.Parse<rapidjson::kParseValidateEncodingFlag>(literal.data(), literal.size());
  if (document.HasParseError() || !document.IsString()) return std::nullopt;
  return std::string(document.GetString(), document.GetStringLength());
}

}  // namespace

TEST_CASE("display: which code points are hidden") {
  size_t hidden = 0;
  for (char32_t code_point = 0; code_point <= 0x10ffff; ++code_point) hidden += amn::io::is_hidden(code_point);
  // C0 32 + DEL 1 + C1 32 + U+00AD, U+061C, U+180E 3 + U+200B-U+200F 5 + U+2028-U+202E 7
  // + U+2060-U+206F 16 + U+FEFF, U+FFF9-U+FFFB 4 + tags 128
  CHECK(hidden == 32 + 1 + 32 + 3 + 5 + 7 + 16 + 4 + 128);
  for (char32_t code_point : {0x1bu, 0x7fu, 0x85u, 0x9bu, 0x200eu, 0x200fu, 0x202au, 0x202eu, 0x2066u, 0x2069u,
                              0x061cu, 0x200bu, 0x200du, 0x2060u, 0x2064u, 0xfeffu, 0xe0041u}) {
    CAPTURE(static_cast<uint32_t>(code_point));
    CHECK(amn::io::is_hidden(code_point));
  }
  for (char32_t code_point : {0x20u, 0x41u, 0xa0u, 0xe9u, 0xd7u, 0x2026u, 0x4e2du, 0x1f600u, 0xfffdu}) {
    CAPTURE(static_cast<uint32_t>(code_point));
    CHECK_FALSE(amn::io::is_hidden(code_point));
  }
}

TEST_CASE("display: the notation") {
  CHECK(display("model.layers.0.weight") == "model.layers.0.weight");
  CHECK(display("plain \xc3\xa9 \xc3\x97 \xe4\xb8\xad \xf0\x9f\x98\x80") == "plain \xc3\xa9 \xc3\x97 \xe4\xb8\xad \xf0\x9f\x98\x80");
  CHECK(display("a\tb\nc\rd") == "a\\tb\\nc\\rd");
  CHECK(display("\x1b[2J\x1b[31mred\x07") == "\\x1b[2J\\x1b[31mred\\x07");
  CHECK(display(std::string("nul\0x", 5)) == "nul\\x00x");
  CHECK(display("del\x7f") == "del\\x7f");
  CHECK(display("back\\slash") == "back\\\\slash");
  CHECK(display("c1\xc2\x85\xc2\x9b") == "c1\\u0085\\u009b");
  CHECK(display("bidi\xe2\x80\xae" "exe.txt") == "bidi\\u202eexe.txt");
  CHECK(display("\xe2\x81\xa6iso\xe2\x81\xa9 \xe2\x80\x8e\xe2\x80\x8f \xd8\x9c") == "\\u2066iso\\u2069 \\u200e\\u200f \\u061c");
  CHECK(display("zw\xe2\x80\x8b\xe2\x80\x8d\xe2\x81\xa0\xef\xbb\xbf") == "zw\\u200b\\u200d\\u2060\\ufeff");
  CHECK(display("tag\xf3\xa0\x81\x81") == "tag\\U000e0041");
  CHECK(quoted("a\x1b") == "'a\\x1b'");
}

TEST_CASE("display: bytes that are not UTF-8 are shown one by one as \\xHH") {
  CHECK(display("\xff\xfe") == "\\xff\\xfe");
  CHECK(display("a\x80z") == "a\\x80z");                    // lone continuation byte
  CHECK(display("a\xe2\x80") == "a\\xe2\\x80");              // truncated sequence at the end
  CHECK(display("a\xe2\x80z") == "a\\xe2\\x80z");            // truncated sequence in the middle
  CHECK(display("\xc0\xaf") == "\\xc0\\xaf");                // overlong '/'
  CHECK(display("\xe0\x80\xaf") == "\\xe0\\x80\\xaf");       // overlong, 3 bytes
  CHECK(display("\xed\xa0\x80") == "\\xed\\xa0\\x80");       // UTF-16 surrogate
  CHECK(display("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
  CHECK(display("\xc2") == "\\xc2");
}

TEST_CASE("display: a long string is cut after 200 output characters, never inside a character or an escape") {
  CHECK(display(std::string(200, 'a')) == std::string(200, 'a'));
  CHECK(display(std::string(1000, 'a')) == std::string(200, 'a') + "\xe2\x80\xa6(1000 bytes)");
  std::string escapes;
  for (int idx = 0; idx < 100; ++idx) escapes += "\\x1b";
  CHECK(display(std::string(100, '\x1b')) == escapes.substr(0, 200) + "\xe2\x80\xa6(100 bytes)");
  std::string accents;
  for (int idx = 0; idx < 300; ++idx) accents += "\xc3\xa9";
  CHECK(display(accents) == accents.substr(0, 400) + "\xe2\x80\xa6(600 bytes)");
  CHECK(display(std::string(10, 'a'), 4) == "aaaa\xe2\x80\xa6(10 bytes)");
  const std::string huge(16u << 20, '\x1b');  // a 16 MiB key
  CHECK(display(huge).size() < 250);
}

TEST_CASE("display: error messages are escaped and bounded as a whole") {
  CHECK(safe_message("f.gguf: key 'a\\x1b': duplicate") == "f.gguf: key 'a\\x1b': duplicate");  // quoted fields kept
  CHECK(safe_message("f: \x1b[31m\xe2\x80\xae\xff") == "f: \\x1b[31m\\u202e\\xff");
  CHECK(safe_message("line one\nline two") == "line one\\nline two");

  const std::string middle(100'000, 'x');
  const std::string message = "model.gguf: key '" + middle + "': duplicate key (at offset 7)";
  const std::string safe = safe_message(message);
  CHECK(safe.size() <= amn::io::kMaxMessageBytes);
  CHECK(safe.starts_with("model.gguf: key 'xxx"));
  CHECK(safe.ends_with("xxx': duplicate key (at offset 7)"));
  CHECK(safe.find(" bytes cut)\xe2\x80\xa6") != std::string::npos);

  std::string escapes(20'000, '\x1b');  // expands fourfold: still bounded, never split mid-escape
  const std::string bounded = safe_message(escapes + " end");
  CHECK(bounded.size() <= amn::io::kMaxMessageBytes);
  CHECK(bounded.ends_with("\\x1b end"));
  CHECK(printable(bounded));

  std::string accents = "p: ";
  for (int idx = 0; idx < 5000; ++idx) accents += "\xc3\xa9";
  CHECK(printable(safe_message(accents)));

  const amn::Error error(amn::ErrorCode::Parse, "model.safetensors: tensor '\x1b]0;pwned\x07': bad\r\n" + middle);
  const std::string what = error.what();
  CHECK(what.starts_with("model.safetensors: tensor '\\x1b]0;pwned\\x07': bad\\r\\n"));
  CHECK(what.size() <= amn::io::kMaxMessageBytes);
  CHECK(printable(what));
}

TEST_CASE("display: JSON strings are valid UTF-8 with hidden characters as \\u escapes") {
  CHECK(json_string("plain \xc3\xa9") == "\"plain \xc3\xa9\"");
  CHECK(json_string("q\"b\\") == "\"q\\\"b\\\\\"");
  CHECK(json_string("\b\f\n\r\t\x01\x1b") == "\"\\b\\f\\n\\r\\t\\u0001\\u001b\"");
  CHECK(json_string("del\x7f c1\xc2\x85") == "\"del\\u007f c1\\u0085\"");
  CHECK(json_string("bidi\xe2\x80\xae\xe2\x81\xa6") == "\"bidi\\u202e\\u2066\"");
  CHECK(json_string("tag\xf3\xa0\x81\x81") == "\"tag\\udb40\\udc41\"");
  CHECK(json_string("bad\xff\xc0\xaf!") == "\"bad\\ufffd\\ufffd\\ufffd!\"");
  CHECK(json_value(json_string("tag\xf3\xa0\x81\x81 \xe2\x80\xae\x1b")) == "tag\xf3\xa0\x81\x81 \xe2\x80\xae\x1b");
  CHECK(json_value(json_string("bad\xff")) == "bad\xef\xbf\xbd");
}

TEST_CASE("display: random bytes always give printable text and valid JSON") {
  std::mt19937 random(62);
  std::uniform_int_distribution<int> length(0, 40);
  std::uniform_int_distribution<int> byte(0, 255);
  // Biased towards the bytes that start the dangerous sequences.
  const unsigned char kLeads[] = {0x1b, 0x7f, 0x80, 0x9b, 0xc2, 0xe2, 0x80, 0xae, 0xef, 0xbb, 0xf3, 0xa0, 0xed, '\\', '"'};
  for (int sample = 0; sample < 20'000; ++sample) {
    std::string text;
    for (int idx = length(random); idx > 0; --idx) {
      text += static_cast<char>(byte(random) < 128 ? kLeads[byte(random) % sizeof(kLeads)] : byte(random));
    }
    CAPTURE(text);
    CHECK(printable(display(text)));
    CHECK(printable(safe_message(text)));
    const std::string literal = json_string(text);
    CHECK(printable(literal));
    const auto value = json_value(literal);
    REQUIRE(value);
    if (utf8(text)) CHECK(*value == text);  // valid UTF-8 comes back unchanged
  }
}
