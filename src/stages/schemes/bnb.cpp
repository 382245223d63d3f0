// BitsAndBytes checkpoints as transformers saves them. 4-bit (Linear4bit): X (packed codes, two per
// byte, earlier element in the high nibble), X.absmax, X.quant_map, X.quant_state.bitsandbytes__nf4
// or __fp4 (JSON bytes: quant_type, blocksize, dtype, shape, and for double quantisation
// nested_blocksize, nested_dtype, nested_offset) and for double quantisation X.nested_absmax,
// X.nested_quant_map. INT8 (Linear8bitLt): P.weight (int8 [out, in]), P.SCB (f32 [out]),
// P.weight_format (0 = row-major).
#include <algorithm>
#include <array>
#include <bit>
#include <memory>
#include <set>
#include <string_view>

#include <rapidjson/document.h>

#include "amn/error.hpp"
#include "amn/limits.hpp"
#include "io/budget.hpp"
#include "io/display.hpp"
#include "io/json.hpp"
#include "kernels/bnb/bnb.hpp"
#include "stages/schemes/recognisers.hpp"

namespace amn::stages {
namespace {

namespace kb = kernels::bnb;

static_assert(std::endian::native == std::endian::little, "companion floats are read as host floats");

constexpr std::string_view kQuantStateMarker = ".quant_state.bitsandbytes__";
constexpr std::string_view kScbSuffix = ".SCB";
constexpr uint64_t kMaxQuantStateBytes = 16u << 10;
/// bitsandbytes' dequantize_4bit accepts these block sizes (powers of two).
constexpr uint64_t kMinBlocksize = 32;
constexpr uint64_t kMaxBlocksize = 4096;
/// Its dequantize_blockwise (the nested absmax) accepts 64..4096 on CUDA.
constexpr uint64_t kMinNestedBlocksize = 64;
/// LLM.int8 weight_format values (bitsandbytes LINEAR_8BIT_WEIGHTS_FORMAT_MAPPING): only row.
constexpr uint64_t kRowMajorFormat = 0;

/// Everything the 4-bit row source needs, validated.
struct Layout4 {
  kb::Code4 code = kb::Code4::Nf4;
  uint64_t row_elems = 1;
  uint64_t blocksize = 0;
  size_t packed = 0;
  size_t absmax = 0;
  bool nested = false;
  size_t nested_absmax = 0;
  uint64_t nested_blocksize = 0;
  float nested_offset = 0.0f;
  std::array<float, kb::kCode8Entries> code8{};
};

uint64_t ceil_div(uint64_t value, uint64_t divisor) { return value / divisor + (value % divisor != 0); }

/// Reads `count` little-endian f32 values from tensor `tensor_idx` starting at element `first`.
std::vector<float> read_floats(io::TensorData& data, size_t tensor_idx, uint64_t first, uint64_t count) {
  std::vector<float> values(count);
  data.read(tensor_idx, first * sizeof(float), count * sizeof(float), reinterpret_cast<std::byte*>(values.data()));
  return values;
}

/// Reads `count` bytes of tensor `tensor_idx` starting at byte `first`.
std::vector<uint8_t> read_bytes(io::TensorData& data, size_t tensor_idx, uint64_t first, uint64_t count) {
  std::vector<uint8_t> bytes(count);
  data.read(tensor_idx, first, count, reinterpret_cast<std::byte*>(bytes.data()));
  return bytes;
}

/// Rows of a 4-bit weight: the packed bytes, absmax (and nested absmax) of just those rows.
class Rows4 final : public RowSource {
 public:
  explicit Rows4(Layout4 layout) : layout_(layout) {}

  void rows(io::TensorData& data, uint64_t first, uint64_t count, float* dst) const override {
    const uint64_t elem_begin = first * layout_.row_elems;
    const uint64_t elem_count = count * layout_.row_elems;
    if (elem_count == 0) return;
    const uint64_t elem_end = elem_begin + elem_count;
    const uint64_t byte_begin = elem_begin / 2;
    const auto packed = read_bytes(data, layout_.packed, byte_begin, ceil_div(elem_end, 2) - byte_begin);
    const uint64_t block_begin = elem_begin / layout_.blocksize;
    const auto absmax = read_absmax(data, block_begin, ceil_div(elem_end, layout_.blocksize) - block_begin);
    kb::dequant_4bit_ref(layout_.code, packed.data(), elem_begin, elem_count, absmax.data(), layout_.blocksize, dst);
  }

