// Covers the ZIP container (PKWARE APPNOTE: central directory, ZIP64 records, local headers, data
// descriptors, stored/deflate members, CRC-32) on archives written by python's zipfile and numpy
// (test/fixtures/gen/gen_npz.py; zip_expected.tsv holds zipfile's view of each member).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>

#include "amn/error.hpp"
#include "io/file.hpp"
#include "io/zip.hpp"

namespace {

const std::string kDir = std::string(AMN_SOURCE_DIR) + "/test/fixtures/npz/";

std::vector<std::byte> from_hex(const std::string& hex) {
  std::vector<std::byte> out(hex.size() / 2);
  for (size_t byte_idx = 0; byte_idx < out.size(); ++byte_idx) {
    out[byte_idx] = static_cast<std::byte>(std::stoi(hex.substr(byte_idx * 2, 2), nullptr, 16));
  }
  return out;
}

/// zip_expected.tsv: file -> [(member, bytes)] in zipfile's order.
std::map<std::string, std::vector<std::pair<std::string, std::vector<std::byte>>>> expected_members() {
  std::map<std::string, std::vector<std::pair<std::string, std::vector<std::byte>>>> out;
  std::ifstream tsv(kDir + "zip_expected.tsv");
  std::string line;
  while (std::getline(tsv, line)) {
    std::istringstream fields(line);
    std::string file, member, hex;
    std::getline(fields, file, '\t');
    std::getline(fields, member, '\t');
    std::getline(fields, hex);
    out[file].emplace_back(member, from_hex(hex));
  }
  return out;
}

amn::ErrorCode code_of(const std::function<void()>& action, std::string& message) {
  try {
    action();
  } catch (const amn::Error& error) {
    message = error.what();
    return error.code();
  }
  FAIL("no error thrown");
  return amn::ErrorCode::Usage;
}

}  // namespace

TEST_CASE("zip: members and bytes agree with python's zipfile") {
  auto expected = expected_members();
  REQUIRE(expected.size() == 2);
  for (const auto& [file_name, members] : expected) {
    CAPTURE(file_name);
    amn::io::File file(kDir + file_name);
    CHECK(amn::io::looks_like_zip(file));
    auto directory = amn::io::read_zip_directory(file, amn::Limits{});
    REQUIRE(directory.size() == members.size());
    for (size_t member_idx = 0; member_idx < members.size(); ++member_idx) {
      CHECK(directory[member_idx].name == members[member_idx].first);
      CHECK(directory[member_idx].uncompressed_size == members[member_idx].second.size());
      CHECK(amn::io::read_member(file, directory[member_idx], amn::Limits{}) == members[member_idx].second);
      auto prefix = amn::io::read_member_prefix(file, directory[member_idx], 7, amn::Limits{});
      CHECK(prefix == std::vector<std::byte>(members[member_idx].second.begin(), members[member_idx].second.begin() + 7));
    }
  }
}

TEST_CASE("zip: methods, padded extra fields, data descriptors") {
  amn::io::File mixed(kDir + "mixed.zip");
  auto directory = amn::io::read_zip_directory(mixed, amn::Limits{});
  REQUIRE(directory.size() == 3);
  CHECK(directory[0].method == amn::Compression::None);
  CHECK(directory[1].method == amn::Compression::Deflate);
  CHECK(directory[1].compressed_size < directory[1].uncompressed_size);
  CHECK(directory[2].data_offset % 64 == 0);  // PyTorch-style padding extra honoured

  amn::io::File streamed(kDir + "streamed.zip");
  auto streamed_dir = amn::io::read_zip_directory(streamed, amn::Limits{});
  REQUIRE(streamed_dir.size() == 1);
  CHECK(streamed_dir[0].method == amn::Compression::Deflate);
}

TEST_CASE("zip: numpy archives, including ZIP64 end records and extra fields") {
  for (const char* name : {"savez.npz", "compressed.npz", "zip64.npz"}) {
    CAPTURE(name);
    amn::io::File file(kDir + name);
    auto directory = amn::io::read_zip_directory(file, amn::Limits{});
    REQUIRE(directory.size() >= 2);
    for (const auto& member : directory) {
      auto bytes = amn::io::read_member(file, member, amn::Limits{});
      REQUIRE(bytes.size() >= 6);
      CHECK(std::string(reinterpret_cast<const char*>(bytes.data()) + 1, 5) == "NUMPY");
    }
  }
  amn::io::File zip64(kDir + "zip64.npz");
  auto directory = amn::io::read_zip_directory(zip64, amn::Limits{});
  CHECK(directory[0].name == "x.npy");
  CHECK(directory[1].name == "y.npy");
}

TEST_CASE("zip: storages read through read_storage_bytes match read_member") {
  amn::io::File file(kDir + "compressed.npz");
  for (const auto& member : amn::io::read_zip_directory(file, amn::Limits{})) {
    auto storage = amn::io::member_storage(member, 0);
    CHECK(storage.compression == amn::Compression::Deflate);
    CHECK(storage.check_crc);
    CHECK(amn::io::read_storage_bytes(file, storage, "x", amn::Limits{}) == amn::io::read_member(file, member, amn::Limits{}));
  }
}

TEST_CASE("zip: bad CRC-32 is refused naming the member") {
  amn::io::File file(kDir + "bad_crc.npz");
  auto directory = amn::io::read_zip_directory(file, amn::Limits{});
  std::string message;
  CHECK(code_of([&] { (void)amn::io::read_member(file, directory[0], amn::Limits{}); }, message) == amn::ErrorCode::Parse);
  CHECK(message.find("member 'a.npy': CRC-32 mismatch") != std::string::npos);
  CHECK(message.find("bad_crc.npz") != std::string::npos);
  CHECK_NOTHROW((void)amn::io::read_member(file, directory[1], amn::Limits{}));
}

TEST_CASE("zip: caps on items, names and allocation") {
  amn::io::File file(kDir + "savez.npz");
  std::string message;
  amn::Limits few_items;
  few_items.max_items = 2;
  CHECK(code_of([&] { (void)amn::io::read_zip_directory(file, few_items); }, message) == amn::ErrorCode::Limit);
  CHECK(message.find("item cap") != std::string::npos);

  amn::Limits short_names;
  short_names.max_name = 4;
  CHECK(code_of([&] { (void)amn::io::read_zip_directory(file, short_names); }, message) == amn::ErrorCode::Limit);
  CHECK(message.find("member name") != std::string::npos);

  auto directory = amn::io::read_zip_directory(file, amn::Limits{});
  amn::Limits small_alloc;
  small_alloc.max_alloc = 16;
  CHECK(code_of([&] { (void)amn::io::read_member(file, directory[0], small_alloc); }, message) == amn::ErrorCode::Limit);
  CHECK(message.find("allocation cap") != std::string::npos);
}

TEST_CASE("zip: an empty archive has no members") {
  amn::io::File file(kDir + "empty.zip");
  CHECK(amn::io::looks_like_zip(file));
  CHECK(amn::io::read_zip_directory(file, amn::Limits{}).empty());
}

TEST_CASE("zip: looks_like_zip") {
  CHECK_FALSE(amn::io::looks_like_zip(amn::io::File(kDir + "f4.npy")));
  CHECK(amn::io::looks_like_zip(amn::io::File(kDir + "extras.npz")));
}
