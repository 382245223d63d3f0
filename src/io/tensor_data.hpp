// Reading a tensor's logical bytes (row-major, little-endian, contiguous) from its storage.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "amn/catalog.hpp"
#include "amn/limits.hpp"
#include "io/file.hpp"

namespace amn::io {

/// Opens a catalog's files once and serves logical byte ranges of its tensors: plain ranges
/// are read directly; deflated members are inflated (and CRC-checked); strided views and
/// fortran-order arrays are gathered; big-endian elements are swapped.
class TensorData {
 public:
  TensorData(const Catalog& catalog, const Limits& limits);
  ~TensorData();
  TensorData(const TensorData&) = delete;
  TensorData& operator=(const TensorData&) = delete;

  /// Copies logical bytes [begin, begin + len) of tensor `tensor_idx` into `dst`. Thread-safe;
  /// plain ranges are read without locking, others share one cache under a lock.
  void read(size_t tensor_idx, uint64_t begin, uint64_t len, std::byte* dst);
  /// The whole tensor's logical bytes.
  [[nodiscard]] std::vector<std::byte> read_all(size_t tensor_idx);

  /// Standard input: bytes kept behind the furthest byte read (File::set_stream_window).
  void set_stream_window(uint64_t bytes);
  /// After the last read: standard input's end is checked (File::finish).
  void finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace amn::io
