// Untrusted text for people and for JSON (see display.hpp for the notation).
#include "io/display.hpp"

#include <cstdint>
#include <cstdio>
#include <vector>

namespace amn::io {
namespace {

constexpr char32_t kReplacement = 0xfffd;
constexpr std::string_view kEllipsis = "\xe2\x80\xa6";  // U+2026

/// One step through UTF-8 text: a whole valid character, or one byte that starts none.
struct Unit {
  char32_t code_point = 0;
  size_t length = 1;
  bool valid = false;
};

bool continuation(std::string_view text, size_t pos, unsigned char low = 0x80, unsigned char high = 0xbf) {
  if (pos >= text.size()) return false;
  auto byte = static_cast<unsigned char>(text[pos]);
  return byte >= low && byte <= high;
}

/// The unit at `pos`: RFC 3629 UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF).
Unit decode(std::string_view text, size_t pos) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  if (lead < 0x80) return {lead, 1, true};
  auto cont = [&](size_t offset) { return static_cast<char32_t>(static_cast<unsigned char>(text[pos + offset]) & 0x3f); };
  if (lead >= 0xc2 && lead <= 0xdf) {
    if (!continuation(text, pos + 1)) return {};
    return {static_cast<char32_t>(lead & 0x1f) << 6 | cont(1), 2, true};
  }
  if (lead >= 0xe0 && lead <= 0xef) {
    const unsigned char low = lead == 0xe0 ? 0xa0 : 0x80;   // 0xe0: no overlong forms
    const unsigned char high = lead == 0xed ? 0x9f : 0xbf;  // 0xed: no surrogates
    if (!continuation(text, pos + 1, low, high) || !continuation(text, pos + 2)) return {};
    return {static_cast<char32_t>(lead & 0x0f) << 12 | cont(1) << 6 | cont(2), 3, true};
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    const unsigned char low = lead == 0xf0 ? 0x90 : 0x80;   // 0xf0: no overlong forms
    const unsigned char high = lead == 0xf4 ? 0x8f : 0xbf;  // 0xf4: nothing above U+10FFFF
    if (!continuation(text, pos + 1, low, high) || !continuation(text, pos + 2) || !continuation(text, pos + 3)) {
      return {};
    }
    return {static_cast<char32_t>(lead & 0x07) << 18 | cont(1) << 12 | cont(2) << 6 | cont(3), 4, true};
  }
  return {};
}

std::string hex(const char* format, uint32_t value) {
  char buffer[16];
  std::snprintf(buffer, sizeof(buffer), format, value);
  return buffer;
}

/// How `unit` (starting at text[pos]) is shown: itself, or its escape. `escape_backslash` is
/// false only for the whole-message pass, which must not re-escape quoted fields.
std::string render(std::string_view text, size_t pos, const Unit& unit, bool escape_backslash) {
  if (!unit.valid) return hex("\\x%02x", static_cast<unsigned char>(text[pos]));
  const char32_t code_point = unit.code_point;
  if (code_point == '\\' && escape_backslash) return "\\\\";
  if (code_point == '\t') return "\\t";
  if (code_point == '\n') return "\\n";
  if (code_point == '\r') return "\\r";
  if (code_point < 0x20 || code_point == 0x7f) return hex("\\x%02x", code_point);
  if (is_hidden(code_point)) return hex(code_point > 0xffff ? "\\U%08x" : "\\u%04x", code_point);
  return std::string(text.substr(pos, unit.length));
}

/// Output characters a rendered unit takes: 1 for a character shown as itself.
size_t width(const Unit& unit, const std::string& piece, std::string_view source) {
  return unit.valid && piece == source ? 1 : piece.size();
}

}  // namespace

bool is_hidden(char32_t code_point) {
  if (code_point < 0x20 || code_point == 0x7f || (code_point >= 0x80 && code_point <= 0x9f)) return true;
  if (code_point == 0xad || code_point == 0x61c || code_point == 0x180e) return true;
  if (code_point >= 0x200b && code_point <= 0x200f) return true;  // zero-width space/joiners, LRM, RLM
  if (code_point >= 0x2028 && code_point <= 0x202e) return true;  // line/paragraph separators, embeddings, overrides
  if (code_point >= 0x2060 && code_point <= 0x206f) return true;  // word joiner, invisible operators, isolates
  if (code_point == 0xfeff || (code_point >= 0xfff9 && code_point <= 0xfffb)) return true;
  return code_point >= 0xe0000 && code_point <= 0xe007f;  // tag characters
}

