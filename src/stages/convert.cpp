// convert/remember: plan the whole output first (names, dtypes, offsets), then move the data
// tensor by tensor in bounded chunks, each written at its final offset.
#include <algorithm>
#include <vector>

#include "amn/amn.hpp"
#include "formats/formats.hpp"
#include "io/output.hpp"
#include "io/tensor_data.hpp"
#include "kernels/convert.hpp"
#include "stages/plan.hpp"

namespace amn {
namespace stages {

namespace {

bool gguf_can_hold(DType type) { return info(type).gguf_id >= 0; }

}  // namespace

Plan make_plan(const Catalog& catalog, const ConvertOptions& options) {
  Plan plan;
  for (size_t tensor_idx = 0; tensor_idx < catalog.tensors.size(); ++tensor_idx) {
    const Tensor& tensor = catalog.tensors[tensor_idx];
    const std::string& file = catalog.files[catalog.storages[tensor.storage].file_index];
    PlannedTensor planned;
    planned.source = tensor_idx;
    planned.out.name = tensor.name;
    planned.out.shape = tensor.shape;
    planned.out.dtype = tensor.dtype;
    planned.transform = Transform::Copy;
    if (options.dtype && info(tensor.dtype).is_float && tensor.dtype != *options.dtype) {
      if (!kernels::can_convert(tensor.dtype, *options.dtype)) {
        fail_unsupported(file, "tensor '" + tensor.name + "': cannot convert " + std::string(info(tensor.dtype).name) +
                                   " to " + std::string(info(*options.dtype).name));
      }
      planned.out.dtype = *options.dtype;
      planned.transform = Transform::Convert;
    }
    if (is_block_type(tensor.dtype) && options.target == Target::Safetensors) {
      fail_unsupported(file, "tensor '" + tensor.name + "' is " + std::string(info(tensor.dtype).name) +
                                 ", a quantised type that safetensors cannot hold");
    }
    if (options.target == Target::Gguf && !gguf_can_hold(planned.out.dtype)) {
      fail_unsupported(file, "tensor '" + tensor.name + "' is " + std::string(info(planned.out.dtype).name) +
                                 ", which GGUF cannot hold" +
                                 (info(planned.out.dtype).is_float ? " (try --dtype bf16)" : ""));
    }
    auto elems = element_count(tensor.shape);
    auto nbytes = elems ? byte_size(planned.out.dtype, *elems) : std::nullopt;
    if (!nbytes) fail_parse(file, "tensor '" + tensor.name + "': size overflows");
    planned.out.nbytes = *nbytes;
    plan.tensors.push_back(std::move(planned));
  }
  return plan;
}

void execute_plan(const Catalog& catalog, Plan& plan, io::OutputFile& output, const ConvertOptions& options,
                  const Limits& limits) {
  io::TensorData data(catalog, limits);
  std::vector<std::byte> in_buffer;
  std::vector<std::byte> out_buffer;
  for (const auto& planned : plan.tensors) {
    const Tensor& tensor = catalog.tensors[planned.source];
    const auto& in_info = info(tensor.dtype);
    const auto& out_info = info(planned.out.dtype);
    // Chunks hold whole blocks (whole elements for plain types) so each converts on its own.
    const uint64_t unit_elems = in_info.block_elems;
    const uint64_t in_unit_bytes = in_info.block_bits / 8 == 0 ? 1 : in_info.block_bits / 8;
    const uint64_t units_per_chunk = std::max<uint64_t>(1, options.chunk_bytes / in_unit_bytes);
    const uint64_t total_units = tensor.nbytes / in_unit_bytes;
    for (uint64_t unit = 0; unit < total_units; unit += units_per_chunk) {
      uint64_t units = std::min(units_per_chunk, total_units - unit);
      uint64_t in_begin = unit * in_unit_bytes;
      uint64_t in_len = units * in_unit_bytes;
      in_buffer.resize(in_len);
      data.read(planned.source, in_begin, in_len, in_buffer.data());
      if (planned.transform == Transform::Copy) {
        output.write_at(planned.out.offset + in_begin, in_buffer.data(), in_len);
        continue;
      }
      uint64_t elems = units * unit_elems;
      uint64_t out_len = elems * out_info.block_bits / 8;
      out_buffer.resize(out_len);
      kernels::convert_elements(tensor.dtype, in_buffer.data(), elems, planned.out.dtype, out_buffer.data());
      output.write_at(planned.out.offset + unit * unit_elems * out_info.block_bits / 8, out_buffer.data(), out_len);
    }
    // Sub-byte plain types (F4, F6) pass through as whole bytes.
    if (total_units * in_unit_bytes < tensor.nbytes) {
      uint64_t rest = tensor.nbytes - total_units * in_unit_bytes;
      in_buffer.resize(rest);
      data.read(planned.source, total_units * in_unit_bytes, rest, in_buffer.data());
      output.write_at(planned.out.offset + total_units * in_unit_bytes, in_buffer.data(), rest);
    }
  }
}

}  // namespace stages

ConvertResult convert(const Catalog& catalog, const std::string& output, const ConvertOptions& options,
                      const Limits& limits) {
  for (const auto& input : catalog.files) io::refuse_same_file(input, output);
  stages::Plan plan = stages::make_plan(catalog, options);
  std::vector<formats::OutTensor> out_tensors;
  out_tensors.reserve(plan.tensors.size());
  for (const auto& planned : plan.tensors) out_tensors.push_back(planned.out);
  formats::OutLayout layout = options.target == Target::Gguf ? formats::layout_gguf(out_tensors, catalog.metadata)
                                                             : formats::layout_safetensors(out_tensors, catalog.metadata);
  for (size_t idx = 0; idx < plan.tensors.size(); ++idx) plan.tensors[idx].out.offset = out_tensors[idx].offset;

  io::OutputFile file(output, options.force);
  file.reserve(layout.file_size);
  file.write_at(0, layout.header.data(), layout.header.size());
  stages::execute_plan(catalog, plan, file, options, limits);
  file.commit();
  return ConvertResult{output, plan.tensors.size(), layout.file_size};
}

}  // namespace amn
