// amn — the one error type.
#pragma once

#include <stdexcept>
#include <string>

namespace amn {

/// What went wrong, one documented meaning per code.
enum class ErrorCode {
  Parse,        ///< the input is malformed: a field is wrong, out of range or inconsistent
  Unsupported,  ///< the input is well formed but uses something amn does not handle (named)
  Limit,        ///< the input asks for more than a cap allows (allocation, count, ratio)
  Io,           ///< the operating system refused a read, write, rename or similar
  Usage,        ///< the caller asked for something impossible (bad option, output exists)
  Cancelled,    ///< the caller stopped a conversion (Progress::cancel); its partial outputs were removed
};

/// The exception every amn failure raises. `what()` names the file, and where known the
/// tensor or field and the byte offset. It is safe to print: one line of valid UTF-8 with no
/// control, bidi or invisible format character (escaped as \x1b, \u202e, ...) and at most
/// 4096 bytes (a longer message keeps its head and tail); docs/security.md has the notation.
class Error : public std::runtime_error {
 public:
  /// Stores `message` made safe to print (see above).
  Error(ErrorCode code, const std::string& message);
  /// The category of the failure.
  [[nodiscard]] ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

/// Throws Error(Parse) with "FILE: message".
[[noreturn]] void fail_parse(const std::string& file, const std::string& message);
/// Throws Error(Unsupported) with "FILE: message".
[[noreturn]] void fail_unsupported(const std::string& file, const std::string& message);
/// Throws Error(Limit) with "FILE: message".
[[noreturn]] void fail_limit(const std::string& file, const std::string& message);
/// Throws Error(Io) with "FILE: message: strerror(errno_value)".
[[noreturn]] void fail_io(const std::string& file, const std::string& message, int errno_value);

}  // namespace amn