std::string display(std::string_view text, size_t max_chars) {
  std::string out;
  size_t used = 0;
  for (size_t pos = 0; pos < text.size();) {
    const Unit unit = decode(text, pos);
    const std::string piece = render(text, pos, unit, true);
    const size_t chars = width(unit, piece, text.substr(pos, unit.length));
    if (used + chars > max_chars) {
      out += kEllipsis;
      out += '(';
      out += std::to_string(text.size());
      out += " bytes)";
      return out;
    }
    out += piece;
    used += chars;
    pos += unit.length;
  }
  return out;
}

std::string quoted(std::string_view text, size_t max_chars) {
  std::string out = "'";
  out += display(text, max_chars);
  out += '\'';
  return out;
}

std::string safe_message(std::string_view message) {
  constexpr size_t kTailBytes = kMaxMessageBytes / 4;
  constexpr size_t kHeadBytes = kMaxMessageBytes - kTailBytes - 64;  // room for the marker
  std::string head;
  size_t pos = 0;
  while (pos < message.size()) {
    const Unit unit = decode(message, pos);
    std::string piece = render(message, pos, unit, false);
    if (head.size() + piece.size() > kHeadBytes) break;
    head += piece;
    pos += unit.length;
  }
  if (pos == message.size()) return head;

  // The tail: render from a little before the end (never before the head stopped), starting on
  // a character boundary, then drop whole pieces from its front until it fits.
  size_t start = message.size() - std::min(message.size() - pos, kTailBytes);
  for (int skipped = 0; skipped < 3 && start < message.size() && continuation(message, start); ++skipped) ++start;
  std::vector<std::pair<size_t, std::string>> pieces;  // (input position, rendered)
  size_t tail_bytes = 0;
  for (size_t at = start; at < message.size();) {
    const Unit unit = decode(message, at);
    pieces.emplace_back(at, render(message, at, unit, false));
    tail_bytes += pieces.back().second.size();
    at += unit.length;
  }
  size_t first = 0;
  while (first < pieces.size() && tail_bytes > kTailBytes) tail_bytes -= pieces[first++].second.size();
  const size_t tail_start = first < pieces.size() ? pieces[first].first : message.size();
  std::string out = std::move(head);
  if (tail_start > pos) {
    out += kEllipsis;
    out += '(';
    out += std::to_string(tail_start - pos);
    out += " bytes cut)";
    out += kEllipsis;
  }
  for (size_t piece_idx = first; piece_idx < pieces.size(); ++piece_idx) out += pieces[piece_idx].second;
  return out;
}

std::string json_string(std::string_view text) {
  std::string out = "\"";
  out.reserve(text.size() + 2);
  auto escape = [&](char32_t code_unit) { out += hex("\\u%04x", code_unit); };
  for (size_t pos = 0; pos < text.size();) {
    const Unit unit = decode(text, pos);
    const char32_t code_point = unit.code_point;
    if (!unit.valid) {
      escape(kReplacement);
    } else if (code_point == '"') {
      out += "\\\"";
    } else if (code_point == '\\') {
      out += "\\\\";
    } else if (code_point == '\b') {
      out += "\\b";
    } else if (code_point == '\f') {
      out += "\\f";
    } else if (code_point == '\n') {
      out += "\\n";
    } else if (code_point == '\r') {
      out += "\\r";
    } else if (code_point == '\t') {
      out += "\\t";
    } else if (is_hidden(code_point)) {
      if (code_point > 0xffff) {  // UTF-16 surrogate pair
        const char32_t offset = code_point - 0x10000;
        escape(0xd800 + (offset >> 10));
        escape(0xdc00 + (offset & 0x3ff));
      } else {
        escape(code_point);
      }
    } else {
      out.append(text.substr(pos, unit.length));
    }
    pos += unit.length;
  }
  out += '"';
  return out;
}

}  // namespace amn::io
