// bitsandbytes encoders as transformers saves their modules. Linear4bit: X.weight (U8
// [(n + 1) / 2, 1], two codes a byte), X.weight.absmax (F32, one per block), X.weight.quant_map
// (F32 [16], the code book), X.weight.quant_state.bitsandbytes__nf4|fp4 (U8: the JSON of
// QuantState.as_dict). Linear8bitLt: P.weight (I8 [out, in]), P.SCB (F32 [out]), P.weight_format
// (U8 scalar, 0 = row-major).
#include <algorithm>
#include <cmath>
#include <array>
#include <cstring>
#include <vector>

#include "amn/error.hpp"
#include "io/display.hpp"
#include "kernels/bnb/encode.hpp"
#include "stages/encoders/encoders.hpp"

namespace amn::stages::encoders {
namespace {

namespace kb = kernels::bnb;

constexpr uint64_t kCode4Bytes = kb::kCode4Entries * sizeof(float);
constexpr size_t kFp4NegativeZero = 8;
/// The smallest magnitude float16 rounds to infinity (65504 + half an ulp).
constexpr float kF16Overflow = 65520.0f;

std::string torch_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "float32";
    case DType::F16: return "float16";
    case DType::BF16: return "bfloat16";
    default: throw std::logic_error("torch_dtype_name: not an encoder input type");
  }
}

/// The packed codes (unit: one block, blocksize / 2 bytes) or the absmax (unit: one block, 4 bytes).
class Blocks4Source final : public EncodeSource {
 public:
  Blocks4Source(WeightInput weight, kb::Code4 code, uint64_t blocksize, bool absmax)
      : weight_(std::move(weight)), code_(code), blocksize_(blocksize), absmax_(absmax) {}

  [[nodiscard]] uint64_t unit_bytes() const override { return absmax_ ? sizeof(float) : blocksize_ / 2; }
  [[nodiscard]] uint64_t scratch_bytes() const override { return blocksize_ * sizeof(float) + blocksize_; }

  void encode(io::TensorData& data, uint64_t first, uint64_t count, std::byte* dst) const override {
    const uint64_t total = weight_.rows * weight_.cols;
    const uint64_t begin = first * blocksize_;
    const uint64_t elems = std::min(total, (first + count) * blocksize_) - begin;
    thread_local std::vector<float> values;
    thread_local std::vector<float> absmax;
    values.resize(elems);
    absmax.resize((elems + blocksize_ - 1) / blocksize_);
    read_weight(data, weight_, begin, elems, values.data());
    if (absmax_) {
      kb::absmax_4bit_ref(values.data(), elems, blocksize_, absmax.data());
      std::memcpy(dst, absmax.data(), absmax.size() * sizeof(float));
    } else {
      kb::quantize_4bit_ref(code_, values.data(), elems, blocksize_, reinterpret_cast<uint8_t*>(dst), absmax.data());
    }
  }

 private:
  WeightInput weight_;
  kb::Code4 code_;
  uint64_t blocksize_;
  bool absmax_;
};

/// LLM.int8 rows (unit: one row, `cols` bytes) or their scales (unit: one row, 4 bytes).
class Int8Source final : public EncodeSource {
 public:
  Int8Source(WeightInput weight, bool scales) : weight_(std::move(weight)), scales_(scales) {}

  [[nodiscard]] uint64_t unit_bytes() const override { return scales_ ? sizeof(float) : weight_.cols; }
  [[nodiscard]] uint64_t scratch_bytes() const override { return weight_.cols * (sizeof(float) + 1); }

  void encode(io::TensorData& data, uint64_t first, uint64_t count, std::byte* dst) const override {
    count = std::min(count, weight_.rows - first);
    thread_local std::vector<float> values;
    thread_local std::vector<int8_t> codes;
    thread_local std::vector<float> scale;
    values.resize(count * weight_.cols);
    codes.resize(scales_ ? values.size() : 0);
    scale.resize(count);
    read_weight(data, weight_, first * weight_.cols, values.size(), values.data());
    for (uint64_t idx = 0; idx < values.size(); ++idx) {
      if (std::fabs(values[idx]) >= kF16Overflow) {
        throw Error(ErrorCode::Unsupported, weight_.file + ": tensor '" + io::display(weight_.name) + "' element " +
                                                std::to_string(first * weight_.cols + idx) +
                                                " overflows float16, which bnb-int8 quantises through");
      }
    }
    int8_t* out = scales_ ? codes.data() : reinterpret_cast<int8_t*>(dst);
    kb::quantize_int8_rows_ref(values.data(), count, weight_.cols, out, scale.data());
    if (scales_) std::memcpy(dst, scale.data(), count * sizeof(float));
  }

