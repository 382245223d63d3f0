// The output plan of convert/remember (plan.hpp): each tensor's output dtype and the tensor
// source that writes it, and the refusals for what a target cannot hold. --quant and the encoders
// have plans of their own (gguf_plan.cpp, encoders/plan.cpp).
#include <map>
#include <string>

#include "amn/amn.hpp"
#include "stages/plan/plan.hpp"

namespace amn::stages {

PlannedTensor plan_tensor_as(const Catalog& catalog, size_t tensor_idx, std::optional<DType> to,
                             std::shared_ptr<const std::vector<float>> imatrix) {
  const Tensor& tensor = catalog.tensors[tensor_idx];
  const std::string& file = catalog.files[catalog.storages[tensor.storage].file_index];
  const std::string what = "tensor '" + tensor.name + "' is " + std::string(info(tensor.dtype).name);
  PlannedTensor planned;
  planned.source = tensor_idx;
  planned.in_dtype = tensor.dtype;
  planned.out.name = tensor.name;
  planned.out.shape = tensor.shape;
  planned.out.dtype = to.value_or(tensor.dtype);
  const std::string target = std::string(info(planned.out.dtype).name);
  if (!plain_kind(tensor.dtype, planned.out.dtype)) {
    fail_unsupported(file, what + ", which amn cannot " +
                               (is_block_type(planned.out.dtype) ? "quantise to " + target
                                : is_block_type(tensor.dtype)    ? std::string("dequantise")
                                                                 : "convert to " + target));
  }
  if (is_block_type(planned.out.dtype) && planned.out.dtype != tensor.dtype) {
    const uint64_t row = tensor.shape.empty() ? 1 : static_cast<uint64_t>(tensor.shape.back());
    if (row % info(planned.out.dtype).block_elems != 0) {
      fail_unsupported(file, what + " with rows of " + std::to_string(row) + " elements, not a multiple of " + target +
                                 "'s block of " + std::to_string(info(planned.out.dtype).block_elems));
    }
  }
  planned.producer = plain_source(tensor_idx, tensor.dtype, tensor.shape, planned.out.dtype,
                                  file + ": tensor '" + tensor.name + "'", std::move(imatrix));
  return planned;
}

void size_output(PlannedTensor& planned, const std::string& file, Target target) {
  if (target == Target::Gguf && info(planned.out.dtype).gguf_id < 0) {
    fail_unsupported(file, "tensor '" + planned.out.name + "' is " + std::string(info(planned.out.dtype).name) +
                               ", which GGUF cannot hold" + (info(planned.out.dtype).is_float ? " (try --dtype bf16)" : ""));
  }
  auto elems = element_count(planned.out.shape);
  auto nbytes = elems ? byte_size(planned.out.dtype, *elems) : std::nullopt;
  if (!nbytes) fail_parse(file, "tensor '" + planned.out.name + "': size overflows");
  planned.out.nbytes = *nbytes;
}

namespace {

/// The planned output for one input tensor that no multi-tensor scheme claims, under --dtype /
/// remember. A GGUF output narrows only what llama.cpp would quantise (gguf_float_type).
PlannedTensor plan_tensor(const Catalog& catalog, size_t tensor_idx, const ConvertOptions& options) {
  const Tensor& tensor = catalog.tensors[tensor_idx];
  if (options.target == Target::Gguf && options.dtype) {
    return plan_tensor_as(catalog, tensor_idx, gguf_float_type(catalog, tensor, *options.dtype));
  }
  if (is_block_type(tensor.dtype) && (options.dequantize || options.dtype)) {
    return plan_tensor_as(catalog, tensor_idx, options.dtype.value_or(DType::BF16));
  }
  if (is_block_type(tensor.dtype) && options.target == Target::Safetensors) {
    const std::string& file = catalog.files[catalog.storages[tensor.storage].file_index];
    fail_unsupported(file, "tensor '" + tensor.name + "' is " + std::string(info(tensor.dtype).name) +
                               ", a quantised type that safetensors cannot hold (use `amn remember`)");
  }
  if (options.dtype && info(tensor.dtype).is_float) return plan_tensor_as(catalog, tensor_idx, options.dtype);
  return plan_tensor_as(catalog, tensor_idx, std::nullopt);
}

}  // namespace

Plan make_plan(const Catalog& catalog, const ConvertOptions& options, const Limits& limits) {
  if (!options.quant.empty()) return make_quant_plan(catalog, options, limits);
  if (!options.output_tensor_type.empty() || !options.token_embedding_type.empty() || options.leave_output_tensor ||
      !options.tensor_types.empty()) {
    throw Error(ErrorCode::Usage, "--output-tensor-type, --token-embedding-type, --leave-output-tensor and "
                                  "--tensor-type choose GGUF quantisation types: they need --quant");
  }
  if (!options.encode.empty()) return make_encode_plan(catalog, options, limits);
  Plan plan;
  // remember, or convert to a float --dtype: multi-tensor schemes replace their companions by
  // one dequantised tensor each, placed where its anchor tensor was (a plain cast of FP8 codes
  // without their scales would be wrong).
  SchemeMatch match;
  if (options.dequantize || options.dtype) match = recognise_schemes(make_scheme_context(catalog, limits));
  plan.scheme = match.scheme;
  std::vector<bool> consumed(catalog.tensors.size(), false);
  for (size_t tensor_idx : match.consumed) consumed[tensor_idx] = true;
  std::map<size_t, const SchemeTensor*> anchored;
  for (const auto& output : match.outputs) anchored[output.anchor] = &output;

  for (size_t tensor_idx = 0; tensor_idx < catalog.tensors.size(); ++tensor_idx) {
    const std::string& file = catalog.files[catalog.storages[catalog.tensors[tensor_idx].storage].file_index];
    PlannedTensor planned;
    if (auto found = anchored.find(tensor_idx); found != anchored.end()) {
      planned.source = tensor_idx;
      planned.in_dtype = DType::F32;
      planned.out.name = found->second->name;
      planned.out.shape = found->second->shape;
      planned.out.dtype = options.dtype.value_or(DType::BF16);
      planned.producer =
          scheme_source(found->second->source, planned.out.shape, planned.out.dtype, found->second->row_elems);
    } else if (consumed[tensor_idx]) {
      continue;
    } else {
      planned = plan_tensor(catalog, tensor_idx, options);
    }
    size_output(planned, file, options.target);
    plan.tensors.push_back(std::move(planned));
  }
  std::vector<formats::OutTensor> written;
  for (const auto& planned : plan.tensors) written.push_back(planned.out);
  const bool retyped = options.dequantize || options.dtype.has_value();
  plan.config_edit = config_edit_for(written, retyped);
  // general.file_type names the type written, in a GGUF output and in GGUF metadata carried into
  // safetensors (a remembered Q4_K_M model is not Q4_K_M any more): --dtype, else the float type
  // holding most elements.
  const std::optional<DType> written_type = options.dtype ? options.dtype : dominant_float_type(written);
  if (retyped && written_type && (options.target == Target::Gguf || catalog.find_meta("general.file_type"))) {
    plan.gguf_updates = gguf_file_type_updates(*written_type);
  }
  plan.gguf_updates.insert(plan.gguf_updates.end(), options.gguf_kv.begin(), options.gguf_kv.end());
  return plan;
}

}  // namespace amn::stages
