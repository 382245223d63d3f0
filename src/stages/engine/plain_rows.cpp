// f32 rows of a plain tensor: read the rows' input bytes, then decode them in place order.
#include "stages/engine/plain_rows.hpp"

#include <vector>

#include "kernels/convert.hpp"

namespace amn::stages {

void PlainRows::rows(io::TensorData& data, uint64_t first, uint64_t count, float* dst) const {
  const auto& type = info(dtype_);
  const uint64_t row_bytes = row_elems_ / type.block_elems * type.block_bits / 8;
  const uint64_t elems = count * row_elems_;
  auto* out = reinterpret_cast<std::byte*>(dst);
  if (dtype_ == DType::F32) {
    data.read(tensor_idx_, first * row_bytes, count * row_bytes, out);
    return;
  }
  // Rows are small (one output window's worth); a thread-local buffer avoids a heap churn.
  thread_local std::vector<std::byte> input;
  input.resize(count * row_bytes);
  data.read(tensor_idx_, first * row_bytes, input.size(), input.data());
  if (is_block_type(dtype_)) {
    kernels::dequant_elements(dtype_, input.data(), elems / type.block_elems, DType::F32, out);
  } else {
    kernels::convert_elements(dtype_, input.data(), elems, DType::F32, out);
  }
}

}  // namespace amn::stages
