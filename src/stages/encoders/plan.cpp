// The plan of `convert --to bnb-*|fp8`: which tensors are Linear weights (transformers' rule), what
// each becomes, and the quantization_config that goes into config.json.
#include <algorithm>
#include <array>
#include <string_view>
#include <utility>
#include <vector>
#include <cmath>
#include <cstring>
#include <optional>

#include <tbb/global_control.h>
#include <tbb/parallel_for.h>

#include "amn/error.hpp"
#include "io/display.hpp"
#include "stages/encoders/encoders.hpp"
#include "stages/engine/plain_rows.hpp"
#include "stages/engine/system.hpp"

namespace amn::stages {
namespace encoders {

void read_weight(io::TensorData& data, const WeightInput& weight, uint64_t first, uint64_t count, float* dst) {
  const PlainRows source(weight.tensor_idx, weight.dtype, 1);
  if (!weight.transposed) {
    source.rows(data, first, count, dst);
  } else if (count != 0) {
    // Rows [top, bottom) of the weight are the same columns of the stored [cols, rows] tensor:
    // one contiguous read per stored row, then picked in the weight's order.
    const uint64_t top = first / weight.cols;
    const uint64_t span = (first + count - 1) / weight.cols + 1 - top;
    thread_local std::vector<float> stored;
    stored.resize(weight.cols * span);
    for (uint64_t col = 0; col < weight.cols; ++col) source.rows(data, col * weight.rows + top, span, &stored[col * span]);
    for (uint64_t idx = 0; idx < count; ++idx) {
      const uint64_t row = (first + idx) / weight.cols;
      const uint64_t col = (first + idx) % weight.cols;
      dst[idx] = stored[col * span + row - top];
    }
  }
  for (uint64_t idx = 0; idx < count; ++idx) {
    if (!std::isfinite(dst[idx])) {
      throw Error(ErrorCode::Unsupported, weight.file + ": tensor '" + io::display(weight.name) + "' element " +
                                              std::to_string(first + idx) + " is NaN or infinite; refusing to encode it");
    }
  }
}

namespace {

/// Bytes fixed at plan time.
class ConstantSource final : public EncodeSource {
 public:
  explicit ConstantSource(std::vector<std::byte> bytes) : bytes_(std::move(bytes)) {}
  [[nodiscard]] uint64_t unit_bytes() const override { return std::max<uint64_t>(bytes_.size(), 1); }
  [[nodiscard]] uint64_t scratch_bytes() const override { return 1; }
  void encode(io::TensorData&, uint64_t, uint64_t count, std::byte* dst) const override {
    if (count) std::memcpy(dst, bytes_.data(), bytes_.size());
  }

