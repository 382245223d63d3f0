// libFuzzer target: the ZIP container alone: end records, ZIP64, central directory against local
// headers, overlap, names; then each small member inflated whole and as a prefix, CRC checked.
#include "fuzz_common.hpp"
#include "io/file.hpp"
#include "io/zip.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static amn::fuzz::MemFile memfile;
  const std::string& path = memfile.hold(data, size);
  constexpr uint64_t kPrefixBytes = 64;
  amn::fuzz::refusals_allowed([&] {
    amn::io::File file(path);
    (void)amn::io::looks_like_zip(file);
    for (const auto& member : amn::io::read_zip_directory(file, amn::fuzz::limits())) {
      if (member.uncompressed_size > amn::fuzz::kMaxTensorReadBytes) continue;
      amn::fuzz::refusals_allowed([&] { (void)amn::io::read_member_prefix(file, member, kPrefixBytes, amn::fuzz::limits()); });
      amn::fuzz::refusals_allowed([&] { (void)amn::io::read_member(file, member, amn::fuzz::limits()); });
    }
  });
  return 0;
}
