// Bounded little-endian reading of an in-memory header.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "amn/error.hpp"

namespace amn::io {

/// Reads little-endian scalars and strings from a byte span. Every read checks the bytes
/// remaining first and fails with Error(Parse) naming the file, the field and the offset.
class Cursor {
 public:
  Cursor(std::span<const std::byte> bytes, std::string file, uint64_t base_offset = 0)
      : bytes_(bytes), file_(std::move(file)), base_(base_offset) {}

  [[nodiscard]] uint64_t pos() const { return pos_; }
  /// Absolute file offset of the cursor (base + pos).
  [[nodiscard]] uint64_t file_offset() const { return base_ + pos_; }
  [[nodiscard]] uint64_t remaining() const { return bytes_.size() - pos_; }
  [[nodiscard]] const std::string& file() const { return file_; }

  /// Throws unless `n` bytes remain.
  void need(uint64_t n, std::string_view field) const {
    if (n > remaining()) {
      fail_parse(file_, std::string(field) + ": truncated at offset " + std::to_string(file_offset()) +
                            " (needs " + std::to_string(n) + " bytes, " + std::to_string(remaining()) +
                            " remain)");
    }
  }

  template <class T>
  [[nodiscard]] T read(std::string_view field) {
    need(sizeof(T), field);
    T value;
    std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }

  /// A view of the next `n` bytes.
  [[nodiscard]] std::span<const std::byte> take(uint64_t n, std::string_view field) {
    need(n, field);
    auto out = bytes_.subspan(pos_, n);
    pos_ += n;
    return out;
  }

  [[nodiscard]] std::string_view take_string(uint64_t n, std::string_view field) {
    auto span = take(n, field);
    return {reinterpret_cast<const char*>(span.data()), span.size()};
  }

  void skip(uint64_t n, std::string_view field) { (void)take(n, field); }

 private:
  std::span<const std::byte> bytes_;
  std::string file_;
  uint64_t base_ = 0;
  uint64_t pos_ = 0;
};

}  // namespace amn::io