 private:
  std::vector<float> read_absmax(io::TensorData& data, uint64_t first, uint64_t count) const {
    if (!layout_.nested) return read_floats(data, layout_.absmax, first, count);
    const auto codes = read_bytes(data, layout_.absmax, first, count);
    const uint64_t nested_begin = first / layout_.nested_blocksize;
    const uint64_t nested_end = ceil_div(first + count, layout_.nested_blocksize);
    const auto nested = read_floats(data, layout_.nested_absmax, nested_begin, nested_end - nested_begin);
    std::vector<float> absmax(count);
    kb::dequant_nested_absmax_ref(codes.data(), first, count, layout_.code8.data(), nested.data(),
                                  layout_.nested_blocksize, layout_.nested_offset, absmax.data());
    return absmax;
  }

  Layout4 layout_;
};

/// Rows of an LLM.int8 weight and their scales.
class RowsInt8 final : public RowSource {
 public:
  RowsInt8(size_t weight, size_t scales, uint64_t cols) : weight_(weight), scales_(scales), cols_(cols) {}

  void rows(io::TensorData& data, uint64_t first, uint64_t count, float* dst) const override {
    if (count == 0 || cols_ == 0) return;
    std::vector<int8_t> quantised(count * cols_);
    data.read(weight_, first * cols_, count * cols_, reinterpret_cast<std::byte*>(quantised.data()));
    const auto scales = read_floats(data, scales_, first, count);
    kb::dequant_int8_rows_ref(quantised.data(), scales.data(), count, cols_, dst);
  }

 private:
  size_t weight_;
  size_t scales_;
  uint64_t cols_;
};

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t dim = 0; dim < shape.size(); ++dim) text += (dim ? ", " : "") + std::to_string(shape[dim]);
  return text + "]";
}

/// What the quant_state JSON says.
struct QuantState {
  uint64_t blocksize = 0;
  std::vector<int64_t> shape;
  bool nested = false;
  uint64_t nested_blocksize = 0;
  float nested_offset = 0.0f;
};

/// Recognises the BitsAndBytes tensors of one catalog; one instance per recognise_bnb call.
class BnbFinder {
 public:
  explicit BnbFinder(const SchemeContext& context) : context_(context) {}

  std::optional<SchemeMatch> run() {
    const auto& tensors = context_.catalog.tensors;
    for (size_t tensor_idx = 0; tensor_idx < tensors.size(); ++tensor_idx) {
      const std::string& name = tensors[tensor_idx].name;
      if (size_t marker = name.rfind(kQuantStateMarker); marker != std::string::npos) {
        add_4bit(tensor_idx, name.substr(0, marker), name.substr(marker + kQuantStateMarker.size()));
      } else if (name.ends_with(kScbSuffix)) {
        add_int8(tensor_idx, name.substr(0, name.size() - kScbSuffix.size()));
      }
    }
    check_orphans();
    if (match_.outputs.empty()) return std::nullopt;
    for (const auto& kind : kinds_) match_.scheme += (match_.scheme.empty() ? "BitsAndBytes " : ", ") + kind;
    return std::move(match_);
  }

 private:
  const std::string& name(size_t tensor_idx) const { return context_.catalog.tensors[tensor_idx].name; }
  const Tensor& tensor(size_t tensor_idx) const { return context_.catalog.tensors[tensor_idx]; }

  [[noreturn]] void parse_error(size_t tensor_idx, const std::string& what) const {
    fail_parse(context_.file_of(tensor_idx), "tensor " + io::quoted(name(tensor_idx)) + ": " + what);
  }
  [[noreturn]] void unsupported(size_t tensor_idx, const std::string& what) const {
    fail_unsupported(context_.file_of(tensor_idx), "tensor " + io::quoted(name(tensor_idx)) + ": " + what);
  }

  io::TensorData& data() { return context_.data(); }

  /// The companion `base + suffix`; a parse error naming `owner` when it is missing.
  size_t companion(size_t owner, const std::string& companion_name) const {
    auto found = context_.find(companion_name);
    if (!found) parse_error(owner, "its companion " + io::quoted(companion_name) + " is missing");
    return *found;
  }

