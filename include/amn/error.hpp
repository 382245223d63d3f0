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
/// tensor or field and the byte offset.
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
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
