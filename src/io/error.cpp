// The one error type: message helpers.
#include <cstring>

#include "amn/error.hpp"
#include "io/display.hpp"

namespace amn {

Error::Error(ErrorCode code, const std::string& message) : std::runtime_error(io::safe_message(message)), code_(code) {}

void fail_parse(const std::string& file, const std::string& message) {
  throw Error(ErrorCode::Parse, file + ": " + message);
}

void fail_unsupported(const std::string& file, const std::string& message) {
  throw Error(ErrorCode::Unsupported, file + ": " + message);
}

void fail_limit(const std::string& file, const std::string& message) {
  throw Error(ErrorCode::Limit, file + ": " + message);
}

void fail_io(const std::string& file, const std::string& message, int errno_value) {
  throw Error(ErrorCode::Io, file + ": " + message + ": " + std::strerror(errno_value));
}

}  // namespace amn
