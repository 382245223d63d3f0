// bitsandbytes encoders as transformers saves their modules. Linear4bit: X.weight (U8
// [(n + 1) / 2, 1], two codes a byte), X.weight.absmax (F32, one per block), X.weight.quant_map
// (F32 [16], the code book), X.weight.quant_state.bitsandbytes__nf4|fp4 (U8: the JSON of
// QuantState.as_dict); double-quantised, X.weight.absmax becomes U8 codes of (absmax - their
// mean) in blocks of 256 with X.weight.nested_absmax (F32, one per 256) and
// X.weight.nested_quant_map (F32 [256], the dynamic map), the mean going into the JSON as
// nested_offset. Linear8bitLt: P.weight (I8 [out, in]), P.SCB (F32 [out]), P.weight_format (U8
// scalar, 0 = row-major).
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string_view>
#include <thread>
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
/// Absmax values per nested block of double quantisation (bitsandbytes' fixed 256).
constexpr uint64_t kNestedBlock = 256;
/// Elements read at a time by the plan-time absmax pass (a multiple of every block size).
constexpr uint64_t kPassElems = 64 * 4096;
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

/// The weight's block absmax values, `count` blocks from block `first`, read from the weight.
void read_absmax(io::TensorData& data, const WeightInput& weight, uint64_t blocksize, uint64_t first, uint64_t count,
                 std::vector<float>& values, float* absmax) {
  const uint64_t total = weight.rows * weight.cols;
  const uint64_t begin = first * blocksize;
  const uint64_t elems = std::min(total, (first + count) * blocksize) - begin;
  values.resize(elems);
  read_weight(data, weight, begin, elems, values.data());
  kb::absmax_4bit_ref(values.data(), elems, blocksize, absmax);
}

/// The codes of a double-quantised absmax (unit: one nested block of 256 absmax values, 256
/// bytes): (absmax - offset) as bitsandbytes' quantize_blockwise codes it, from the weight.
class NestedCodesSource final : public EncodeSource {
 public:
  NestedCodesSource(WeightInput weight, uint64_t blocksize, float offset)
      : weight_(std::move(weight)), blocksize_(blocksize), offset_(offset) {}

  [[nodiscard]] uint64_t unit_bytes() const override { return kNestedBlock; }
  [[nodiscard]] uint64_t scratch_bytes() const override {
    return kNestedBlock * (blocksize_ * sizeof(float) + sizeof(float) + 1);
  }

  void encode(io::TensorData& data, uint64_t first, uint64_t count, std::byte* dst) const override {
    const uint64_t blocks = (weight_.rows * weight_.cols + blocksize_ - 1) / blocksize_;
    const uint64_t begin = first * kNestedBlock;
    const uint64_t absmax_count = std::min(blocks, (first + count) * kNestedBlock) - begin;
    thread_local std::vector<float> values;
    thread_local std::vector<float> absmax;
    thread_local std::vector<float> nested;
    absmax.resize(absmax_count);
    nested.resize((absmax_count + kNestedBlock - 1) / kNestedBlock);
    read_absmax(data, weight_, blocksize_, begin, absmax_count, values, absmax.data());
    for (float& value : absmax) value -= offset_;
    kb::quantize_blockwise_8bit_ref(absmax.data(), absmax_count, kNestedBlock, reinterpret_cast<uint8_t*>(dst),
                                    nested.data());
  }

 private:
  WeightInput weight_;
  uint64_t blocksize_;
  float offset_;
};

/// torch's intra-op thread count, as it picks it by default: OMP_NUM_THREADS, then
/// MKL_NUM_THREADS (the later wins), else the machine's physical cores (cores, not hyperthreads,
/// as cpuinfo counts them). The double-quantisation offset is a torch mean, whose sum order
/// depends on it for vectors of 32768 or more absmax values.
unsigned torch_threads() {
  unsigned threads = 0;
  for (const char* name : {"OMP_NUM_THREADS", "MKL_NUM_THREADS"}) {
    const char* text = std::getenv(name);
    unsigned value = 0;
    if (text != nullptr && std::from_chars(text, text + std::strlen(text), value).ec == std::errc{} && value > 0) {
      threads = value;
    }
  }
  if (threads > 0) return threads;
  namespace fs = std::filesystem;
  std::set<std::string> cores;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/sys/devices/system/cpu", error)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with("cpu") || name.size() == 3 || name.find_first_not_of("0123456789", 3) != std::string::npos) {
      continue;
    }
    std::ifstream siblings(entry.path() / "topology" / "thread_siblings_list");
    std::string list;
    if (std::getline(siblings, list)) cores.insert(list);
  }
  if (!cores.empty()) return static_cast<unsigned>(cores.size());
  return std::max(1u, std::thread::hardware_concurrency());
}

/// Python's repr of a float (shortest round trip; fixed notation for exponents -4..15, else
/// d.ddde±XX), which json.dumps writes for nested_offset (offset.item(), a float32 widened).
std::string python_float(double value) {
  std::array<char, 32> buffer{};
  const auto end = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value, std::chars_format::scientific).ptr;
  const std::string_view text(buffer.data(), static_cast<size_t>(end - buffer.data()));
  const size_t mark = text.find('e');
  const bool negative = text.front() == '-';
  std::string digits(text.substr(negative ? 1 : 0, mark - (negative ? 1 : 0)));
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  int exponent = 0;
  std::from_chars(text.data() + mark + 1 + (text[mark + 1] == '+' ? 1 : 0), text.data() + text.size(), exponent);
  std::string out = negative ? "-" : "";
  if (exponent < -4 || exponent >= 16) {
    out.append(digits, 0, 1);
    if (digits.size() > 1) out.append(".").append(digits, 1);
    out.append(exponent < 0 ? "e-" : "e+");
    if (std::abs(exponent) < 10) out.append("0");
    out.append(std::to_string(std::abs(exponent)));
  } else if (exponent < 0) {
    out.append("0.").append(static_cast<size_t>(-exponent - 1), '0').append(digits);
  } else {
    const auto whole = static_cast<size_t>(exponent) + 1;
    if (digits.size() <= whole) {
      out.append(digits).append(whole - digits.size(), '0').append(".0");
    } else {
      out.append(digits, 0, whole).append(".").append(digits, whole);
    }
  }
  return out;
}

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