 private:
  WeightInput weight_;
  bool scales_;
};

std::vector<std::byte> text_bytes(const std::string& text) {
  std::vector<std::byte> bytes(text.size());
  std::memcpy(bytes.data(), text.data(), text.size());
  return bytes;
}

}  // namespace

std::vector<EncodedTensor> encode_bnb_4bit(const WeightInput& weight, bool nf4, uint64_t blocksize) {
  const kb::Code4 code = nf4 ? kb::Code4::Nf4 : kb::Code4::Fp4;
  const uint64_t total = weight.rows * weight.cols;
  const uint64_t blocks = (total + blocksize - 1) / blocksize;
  const std::string type = nf4 ? "nf4" : "fp4";
  // QuantState.as_dict(packed=True)'s JSON, as json.dumps writes it.
  const std::string state = "{\"quant_type\": \"" + type + "\", \"blocksize\": " + std::to_string(blocksize) +
                            ", \"dtype\": \"" + torch_dtype_name(weight.dtype) + "\", \"shape\": [" +
                            std::to_string(weight.rows) + ", " + std::to_string(weight.cols) + "]}";
  // The quant_map is bitsandbytes' get_4bit_type: as the decode table, except that FP4's code
  // 0b1000 is +0.0 there (its list writes the literal -0, an integer zero).
  std::array<float, kb::kCode4Entries> quant_map = kb::code4_table(code);
  if (!nf4) quant_map[kFp4NegativeZero] = 0.0f;
  std::vector<std::byte> code_book(kCode4Bytes);
  std::memcpy(code_book.data(), quant_map.data(), kCode4Bytes);
  std::vector<EncodedTensor> out;
  out.push_back({weight.name, DType::U8, {static_cast<int64_t>((total + 1) / 2), 1},
                 std::make_shared<Blocks4Source>(weight, code, blocksize, false)});
  out.push_back({weight.name + ".absmax", DType::F32, {static_cast<int64_t>(blocks)},
                 std::make_shared<Blocks4Source>(weight, code, blocksize, true)});
  out.push_back(constant_tensor(weight.name + ".quant_map", DType::F32, {static_cast<int64_t>(kb::kCode4Entries)},
                                std::move(code_book)));
  out.push_back(constant_tensor(weight.name + ".quant_state.bitsandbytes__" + type, DType::U8,
                                {static_cast<int64_t>(state.size())}, text_bytes(state)));
  return out;
}

std::vector<EncodedTensor> encode_bnb_int8(const WeightInput& weight) {
  const std::string module = weight.name.substr(0, weight.name.size() - std::string_view(".weight").size());
  std::vector<EncodedTensor> out;
  out.push_back({weight.name, DType::I8, {static_cast<int64_t>(weight.rows), static_cast<int64_t>(weight.cols)},
                 std::make_shared<Int8Source>(weight, false)});
  out.push_back({module + ".SCB", DType::F32, {static_cast<int64_t>(weight.rows)}, std::make_shared<Int8Source>(weight, true)});
  out.push_back(constant_tensor(module + ".weight_format", DType::U8, {}, {std::byte{0}}));
  return out;
}

std::string bnb_quantization_config(const std::string& encode, const std::vector<std::string>& skip) {
  const bool four = encode != "bnb-int8";
  const std::string yes = "true", no = "false";
  std::string skip_list = "null";
  if (!skip.empty()) {
    // transformers uses this list instead of its default (the output head): keep lm_head in it.
    skip_list = "[\"lm_head\"";
    for (const auto& part : skip) skip_list += ", " + io::json_string(part);
    skip_list += "]";
  }
  return "{\"_load_in_4bit\": " + (four ? yes : no) + ", \"_load_in_8bit\": " + (four ? no : yes) +
         ", \"bnb_4bit_compute_dtype\": \"float32\", \"bnb_4bit_quant_storage\": \"uint8\", \"bnb_4bit_quant_type\": \"" +
         (encode == "bnb-nf4" ? "nf4" : "fp4") +
         "\", \"bnb_4bit_use_double_quant\": false, \"llm_int8_enable_fp32_cpu_offload\": false, "
         "\"llm_int8_has_fp16_weight\": false, \"llm_int8_skip_modules\": " +
         skip_list + ", \"llm_int8_threshold\": 6.0, \"load_in_4bit\": " + (four ? yes : no) +
         ", \"load_in_8bit\": " + (four ? no : yes) + ", \"quant_method\": \"bitsandbytes\"}";
}

}  // namespace amn::stages::encoders
