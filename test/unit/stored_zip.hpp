// A minimal stored (uncompressed) ZIP writer for tests and fuzz targets: local headers, central
// directory and end record as Python's zipfile writes them (PKWARE APPNOTE 4.3).
#pragma once

#include <zlib.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace amn::test {

/// The bytes of a ZIP holding `members` (name, contents) stored uncompressed, in order.
inline std::string stored_zip(const std::vector<std::pair<std::string, std::string_view>>& members) {
  constexpr uint32_t kLocalSignature = 0x04034b50;
  constexpr uint32_t kCentralSignature = 0x02014b50;
  constexpr uint32_t kEndSignature = 0x06054b50;
  constexpr uint16_t kVersion = 20;
  auto put16 = [](std::string& out, uint16_t value) {
    out += static_cast<char>(value & 0xff);
    out += static_cast<char>(value >> 8);
  };
  auto put32 = [&](std::string& out, uint32_t value) {
    put16(out, static_cast<uint16_t>(value));
    put16(out, static_cast<uint16_t>(value >> 16));
  };
  std::string out;
  std::string directory;
  for (const auto& [name, body] : members) {
    const auto crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size())));
    const auto size = static_cast<uint32_t>(body.size());
    const auto offset = static_cast<uint32_t>(out.size());
    put32(out, kLocalSignature);
    for (uint16_t field : {kVersion, uint16_t{0}, uint16_t{0}, uint16_t{0}, uint16_t{0}}) put16(out, field);  // version, flags, method, time, date
    for (uint32_t field : {crc, size, size}) put32(out, field);
    put16(out, static_cast<uint16_t>(name.size()));
    put16(out, 0);  // extra length
    out += name;
    out += body;

    put32(directory, kCentralSignature);
    for (uint16_t field : {kVersion, kVersion, uint16_t{0}, uint16_t{0}, uint16_t{0}, uint16_t{0}}) put16(directory, field);
    for (uint32_t field : {crc, size, size}) put32(directory, field);
    put16(directory, static_cast<uint16_t>(name.size()));
    for (int field = 0; field < 4; ++field) put16(directory, 0);  // extra, comment, disk, internal attributes
    put32(directory, 0);                                             // external attributes
    put32(directory, offset);
    directory += name;
  }
  const auto directory_offset = static_cast<uint32_t>(out.size());
  out += directory;
  put32(out, kEndSignature);
  put16(out, 0);
  put16(out, 0);
  put16(out, static_cast<uint16_t>(members.size()));
  put16(out, static_cast<uint16_t>(members.size()));
  put32(out, static_cast<uint32_t>(directory.size()));
  put32(out, directory_offset);
  put16(out, 0);
  return out;
}

}  // namespace amn::test
