// Typed metadata in text: the `TYPE:VALUE` rule of `--gguf-kv` and `--gguf-metadata`, and the
// encoding that keeps GGUF KV types through a safetensors `__metadata__` (string -> string).
//
// A `__metadata__` value that begins with `gguf:` is a typed GGUF value:
//   gguf:TYPE:VALUE        one scalar (TYPE u8 i8 u16 i16 u32 i32 u64 i64 f32 f64 bool str; VALUE
//                          as parse_scalar reads it: decimal integers, the shortest float text
//                          that reads back exactly, true/false, a string as it is)
//   gguf:array:N:BASE64    an array: BASE64 (RFC 4648, padded) of the raw DEFLATE of its N-byte
//                          GGUF serialisation (element type u32, count u64, the elements as GGUF
//                          stores them), so a 128k-entry vocabulary stays compact
// Every other value is a plain string. amn writes every non-string GGUF KV this way, and a
// string that itself begins with `gguf:` as `gguf:str:...`, so reading its files is unambiguous;
// a value from elsewhere that begins with `gguf:` but is not such an encoding stays a string.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "amn/catalog.hpp"
#include "amn/limits.hpp"

namespace amn::formats {

/// The prefix of a typed `__metadata__` value.
inline constexpr std::string_view kTypedPrefix = "gguf:";

/// The scalar type named `name` (u8 i8 u16 i16 u32 i32 u64 i64 f32 f64 bool str), or nullopt.
[[nodiscard]] std::optional<MetaType> scalar_type(std::string_view name);
/// The name of scalar type `type` ("u32", "str", ...).
[[nodiscard]] std::string scalar_type_name(MetaType type);

/// `text` as a value of scalar `type`: an integer in decimal within the type's range, a float as
/// strtod reads it (whole text), bool `true`/`false`, a string as it is; nullopt otherwise.
[[nodiscard]] std::optional<MetaValue> parse_scalar(MetaType type, const std::string& text);

/// The `__metadata__` text of `value` for key `key` (see above). Throws Error for an array of
/// arrays or a value that does not match its type.
[[nodiscard]] std::string typed_text(const MetaValue& value, const std::string& key);

/// A `__metadata__` value read back: typed when it begins with `gguf:`, else the string. Throws
/// Error(Parse) naming `file` and `key` for a malformed encoding (before allocating for it);
/// arrays are charged to the current heap budget (Error(Limit) when it is spent) and counted
/// against `limits.max_items`.
[[nodiscard]] MetaValue from_typed_text(const std::string& file, const std::string& key, const std::string& text,
                                        const Limits& limits);

}  // namespace amn::formats
