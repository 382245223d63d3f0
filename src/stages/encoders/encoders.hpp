// Encoders into Hugging Face quantised layouts (bitsandbytes as transformers saves it, FP8 as
// compressed-tensors writes it): each Linear weight becomes its encoded tensors, each one an
// EncodeSource streaming through the engine.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "amn/catalog.hpp"
#include "io/tensor_data.hpp"
#include "stages/plan/plan.hpp"

namespace amn::stages::encoders {

/// An encoder's output tensor (a packed weight, its absmax, its scales...): a TensorSource that
/// encodes units [first, first + count) itself, with its own working memory. One input tensor
/// may feed several (weight + companions).
class EncodeSource : public TensorSource {
 public:
  void units(io::TensorData& data, uint64_t first, uint64_t count, std::byte* dst, SourceScratch&) const final {
    encode(data, first, count, dst);
  }
  [[nodiscard]] SourceKind kind() const final { return SourceKind::Encoded; }

 protected:
  /// Writes units [first, first + count) into dst (the tensor's last unit may be cut short).
  virtual void encode(io::TensorData& data, uint64_t first, uint64_t count, std::byte* dst) const = 0;
};

/// One output tensor of an encoded weight.
struct EncodedTensor {
  std::string name;
  DType dtype = DType::U8;
  std::vector<int64_t> shape;
  std::shared_ptr<const EncodeSource> source;
};

/// The input weight an encoder reads: a rank-2 F32/F16/BF16 tensor, as nn.Linear holds it.
struct WeightInput {
  size_t tensor_idx = 0;
  DType dtype = DType::F32;
  uint64_t rows = 0;
  uint64_t cols = 0;
  std::string file;  ///< for messages
  std::string name;
  /// A Conv1D weight (GPT-2's), stored [cols, rows]: read transposed, as transformers transposes
  /// it before quantising.
  bool transposed = false;
};

/// Elements [first, first + count) of the weight (flat, row-major, [rows, cols]) as f32, refusing a NaN or an
/// infinity (naming file, tensor and element) since no library encodes them meaningfully.
void read_weight(io::TensorData& data, const WeightInput& weight, uint64_t first, uint64_t count, float* dst);

/// A tensor whose bytes are fixed at plan time (quant_map, quant_state JSON, weight_format).
[[nodiscard]] EncodedTensor constant_tensor(std::string name, DType dtype, std::vector<int64_t> shape,
                                            std::vector<std::byte> bytes);

/// What double quantisation knows of a weight after a first pass over it: the offset (torch's mean
/// of all its block absmax, summed as torch does with its default threads) and the absmax of each
/// nested block of 256 (absmax - offset) values.
struct NestedStats {
  float offset = 0.0f;
  std::vector<float> nested_absmax;
};
[[nodiscard]] NestedStats nested_stats(io::TensorData& data, const WeightInput& weight, uint64_t blocksize);

/// bnb-nf4 / bnb-fp4 (`nf4` true / false): X.weight, .absmax, .quant_map, .quant_state.bitsandbytes__*;
/// double-quantised when `nested` is set: .absmax as U8 codes, plus .nested_absmax and
/// .nested_quant_map.
[[nodiscard]] std::vector<EncodedTensor> encode_bnb_4bit(const WeightInput& weight, bool nf4, uint64_t blocksize,
                                                         const NestedStats* nested);
/// bnb-int8: X.weight (I8), X.SCB, X.weight_format, for weight name "X.weight".
[[nodiscard]] std::vector<EncodedTensor> encode_bnb_int8(const WeightInput& weight);
/// transformers' BitsAndBytesConfig as save_pretrained writes it (JSON text); `skip`: the full
/// names of the Linear modules left unquantised (lm_head is added).
[[nodiscard]] std::string bnb_quantization_config(const std::string& encode, bool double_quant,
                                                  const std::vector<std::string>& skip);

/// fp8 (`scheme` tensor / channel / block): X.weight (F8_E4M3) and X.weight_scale (the weight's dtype).
[[nodiscard]] std::vector<EncodedTensor> encode_fp8(const WeightInput& weight, const std::string& scheme);
/// compressed-tensors' QuantizationConfig for those weights (JSON text); `skip` as for bnb.
[[nodiscard]] std::string fp8_quantization_config(const std::string& scheme, const std::vector<std::string>& skip);

}  // namespace amn::stages::encoders