  /// A rank-1 tensor of `dtype` with `count` elements, else an error naming it; `why` says what
  /// sets the count (naming the tensor that does).
  void expect_vector(size_t tensor_idx, DType dtype, uint64_t count, const std::string& why) const {
    const Tensor& companion_tensor = tensor(tensor_idx);
    if (companion_tensor.dtype != dtype) {
      unsupported(tensor_idx, "is " + std::string(info(companion_tensor.dtype).name) + ", BitsAndBytes stores " +
                                  std::string(info(dtype).name) + " here");
    }
    if (companion_tensor.shape.size() != 1 || static_cast<uint64_t>(companion_tensor.shape[0]) != count) {
      parse_error(tensor_idx, "has shape " + shape_text(companion_tensor.shape) + ", expected [" + std::to_string(count) +
                                  "] (" + why + ")");
    }
  }

  QuantState parse_quant_state(size_t state_idx, const std::string& suffix) {
    const Tensor& state_tensor = tensor(state_idx);
    if (state_tensor.dtype != DType::U8 || state_tensor.shape.size() != 1) {
      parse_error(state_idx, "quant_state must be a 1-d U8 tensor of JSON bytes, found " +
                                 std::string(info(state_tensor.dtype).name) + " " + shape_text(state_tensor.shape));
    }
    if (state_tensor.nbytes > kMaxQuantStateBytes) {
      fail_limit(context_.file_of(state_idx), "tensor " + io::quoted(name(state_idx)) + ": quant_state JSON larger than 16 KiB");
    }
    io::HeapBudget budget(context_.limits);
    const auto bytes = data().read_all(state_idx);
    const rapidjson::Document doc =
        io::parse_json(context_.file_of(state_idx), {reinterpret_cast<const char*>(bytes.data()), bytes.size()},
                       "tensor " + io::quoted(name(state_idx)) + ": quant_state JSON");
    if (!doc.IsObject()) parse_error(state_idx, "quant_state JSON is not an object");

    static const std::set<std::string> kKnownKeys = {"quant_type", "blocksize", "dtype", "shape",
                                                     "nested_blocksize", "nested_dtype", "nested_offset"};
    std::set<std::string> seen;
    for (const auto& member : doc.GetObject()) {
      std::string key(member.name.GetString(), member.name.GetStringLength());
      if (!kKnownKeys.contains(key)) parse_error(state_idx, "quant_state JSON has an unknown key " + io::quoted(key));
      if (!seen.insert(key).second) parse_error(state_idx, "quant_state JSON repeats the key " + io::quoted(key));
    }
    auto field = [&](const char* key) -> const rapidjson::Value& {
      auto found = doc.FindMember(key);
      if (found == doc.MemberEnd()) parse_error(state_idx, std::string("quant_state JSON has no '") + key + "'");
      return found->value;
    };
    auto block_size = [&](const char* key, uint64_t smallest) {
      const auto& value = field(key);
      if (!value.IsUint64() || !std::has_single_bit(value.GetUint64()) || value.GetUint64() < smallest ||
          value.GetUint64() > kMaxBlocksize) {
        parse_error(state_idx, std::string("quant_state ") + key + " must be a power of two from " +
                                   std::to_string(smallest) + " to " + std::to_string(kMaxBlocksize));
      }
      return value.GetUint64();
    };

    QuantState state;
    const auto& quant_type = field("quant_type");
    if (!quant_type.IsString() || std::string(quant_type.GetString(), quant_type.GetStringLength()) != suffix) {
      parse_error(state_idx, "quant_state quant_type does not match the tensor name's " + io::quoted(suffix));
    }
    state.blocksize = block_size("blocksize", kMinBlocksize);
    const auto& dtype = field("dtype");
    if (!dtype.IsString()) parse_error(state_idx, "quant_state dtype is not a string");
    const std::string dtype_name(dtype.GetString(), dtype.GetStringLength());
    if (dtype_name != "bfloat16" && dtype_name != "float16" && dtype_name != "float32") {
      unsupported(state_idx, "quant_state dtype " + io::quoted(dtype_name) + " (bitsandbytes handles bfloat16, float16, float32)");
    }
    const auto& shape = field("shape");
    if (!shape.IsArray() || shape.Size() > Limits{}.max_dims) {
      parse_error(state_idx, "quant_state shape is not an array of at most " + std::to_string(Limits{}.max_dims) + " dims");
    }
    for (const auto& dim : shape.GetArray()) {
      if (!dim.IsInt64() || dim.GetInt64() < 0) parse_error(state_idx, "quant_state shape has a dim that is not a non-negative integer");
      state.shape.push_back(dim.GetInt64());
    }
    state.nested = seen.contains("nested_blocksize") || seen.contains("nested_dtype") || seen.contains("nested_offset");
    if (state.nested) {
      state.nested_blocksize = block_size("nested_blocksize", kMinNestedBlocksize);
      const auto& nested_dtype = field("nested_dtype");
      if (!nested_dtype.IsString() || std::string_view(nested_dtype.GetString(), nested_dtype.GetStringLength()) != "float32") {
        unsupported(state_idx, "quant_state nested_dtype is not 'float32'");
      }
      const auto& offset = field("nested_offset");
      if (!offset.IsNumber()) parse_error(state_idx, "quant_state nested_offset is not a number");
      state.nested_offset = static_cast<float>(offset.GetDouble());  // the f32 torch.tensor(float(...)) holds
    }
    return state;
  }