 private:
  std::vector<std::byte> bytes_;
};

}  // namespace

EncodedTensor constant_tensor(std::string name, DType dtype, std::vector<int64_t> shape, std::vector<std::byte> bytes) {
  return EncodedTensor{std::move(name), dtype, std::move(shape), std::make_shared<ConstantSource>(std::move(bytes))};
}

}  // namespace encoders

namespace {

constexpr std::string_view kWeightSuffix = ".weight";

/// transformers' rule for what its quantisers convert: nn.Linear weights, not the output head
/// (lm_head), embeddings or norms. From a checkpoint alone a Linear weight is a rank-2 float tensor
/// named `*.weight` outside those.
bool is_linear_weight(const Tensor& tensor) {
  if (tensor.shape.size() != 2 || !tensor.name.ends_with(kWeightSuffix)) return false;
  if (tensor.dtype != DType::F32 && tensor.dtype != DType::F16 && tensor.dtype != DType::BF16) return false;
  const std::string module = tensor.name.substr(0, tensor.name.size() - kWeightSuffix.size());
  for (const char* excluded : {"lm_head", "embed", "norm", "wte", "wpe"}) {
    if (module.find(excluded) != std::string::npos) return false;
  }
  return true;
}

/// Whether `module` is a sparse MoE block's expert (`X.experts.<n>.Y`) or router (`X.gate` beside
/// `X.experts.<n>`): transformers 5 holds the experts as fused 3-D parameters and the router as a
/// router module, not nn.Linear, so its quantisers leave them as they are.
bool is_moe_module(const SchemeContext& context, const std::string& module) {
  constexpr std::string_view kExperts = ".experts.";
  for (size_t at = module.find(kExperts); at != std::string::npos; at = module.find(kExperts, at + 1)) {
    const size_t digits = at + kExperts.size();
    const size_t end = module.find('.', digits);
    if (end != std::string::npos && end > digits &&
        std::all_of(module.begin() + static_cast<std::ptrdiff_t>(digits), module.begin() + static_cast<std::ptrdiff_t>(end),
                    [](char c) { return c >= '0' && c <= '9'; })) {
      return true;
    }
  }
  if (!module.ends_with(".gate")) return false;
  const std::string experts = module.substr(0, module.size() - std::string_view("gate").size()) + "experts.";
  const auto next = context.by_name.lower_bound(experts);
  return next != context.by_name.end() && next->first.starts_with(experts);
}

/// The double-quantisation statistics of every weight to encode: a first pass over each, several
/// weights at once on the run's threads (each pass holds one f32 per block of its weight).
std::vector<std::optional<encoders::NestedStats>> nested_stats(const Catalog& catalog,
                                                 const std::vector<std::optional<encoders::WeightInput>>& weights,
                                                 const ConvertOptions& options, const Limits& limits) {
  std::vector<size_t> todo;
  for (size_t tensor_idx = 0; tensor_idx < weights.size(); ++tensor_idx) {
    if (weights[tensor_idx]) todo.push_back(tensor_idx);
  }
  io::TensorData data(catalog, Limits{}.tightened(limits));
  std::vector<std::optional<encoders::NestedStats>> stats(weights.size());
  tbb::global_control parallelism(tbb::global_control::max_allowed_parallelism, choose_threads(options.threads).threads);
  tbb::parallel_for(size_t{0}, todo.size(), [&](size_t pos) {
    stats[todo[pos]] = encoders::nested_stats(data, *weights[todo[pos]], options.bnb_blocksize);
  });
  return stats;
}

}  // namespace

Plan make_encode_plan(const Catalog& catalog, const ConvertOptions& options, const Limits& limits) {
  const std::string& encode = options.encode;
  const bool bnb4 = encode == "bnb-nf4" || encode == "bnb-fp4";
  if (!bnb4 && encode != "bnb-int8" && encode != "fp8") {
    throw Error(ErrorCode::Usage, "--to " + encode + ": not an encoder (bnb-nf4, bnb-fp4, bnb-int8, fp8)");
  }
  if (options.target != Target::Safetensors || options.dtype || options.dequantize) {
    throw Error(ErrorCode::Usage, "--to " + encode + " writes safetensors and cannot be combined with --dtype");
  }
  const uint64_t blocksize = options.bnb_blocksize;
  if (bnb4 && (blocksize < 32 || blocksize > 4096 || (blocksize & (blocksize - 1)) != 0)) {
    throw Error(ErrorCode::Usage, "--blocksize " + std::to_string(blocksize) + ": bitsandbytes takes 32, 64, ..., 4096");
  }
  if (options.bnb_double_quant && !bnb4) {
    throw Error(ErrorCode::Usage, "--double-quant quantises the absmax of bnb-nf4 / bnb-fp4; --to " + encode + " has none");
  }
  const bool streamed = std::any_of(catalog.files.begin(), catalog.files.end(), [](const auto& file) { return io::is_stdin(file); });
  if (options.bnb_double_quant && streamed) {
    throw Error(ErrorCode::Usage, "--double-quant reads each weight twice (the mean of its absmax goes into the header "
                                  "first); it cannot read from standard input");
  }
  if (encode == "fp8" && options.fp8_scheme != "tensor" && options.fp8_scheme != "channel" && options.fp8_scheme != "block") {
    throw Error(ErrorCode::Usage, "--scheme " + options.fp8_scheme + ": fp8 takes tensor, channel or block");
  }
  // An input that is quantised already (the recognisers that `remember` uses say so) is refused:
  // its codes are not weights. Tensors merely named like companions (CLIP's logit_scale) stay.
  const SchemeContext context = make_scheme_context(catalog, limits);
  if (const SchemeMatch match = recognise_schemes(context); !match.scheme.empty()) {
    fail_unsupported(catalog.files.front(), "the input is already quantised (" + match.scheme +
                                                "); encode from full precision (`amn remember` it first)");
  }
  // What each tensor becomes: a weight to encode, or (nullopt) itself.
  std::vector<std::optional<encoders::WeightInput>> weights(catalog.tensors.size());
  std::vector<std::string> left;  // modules of Linear weights left unquantised
  for (size_t tensor_idx = 0; tensor_idx < catalog.tensors.size(); ++tensor_idx) {
    const Tensor& tensor = catalog.tensors[tensor_idx];
    const std::string& file = catalog.files[catalog.storages[tensor.storage].file_index];
    if (is_block_type(tensor.dtype)) {
      fail_unsupported(file, "tensor '" + io::display(tensor.name) + "' is " + std::string(info(tensor.dtype).name) +
                                 ", already quantised; encode from full precision (`amn remember` it first)");
    }
    if (!is_linear_weight(tensor)) continue;
    // Left as they are, and named one by one in quantization_config (transformers 4.x and 5.x read
    // its skip patterns differently; both take a module's full name): --skip, MoE experts and routers
    const std::string module = tensor.name.substr(0, tensor.name.size() - kWeightSuffix.size());
    if (is_moe_module(context, module) || std::any_of(options.encode_skip.begin(), options.encode_skip.end(), [&](const auto& part) {
          return module.find(part) != std::string::npos;
        })) {
      left.push_back(module);
      continue;
    }
    // A Conv1D weight: bitsandbytes gets it transposed (transformers' rule); compressed-tensors
    // quantises nn.Linear modules only, so FP8 leaves it as it is.
    const bool transposed = is_conv1d_weight(context, tensor.name);
    if (transposed && encode == "fp8") continue;
    const auto [rows, cols] = std::pair{static_cast<uint64_t>(tensor.shape[0]), static_cast<uint64_t>(tensor.shape[1])};
    weights[tensor_idx] = encoders::WeightInput{
        tensor_idx, tensor.dtype, transposed ? cols : rows, transposed ? rows : cols, file, tensor.name, transposed};
  }
  const std::vector<std::optional<encoders::NestedStats>> nested =
      options.bnb_double_quant ? nested_stats(catalog, weights, options, limits)
                               : std::vector<std::optional<encoders::NestedStats>>(weights.size());
  Plan plan;
  size_t encoded = 0;
  for (size_t tensor_idx = 0; tensor_idx < catalog.tensors.size(); ++tensor_idx) {
    const std::string& file = catalog.files[catalog.storages[catalog.tensors[tensor_idx].storage].file_index];
    if (!weights[tensor_idx]) {
      PlannedTensor planned = plan_tensor_as(catalog, tensor_idx, std::nullopt);
      size_output(planned, file, options.target);
      plan.tensors.push_back(std::move(planned));
      continue;
    }
    const encoders::WeightInput& weight = *weights[tensor_idx];
    std::vector<encoders::EncodedTensor> outputs =
        bnb4 ? encoders::encode_bnb_4bit(weight, encode == "bnb-nf4", blocksize,
                                         nested[tensor_idx] ? &*nested[tensor_idx] : nullptr)
        : encode == "bnb-int8" ? encoders::encode_bnb_int8(weight)
                               : encoders::encode_fp8(weight, options.fp8_scheme);
    for (auto& output : outputs) {
      PlannedTensor planned;
      planned.source = tensor_idx;
      planned.in_dtype = weight.dtype;
      planned.out.name = std::move(output.name);
      planned.out.dtype = output.dtype;
      planned.out.shape = std::move(output.shape);
      planned.producer = std::move(output.source);
      size_output(planned, file, options.target);
      plan.tensors.push_back(std::move(planned));
    }
    ++encoded;
  }
  if (encoded == 0) plan.warnings.push_back("no Linear weight found to encode: every tensor is copied as it is");
  const std::string config = encode == "fp8" ? encoders::fp8_quantization_config(options.fp8_scheme, left)
                                             : encoders::bnb_quantization_config(encode, options.bnb_double_quant, left);
  plan.config_edit.set.emplace_back("quantization_config", config);
  return plan;
}

}  // namespace amn::stages
