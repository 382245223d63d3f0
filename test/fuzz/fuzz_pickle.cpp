// libFuzzer target: the restricted pickle VM and the PyTorch object walk. The fuzz bytes are
// `archive/data.pkl` of a stored ZIP that also holds storages archive/data/0..7, so mutations
// reach the opcodes directly and tensors can resolve their storages.
#include <string_view>
#include <vector>

#include "formats/formats.hpp"
#include "fuzz_common.hpp"
#include "unit/stored_zip.hpp"

namespace {

constexpr int kStorages = 8;
constexpr size_t kStorageBytes = 64;  ///< 16 float32, 8 int64, ...

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The pickle length must fit a classic ZIP entry; larger inputs are not interesting here.
  if (size > (1u << 24)) return 0;
  static amn::fuzz::MemFile file;
  static const std::string kStorageBody(kStorageBytes, '\x01');
  std::vector<std::pair<std::string, std::string_view>> members = {
      {"archive/data.pkl", std::string_view(reinterpret_cast<const char*>(data), size)},
      {"archive/byteorder", "little"},
  };
  for (int key = 0; key < kStorages; ++key) members.emplace_back("archive/data/" + std::to_string(key), kStorageBody);
  const std::string archive = amn::test::stored_zip(members);
  const std::string& path = file.hold(reinterpret_cast<const uint8_t*>(archive.data()), archive.size());
  amn::fuzz::refusals_allowed([&] { (void)amn::formats::read_pth(path, amn::fuzz::limits()); });
  return 0;
}
