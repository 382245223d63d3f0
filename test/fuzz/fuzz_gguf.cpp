// libFuzzer target: the GGUF reader (header, typed metadata, tensor infos, data section).
#include "formats/formats.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static amn::fuzz::MemFile file;
  const std::string& path = file.hold(data, size);
  amn::fuzz::refusals_allowed([&] { (void)amn::formats::read_gguf(path, amn::fuzz::limits()); });
  return 0;
}