  /// The quant_map must be the code book bitsandbytes decodes with (its kernels never read it).
  void check_quant_map(size_t map_idx, kb::Code4 code) {
    expect_vector(map_idx, DType::F32, kb::kCode4Entries, "one entry per 4-bit code");
    const auto values = read_floats(data(), map_idx, 0, kb::kCode4Entries);
    const auto& table = kb::code4_table(code);
    for (size_t entry = 0; entry < kb::kCode4Entries; ++entry) {
      if (values[entry] != table[entry]) {
        unsupported(map_idx, "entry " + std::to_string(entry) + " differs from bitsandbytes' " +
                                 (code == kb::Code4::Nf4 ? "NF4" : "FP4") + " code book");
      }
    }
  }

  void add_4bit(size_t state_idx, const std::string& base, const std::string& suffix) {
    kb::Code4 code;
    if (suffix == "nf4") {
      code = kb::Code4::Nf4;
    } else if (suffix == "fp4") {
      code = kb::Code4::Fp4;
    } else {
      unsupported(state_idx, "BitsAndBytes quant type " + io::quoted(suffix) + " (amn handles nf4 and fp4)");
    }
    const std::string other = base + std::string(kQuantStateMarker) + (code == kb::Code4::Nf4 ? "fp4" : "nf4");
    if (context_.find(other)) parse_error(state_idx, io::quoted(base) + " has a second quant_state, " + io::quoted(other));
    const size_t packed = companion(state_idx, base);
    QuantState state = parse_quant_state(state_idx, suffix);
    const std::string state_text = io::quoted(name(state_idx)) + " (shape " + shape_text(state.shape) + ", blocksize " +
                                   std::to_string(state.blocksize) + ")";

    auto elements = element_count(state.shape);
    if (!elements) parse_error(state_idx, "quant_state shape " + shape_text(state.shape) + " overflows");
    const Tensor& packed_tensor = tensor(packed);
    if (is_block_type(packed_tensor.dtype) || packed_tensor.nbytes != ceil_div(*elements, 2)) {
      parse_error(packed, "holds " + std::to_string(packed_tensor.nbytes) + " bytes but " + state_text + " needs " +
                              std::to_string(ceil_div(*elements, 2)) + " (two 4-bit codes per byte)");
    }
    const uint64_t blocks = ceil_div(*elements, state.blocksize);

    Layout4 layout;
    layout.code = code;
    layout.blocksize = state.blocksize;
    layout.packed = packed;
    layout.absmax = companion(state_idx, base + ".absmax");
    const size_t quant_map = companion(state_idx, base + ".quant_map");
    check_quant_map(quant_map, code);
    std::vector<size_t> consumed = {packed, state_idx, layout.absmax, quant_map};

    auto nested_absmax = context_.find(base + ".nested_absmax");
    auto nested_map = context_.find(base + ".nested_quant_map");
    if (!state.nested && (nested_absmax || nested_map)) {
      parse_error(nested_absmax ? *nested_absmax : *nested_map, "double-quantisation companion but " + io::quoted(name(state_idx)) +
                                                                     " has no nested_blocksize/nested_offset");
    }
    if (state.nested) {
      layout.nested = true;
      layout.nested_blocksize = state.nested_blocksize;
      layout.nested_offset = state.nested_offset;
      layout.nested_absmax = companion(state_idx, base + ".nested_absmax");
      const size_t map_idx = companion(state_idx, base + ".nested_quant_map");
      expect_vector(layout.absmax, DType::U8, blocks, "one 8-bit absmax code per block of " + state_text);
      expect_vector(layout.nested_absmax, DType::F32, ceil_div(blocks, state.nested_blocksize),
                    "one per " + std::to_string(state.nested_blocksize) + " of the " + std::to_string(blocks) +
                        " absmax codes of " + state_text);
      expect_vector(map_idx, DType::F32, kb::kCode8Entries, "one entry per 8-bit code");
      const auto code8 = read_floats(data(), map_idx, 0, kb::kCode8Entries);
      std::copy(code8.begin(), code8.end(), layout.code8.begin());
      consumed.push_back(layout.nested_absmax);
      consumed.push_back(map_idx);
    } else {
      expect_vector(layout.absmax, DType::F32, blocks, "one absmax per block of " + state_text);
    }
    for (size_t dim = 1; dim < state.shape.size(); ++dim) layout.row_elems *= static_cast<uint64_t>(state.shape[dim]);

    claim(consumed, state_idx);
    kinds_.insert(std::string(code == kb::Code4::Nf4 ? "NF4" : "FP4") + (state.nested ? " double-quant" : ""));
    match_.outputs.push_back({base, state.shape, packed, std::make_shared<Rows4>(layout)});
  }

