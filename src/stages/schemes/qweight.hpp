// What GPTQ and AWQ share: `X.qweight` int32 tensors with `X.qzeros` / `X.scales` companions,
// a quantisation config (quantize_config.json, config.json "quantization_config", or the
// safetensors __metadata__), the choice of which method owns a qweight, and column reads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/display.hpp"
#include "io/tensor_data.hpp"
#include "stages/schemes/schemes.hpp"

namespace amn::stages::qweight {

/// The quantisation settings a checkpoint declares; each absent when not declared.
struct QuantConfig {
  std::string source;                  ///< where they were read, for messages ("" when nowhere)
  std::optional<std::string> method;   ///< quant_method, lower-case ("gptq", "awq", ...)
  std::optional<int64_t> bits;         ///< bits (AWQ: w_bit)
  std::optional<int64_t> group_size;   ///< group_size (AWQ: q_group_size); -1 = one group
  std::optional<bool> desc_act;        ///< GPTQ act-order
  std::optional<std::string> format;   ///< checkpoint_format / format / version, lower-case
  std::optional<std::string> pack_dtype;  ///< GPTQModel's packing word type ("int32")
  bool dynamic = false;                ///< GPTQModel per-module overrides present
};

/// Reads the first of quantize_config.json, config.json's "quantization_config", and the
/// safetensors __metadata__ keys (quant_method, bits, group_size, desc_act, checkpoint_format)
/// that exists. Malformed JSON or a field of the wrong type is a Parse error naming the file.
[[nodiscard]] QuantConfig read_config(const SchemeContext& context);

/// The methods that pack `.qweight` tensors.
enum class Method : uint8_t { Gptq, Awq };

/// The "X" of every tensor named "X.qweight", in catalog order.
[[nodiscard]] std::vector<std::string> bases(const SchemeContext& context);

/// Which method owns `base`.qweight: the config's quant_method when it names one; otherwise
/// the shapes (a g_idx, or qweight columns == scales columns: GPTQ [in × bits / 32, out];
/// qweight columns × 8 == scales columns: AWQ [in, out / 8]). A quant_method other than gptq
/// or awq is Unsupported.
[[nodiscard]] Method method_of(const SchemeContext& context, const QuantConfig& config, const std::string& base);

/// "[a, b]" for messages.
[[nodiscard]] std::string shape_text(const std::vector<int64_t>& shape);

/// One `X.qweight` layer's tensors, found and checked as GPTQ and AWQ both need them: X.qzeros
/// and X.scales present, X.qweight and X.qzeros 2-D I32 words (I8/I16/I64 words: Unsupported),
/// X.scales 2-D and F16, BF16 or F32 (another float type: Unsupported), no X.weight beside.
/// Failures are Parse errors naming the file that holds X.qweight and the tensors.
class LayerTensors {
 public:
  LayerTensors(const SchemeContext& context, const std::string& base);

  [[nodiscard]] const std::string& base() const { return base_; }
  /// The file holding X.qweight.
  [[nodiscard]] const std::string& file() const { return context_.file_of(qweight_); }
  [[nodiscard]] size_t qweight() const { return qweight_; }
  [[nodiscard]] size_t qzeros() const { return qzeros_; }
  [[nodiscard]] size_t scales() const { return scales_; }
  [[nodiscard]] const Tensor& tensor(size_t tensor_idx) const { return context_.catalog.tensors[tensor_idx]; }
  /// "tensor 'X.<suffix>'".
  [[nodiscard]] std::string name(const std::string& suffix) const { return "tensor " + io::quoted(base_ + "." + suffix); }
  /// Throws Parse: "FILE: message".
  [[noreturn]] void fail(const std::string& message) const;
  /// Throws Unsupported: "FILE: message".
  [[noreturn]] void unsupported(const std::string& message) const;

 private:
  size_t companion(const std::string& suffix) const;
  void check_words(size_t tensor_idx, const std::string& suffix) const;

  const SchemeContext& context_;
  std::string base_;
  size_t qweight_ = 0, qzeros_ = 0, scales_ = 0;
};

/// Output rows worth producing per call for a source that reads column slices (one read per
/// input row whatever the count): about 4 MiB of f32 rows of `row_elems`, at least 8.
[[nodiscard]] uint64_t column_read_rows(uint64_t row_elems);

/// Reads elements [first, first + count) of every row of 2-D tensor `tensor_idx` (`rows` rows
/// of `cols` elements of `elem_bytes` bytes) into dst, packed as [rows][count].
void read_columns(io::TensorData& data, size_t tensor_idx, uint64_t rows, uint64_t cols, uint64_t elem_bytes,
                  uint64_t first, uint64_t count, std::byte* dst);

/// Reads columns [first, first + count) of a [rows, cols] scales tensor of type `type` (F16,
/// BF16 or F32) as exact f32 values, [rows][count].
[[nodiscard]] std::vector<float> read_scales(io::TensorData& data, size_t tensor_idx, DType type, uint64_t rows,
                                             uint64_t cols, uint64_t first, uint64_t count);

}  // namespace amn::stages::qweight
