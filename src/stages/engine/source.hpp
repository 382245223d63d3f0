// Tensor sources: every way amn produces the bytes of one output tensor (copied, cast,
// dequantised, decoded rows narrowed or quantised, encoded) behind one interface. The plan builds
// them; the engine (windows of output files) and TensorReader (a caller's buffer) fill byte
// ranges through fill_range and know nothing of dtypes or schemes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "amn/catalog.hpp"
#include "io/tensor_data.hpp"
#include "stages/schemes/schemes.hpp"

namespace amn::stages {

/// Working memory one thread reuses across calls.
struct SourceScratch {
  std::vector<std::byte> input;  ///< input bytes being decoded
  std::vector<float> rows;       ///< f32 rows
  std::vector<std::byte> unit;   ///< one output unit cut by a range's edge
};

/// What a source does to its input (the run's one-line summary counts them).
enum class SourceKind : uint8_t { Copied, Cast, Dequantised, Quantised, Encoded };

/// Produces one output tensor's bytes in units (a byte, an element, a GGUF block, a row, an
/// encoder's block). Callable from many threads at once.
class TensorSource {
 public:
  virtual ~TensorSource() = default;
  /// Output bytes of one unit. The tensor's last unit may be cut short by its end; the source
  /// then writes only the bytes that exist.
  [[nodiscard]] virtual uint64_t unit_bytes() const = 0;
  /// Scratch bytes one unit takes (input read and decoded); 0 for none.
  [[nodiscard]] virtual uint64_t scratch_bytes() const = 0;
  /// Writes units [first, first + count) into dst.
  virtual void units(io::TensorData& data, uint64_t first, uint64_t count, std::byte* dst,
                     SourceScratch& scratch) const = 0;
  [[nodiscard]] virtual SourceKind kind() const = 0;
  /// Units worth producing in one call at least, even past the strip size (RowSource::min_rows).
  [[nodiscard]] virtual uint64_t min_units() const { return 1; }
};

/// Scratch a worker prepares at once: fill_range works in strips of about this many bytes.
inline constexpr uint64_t kStripBytes = 512ull << 10;

/// Writes output bytes [begin, end) of `source`'s tensor (offsets from its start) into dst, a
/// strip of units at a time (about kStripBytes of scratch, at least min_units() units); a unit cut by the range's edge is produced whole into scratch and
/// copied in part.
void fill_range(const TensorSource& source, io::TensorData& data, uint64_t begin, uint64_t end, std::byte* dst,
                SourceScratch& scratch);

/// How a plain tensor of `from` becomes `to`: copied, cast, dequantised, or decoded to f32 and
/// quantised; nullopt when amn has no kernel for it.
[[nodiscard]] std::optional<SourceKind> plain_kind(DType from, DType to);

/// The source of input tensor `tensor_idx` (`from`, shape `shape`) as `to`; plain_kind(from, to)
/// must be set, and rows must hold whole blocks of `to` when quantising. `where` starts messages
/// ("FILE: tensor 'NAME'"). `imatrix` (quantising only): importance weights, one per element of a
/// row or that many per matrix of a 3-D tensor; null for none.
[[nodiscard]] std::shared_ptr<const TensorSource> plain_source(size_t tensor_idx, DType from, const std::vector<int64_t>& shape,
                                                               DType to, std::string where,
                                                               std::shared_ptr<const std::vector<float>> imatrix = {});

/// The source of a multi-tensor scheme's output: its f32 rows narrowed to `to` (a float type).
/// `row_elems` as SchemeTensor::row_elems (0: the shape's dimensions after the first).
[[nodiscard]] std::shared_ptr<const TensorSource> scheme_source(std::shared_ptr<const RowSource> rows,
                                                                const std::vector<int64_t>& shape, DType to,
                                                                uint64_t row_elems);

}  // namespace amn::stages