  void add_int8(size_t scales, const std::string& prefix) {
    const size_t weight = companion(scales, prefix + ".weight");
    const Tensor& weight_tensor = tensor(weight);
    if (weight_tensor.dtype != DType::I8 || weight_tensor.shape.size() != 2) {
      parse_error(weight, "is " + std::string(info(weight_tensor.dtype).name) + " " + shape_text(weight_tensor.shape) +
                              "; LLM.int8 weights beside " + io::quoted(name(scales)) + " are 2-d I8");
    }
    expect_vector(scales, DType::F32, static_cast<uint64_t>(weight_tensor.shape[0]),
                  "one scale per row of " + io::quoted(name(weight)) + " " + shape_text(weight_tensor.shape));
    std::vector<size_t> consumed = {weight, scales};
    if (auto format = context_.find(prefix + ".weight_format")) {
      const Tensor& format_tensor = tensor(*format);
      auto elements = element_count(format_tensor.shape);
      if (format_tensor.dtype != DType::U8 || !elements || *elements != 1) {
        parse_error(*format, "weight_format must be one U8 value, found " + std::string(info(format_tensor.dtype).name) +
                                 " " + shape_text(format_tensor.shape));
      }
      const uint64_t value = read_bytes(data(), *format, 0, 1)[0];
      if (value != kRowMajorFormat) {
        unsupported(*format, "weight_format " + std::to_string(value) + " (amn handles 0, row-major)");
      }
      consumed.push_back(*format);
    }
    claim(consumed, scales);
    kinds_.insert("INT8");
    match_.outputs.push_back({prefix + ".weight", weight_tensor.shape, weight,
                              std::make_shared<RowsInt8>(weight, scales, static_cast<uint64_t>(weight_tensor.shape[1]))});
  }

  /// Marks `tensors` as consumed by the weight that `owner` describes; a tensor two weights use
  /// (say a weight that is both 4-bit and INT8) is an error.
  void claim(const std::vector<size_t>& tensors, size_t owner) {
    for (size_t tensor_idx : tensors) {
      if (!claimed_.insert(tensor_idx).second) {
        parse_error(tensor_idx, "is used by two BitsAndBytes weights (again by " + io::quoted(name(owner)) + ")");
      }
    }
    match_.consumed.insert(match_.consumed.end(), tensors.begin(), tensors.end());
  }

  /// 4-bit companions whose quant_state is missing would otherwise pass through silently.
  void check_orphans() const {
    static constexpr std::array<std::string_view, 4> kSuffixes = {".absmax", ".quant_map", ".nested_absmax",
                                                                  ".nested_quant_map"};
    for (size_t tensor_idx = 0; tensor_idx < context_.catalog.tensors.size(); ++tensor_idx) {
      if (claimed_.contains(tensor_idx)) continue;
      for (std::string_view suffix : kSuffixes) {
        const std::string& tensor_name = name(tensor_idx);
        if (!tensor_name.ends_with(suffix)) continue;
        std::string base = tensor_name.substr(0, tensor_name.size() - suffix.size());
        if (context_.find(base)) {
          parse_error(tensor_idx, "looks like a BitsAndBytes 4-bit companion of " + io::quoted(base) + " but " +
                                      io::quoted(base + std::string(kQuantStateMarker) + "nf4") + " (or fp4) is missing");
        }
      }
    }
  }

  const SchemeContext& context_;
  SchemeMatch match_;
  std::set<size_t> claimed_;
  std::set<std::string> kinds_;
};

}  // namespace

std::optional<SchemeMatch> recognise_bnb(const SchemeContext& context) { return BnbFinder(context).run(); }

}  // namespace amn::stages