NestedStats nested_stats(io::TensorData& data, const WeightInput& weight, uint64_t blocksize) {
  const uint64_t total = weight.rows * weight.cols;
  const uint64_t blocks = (total + blocksize - 1) / blocksize;
  std::vector<float> absmax(blocks);
  std::vector<float> values;
  const uint64_t pass_blocks = kPassElems / blocksize;
  for (uint64_t block = 0; block < blocks; block += pass_blocks) {
    read_absmax(data, weight, blocksize, block, std::min(pass_blocks, blocks - block), values, absmax.data() + block);
  }
  static const unsigned kThreads = torch_threads();
  NestedStats stats;
  stats.offset = kb::torch_mean(absmax.data(), blocks, kThreads);
  for (float& value : absmax) value -= stats.offset;
  std::vector<uint8_t> codes(blocks);
  stats.nested_absmax.resize((blocks + kNestedBlock - 1) / kNestedBlock);
  kb::quantize_blockwise_8bit_ref(absmax.data(), blocks, kNestedBlock, codes.data(), stats.nested_absmax.data());
  return stats;
}

std::vector<EncodedTensor> encode_bnb_4bit(const WeightInput& weight, bool nf4, uint64_t blocksize,
                                           const NestedStats* nested) {
  const kb::Code4 code = nf4 ? kb::Code4::Nf4 : kb::Code4::Fp4;
  const uint64_t total = weight.rows * weight.cols;
  const uint64_t blocks = (total + blocksize - 1) / blocksize;
  const std::string type = nf4 ? "nf4" : "fp4";
  // QuantState.as_dict(packed=True)'s JSON, as json.dumps writes it.
  std::string state = "{\"quant_type\": \"" + type + "\", \"blocksize\": " + std::to_string(blocksize) +
                      ", \"dtype\": \"" + torch_dtype_name(weight.dtype) + "\", \"shape\": [" +
                      std::to_string(weight.rows) + ", " + std::to_string(weight.cols) + "]";
  if (nested != nullptr) {
    state += ", \"nested_blocksize\": " + std::to_string(kNestedBlock) +
             ", \"nested_dtype\": \"float32\", \"nested_offset\": " + python_float(nested->offset);
  }
  state += "}";
  // The quant_map is bitsandbytes' get_4bit_type: as the decode table, except that FP4's code
  // 0b1000 is +0.0 there (its list writes the literal -0, an integer zero).
  std::array<float, kb::kCode4Entries> quant_map = kb::code4_table(code);
  if (!nf4) quant_map[kFp4NegativeZero] = 0.0f;
  std::vector<std::byte> code_book(kCode4Bytes);
  std::memcpy(code_book.data(), quant_map.data(), kCode4Bytes);
  std::vector<EncodedTensor> out;
  out.push_back({weight.name, DType::U8, {static_cast<int64_t>((total + 1) / 2), 1},
                 std::make_shared<Blocks4Source>(weight, code, blocksize, false)});
  if (nested != nullptr) {
    out.push_back({weight.name + ".absmax", DType::U8, {static_cast<int64_t>(blocks)},
                   std::make_shared<NestedCodesSource>(weight, blocksize, nested->offset)});
    std::vector<std::byte> nested_absmax(nested->nested_absmax.size() * sizeof(float));
    std::memcpy(nested_absmax.data(), nested->nested_absmax.data(), nested_absmax.size());
    out.push_back(constant_tensor(weight.name + ".nested_absmax", DType::F32,
                                  {static_cast<int64_t>(nested->nested_absmax.size())}, std::move(nested_absmax)));
    std::vector<std::byte> map(kb::kCode8Entries * sizeof(float));
    std::memcpy(map.data(), kb::dynamic_map().data(), map.size());
    out.push_back(constant_tensor(weight.name + ".nested_quant_map", DType::F32,
                                  {static_cast<int64_t>(kb::kCode8Entries)}, std::move(map)));
  } else {
    out.push_back({weight.name + ".absmax", DType::F32, {static_cast<int64_t>(blocks)},
                   std::make_shared<Blocks4Source>(weight, code, blocksize, true)});
  }
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

std::string bnb_quantization_config(const std::string& encode, bool double_quant, const std::vector<std::string>& skip) {
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
         "\", \"bnb_4bit_use_double_quant\": " + (double_quant ? yes : no) + ", \"llm_int8_enable_fp32_cpu_offload\": false, "
         "\"llm_int8_has_fp16_weight\": false, \"llm_int8_skip_modules\": " +
         skip_list + ", \"llm_int8_threshold\": 6.0, \"load_in_4bit\": " + (four ? yes : no) +
         ", \"load_in_8bit\": " + (four ? no : yes) + ", \"quant_method\": \"bitsandbytes\"}";
}

}  // namespace amn::stages::encoders
