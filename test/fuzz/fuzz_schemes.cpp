// libFuzzer target: quantisation scheme recognition over whatever recognisers are registered,
// then the first and last row of each small output dequantised through its RowSource.
// Input: optionally 'C', a u16 length and that many bytes of config.json text, then a
// safetensors file; its catalog (validated by the reader) goes to every recogniser.
#include <cstring>
#include <span>
#include <vector>

#include "formats/formats.hpp"
#include "fuzz_common.hpp"
#include "io/tensor_data.hpp"
#include "stages/schemes/schemes.hpp"

namespace {

/// Largest row (in f32 elements) the target asks a RowSource for.
constexpr uint64_t kMaxRowElems = 1u << 16;

/// Asks each output's row source for its first and last rows, when they are small.
void dequantise_edges(const amn::Catalog& catalog, const amn::stages::SchemeMatch& match) {
  amn::io::TensorData data(catalog, amn::fuzz::limits());
  for (const auto& output : match.outputs) {
    if (!output.source) continue;
    // A row is shape[1..]; a tensor of rank <= 1 is one row.
    const bool ranked = output.shape.size() > 1;
    const uint64_t rows = ranked ? static_cast<uint64_t>(output.shape.front()) : 1;
    auto row_elems = amn::element_count(ranked ? std::span(output.shape).subspan(1) : std::span(output.shape));
    if (rows == 0 || !row_elems || *row_elems > kMaxRowElems) continue;
    std::vector<float> row(*row_elems);
    output.source->rows(data, 0, 1, row.data());
    output.source->rows(data, rows - 1, 1, row.data());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr uint8_t kConfigTag = 'C';
  constexpr size_t kConfigLengthBytes = 2;
  static amn::fuzz::MemFile file;
  std::string config;
  if (size > kConfigLengthBytes && data[0] == kConfigTag) {
    uint16_t length = 0;
    std::memcpy(&length, data + 1, kConfigLengthBytes);
    size_t available = size - 1 - kConfigLengthBytes;
    length = static_cast<uint16_t>(std::min<size_t>(length, available));
    config.assign(reinterpret_cast<const char*>(data + 1 + kConfigLengthBytes), length);
    data += 1 + kConfigLengthBytes + length;
    size -= 1 + kConfigLengthBytes + length;
  }
  const std::string& path = file.hold(data, size);
  amn::fuzz::refusals_allowed([&] {
    amn::Catalog catalog = amn::formats::read_safetensors(path, amn::fuzz::limits());
    amn::stages::SchemeContext context = amn::stages::make_scheme_context(catalog);
    context.config = config.empty() ? amn::stages::SideJson() : amn::stages::SideJson::text("config.json", config);
    dequantise_edges(catalog, amn::stages::recognise_schemes(context));
  });
  return 0;
}
