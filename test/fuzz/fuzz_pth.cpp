// libFuzzer target: the PyTorch reader on whole files (ZIP container, archive layout, byteorder,
// pickle, tensor rebuilds), then every small tensor's bytes read back (strided views, swaps).
#include "formats/formats.hpp"
#include "fuzz_common.hpp"
#include "io/tensor_data.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static amn::fuzz::MemFile file;
  const std::string& path = file.hold(data, size);
  amn::fuzz::refusals_allowed([&] {
    amn::Catalog catalog = amn::formats::read_pth(path, amn::fuzz::limits());
    amn::io::TensorData tensors(catalog, amn::fuzz::limits());
    for (size_t tensor_idx = 0; tensor_idx < catalog.tensors.size(); ++tensor_idx) {
      if (catalog.tensors[tensor_idx].nbytes <= amn::fuzz::kMaxTensorReadBytes) (void)tensors.read_all(tensor_idx);
    }
  });
  return 0;
}
