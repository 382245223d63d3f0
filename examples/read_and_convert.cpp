// amn as a C++ library: open a model, list its tensors, read the first rows of one tensor as F32,
// then recover the model into BF16 safetensors with a progress callback.
//
// Usage: read_and_convert MODEL OUTPUT.safetensors [TENSOR]
//
// Output (tab-separated, one record per line):
//   model    PATH  FORMAT  TENSORS  BYTES
//   tensor   NAME  DTYPE   SHAPE (comma-separated)  BYTES
//   row      NAME  ROW     VALUES (space-separated, %.9g: exact for float32)
//   progress BYTES_DONE  BYTES_TOTAL  TENSORS_DONE  TENSORS_TOTAL
//   wrote    PATH  BYTES
//
// Build against an installed amn: c++ -std=c++20 read_and_convert.cpp $(pkg-config --cflags --libs amn)
#include <amn/amn.hpp>
#include <amn/reader.hpp>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

namespace {

/// Rows printed from the chosen tensor.
constexpr uint64_t kRowsShown = 2;

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text;
  for (int64_t dim : shape) {
    if (!text.empty()) text += ',';
    text += std::to_string(dim);
  }
  return text;
}

/// The tensor named `name`, or (name empty) the first one readable as F32.
size_t choose_tensor(const amn::TensorReader& reader, const std::string& name) {
  if (!name.empty()) {
    const auto found = reader.find(name);
    if (!found) throw amn::Error(amn::ErrorCode::Usage, "no tensor named '" + name + "'");
    return *found;
  }
  for (size_t tensor_idx = 0; tensor_idx < reader.tensors().size(); ++tensor_idx) {
    if (reader.can_read_as(tensor_idx, amn::DType::F32)) return tensor_idx;
  }
  throw amn::Error(amn::ErrorCode::Unsupported, "no tensor can be read as F32");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: %s MODEL OUTPUT.safetensors [TENSOR]\n", argv[0]);
    return 2;
  }
  const std::string model_path = argv[1];
  const std::string output = argv[2];
  try {
    // 1. Headers only: the catalog lists every tensor, its dtype, shape and where its bytes are.
    const amn::Catalog catalog = amn::open_model(model_path);
    std::printf("model\t%s\t%s\t%zu\t%" PRIu64 "\n", model_path.c_str(), amn::format_name(catalog.format),
                catalog.tensors.size(), catalog.total_bytes());
    for (const amn::Tensor& tensor : catalog.tensors) {
      std::printf("tensor\t%s\t%s\t%s\t%" PRIu64 "\n", tensor.name.c_str(), std::string(amn::info(tensor.dtype).name).c_str(),
                  shape_text(tensor.shape).c_str(), tensor.nbytes);
    }

    // 2. The first rows of one tensor, as F32 (dequantised if it is a GGUF block type), into our
    // own buffer.
    const amn::TensorReader reader(catalog);
    const size_t tensor_idx = choose_tensor(reader, argc == 4 ? argv[3] : "");
    const uint64_t rows = std::min(kRowsShown, reader.rows(tensor_idx));
    std::vector<float> values(reader.bytes_for(tensor_idx, 0, rows, amn::DType::F32) / sizeof(float));
    reader.read(tensor_idx, 0, rows, amn::DType::F32, std::as_writable_bytes(std::span(values)));
    const uint64_t row_elems = reader.row_elems(tensor_idx);
    for (uint64_t row = 0; row < rows; ++row) {
      std::printf("row\t%s\t%" PRIu64 "\t", reader.tensors()[tensor_idx].name.c_str(), row);
      for (uint64_t elem = 0; elem < row_elems; ++elem) {
        std::printf(elem == 0 ? "%.9g" : " %.9g", static_cast<double>(values[row * row_elems + elem]));
      }
      std::printf("\n");
    }

    // 3. Recover the whole model into BF16 safetensors; the callback runs on this thread while
    // the conversion streams on others (set progress.cancel to stop it).
    amn::ConvertOptions options;
    options.dequantize = true;
    options.force = true;
    const amn::ConvertResult result = amn::convert_with_progress(
        catalog, output, options,
        [](amn::Progress& progress) {
          std::printf("progress\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\n", progress.bytes_done.load(),
                      progress.bytes_total.load(), progress.tensors_done.load(), progress.tensors_total.load());
        },
        std::chrono::milliseconds(50));
    for (const amn::OutputInfo& written : result.outputs) {
      std::printf("wrote\t%s\t%" PRIu64 "\n", written.path.c_str(), written.bytes);
    }
  } catch (const amn::Error& error) {
    std::fprintf(stderr, "read_and_convert: error: %s\n", error.what());
    return 1;
  }
  return 0;
}
