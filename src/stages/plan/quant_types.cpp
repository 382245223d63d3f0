// The per-tensor type choices of llama-quantize, written from a reading of llama.cpp 0c1e570's
// src/llama-quant.cpp (llama_tensor_get_type and helpers) and tools/quantize/quantize.cpp.
#include "stages/plan/quant_types.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <climits>
#include <numeric>
#include <variant>

#include "amn/error.hpp"
#include "kernels/quantize.hpp"

namespace amn::quant {
namespace {

using FT = FileType;

// tools/quantize/quantize.cpp QUANT_OPTIONS, in its order (the order matters for numbers: the
// first name with a given file type wins, and COPY comes after F32).
constexpr auto kNames = std::to_array<FileTypeName>({
    {"Q1_0", FT::Q1_0},       {"Q2_0", FT::Q2_0},       {"Q4_0", FT::Q4_0},       {"Q4_1", FT::Q4_1},
    {"MXFP4_MOE", FT::MXFP4_MOE}, {"Q5_0", FT::Q5_0},   {"Q5_1", FT::Q5_1},       {"IQ2_XXS", FT::IQ2_XXS},
    {"IQ2_XS", FT::IQ2_XS},   {"IQ2_S", FT::IQ2_S},     {"IQ2_M", FT::IQ2_M},     {"IQ1_S", FT::IQ1_S},
    {"IQ1_M", FT::IQ1_M},     {"TQ1_0", FT::TQ1_0},     {"TQ2_0", FT::TQ2_0},     {"Q2_K", FT::Q2_K},
    {"Q2_K_S", FT::Q2_K_S},   {"IQ3_XXS", FT::IQ3_XXS}, {"IQ3_S", FT::IQ3_S},     {"IQ3_M", FT::IQ3_M},
    {"Q3_K", FT::Q3_K_M},     {"IQ3_XS", FT::IQ3_XS},   {"Q3_K_S", FT::Q3_K_S},   {"Q3_K_M", FT::Q3_K_M},
    {"Q3_K_L", FT::Q3_K_L},   {"IQ4_NL", FT::IQ4_NL},   {"IQ4_XS", FT::IQ4_XS},   {"Q4_K", FT::Q4_K_M},
    {"Q4_K_S", FT::Q4_K_S},   {"Q4_K_M", FT::Q4_K_M},   {"Q5_K", FT::Q5_K_M},     {"Q5_K_S", FT::Q5_K_S},
    {"Q5_K_M", FT::Q5_K_M},   {"Q6_K", FT::Q6_K},       {"Q8_0", FT::Q8_0},       {"F16", FT::MOSTLY_F16},
    {"BF16", FT::MOSTLY_BF16}, {"F32", FT::ALL_F32},    {"COPY", FT::ALL_F32},
});
constexpr size_t kCopyIndex = kNames.size() - 1;
static_assert(kNames[kCopyIndex].name == "COPY");

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t idx = 0; idx < a.size(); ++idx) {
    if (std::tolower(static_cast<unsigned char>(a[idx])) != std::tolower(static_cast<unsigned char>(b[idx]))) {
      return false;
    }
  }
  return true;
}

bool contains(std::string_view name, std::string_view part) { return name.find(part) != std::string_view::npos; }

// The broad tensor kinds the mixtures tell apart (llama-quant.cpp's tensor_category).
enum class Category { TokenEmbd, AttnQ, AttnV, AttnK, AttnQkv, AttnKvB, AttnOutput, FfnUp, FfnGate, FfnDown, Output,
                      Other };

bool is_token_embd(std::string_view name) {
  return name == "token_embd.weight" || name == "per_layer_token_embd.weight";
}

Category category_of(std::string_view name) {
  if (name == "output.weight") return Category::Output;
  if (is_token_embd(name)) return Category::TokenEmbd;
  if (contains(name, "attn_qkv.weight")) return Category::AttnQkv;
  if (contains(name, "attn_kv_b.weight")) return Category::AttnKvB;
  if (contains(name, "attn_v.weight")) return Category::AttnV;
  if (contains(name, "attn_k.weight")) return Category::AttnK;
  if (contains(name, "attn_q.weight")) return Category::AttnQ;
  if (contains(name, "attn_output.weight")) return Category::AttnOutput;
  if (contains(name, "ffn_up")) return Category::FfnUp;
  if (contains(name, "ffn_gate")) return Category::FfnGate;
  if (contains(name, "ffn_down")) return Category::FfnDown;
  return Category::Other;
}

bool attn_v_like(Category cat) {
  return cat == Category::AttnV || cat == Category::AttnQkv || cat == Category::AttnKvB;
}

// ggml's ne[i] of an amn shape (1 past the stored dims).
int64_t ne(std::span<const int64_t> shape, size_t i) {
  return i < shape.size() ? shape[shape.size() - 1 - i] : 1;
}

// ggml_n_dims: 1 + the index of the last ne[i] above 1 (at least 1).
size_t ggml_dims(std::span<const int64_t> shape) {
  for (size_t i = shape.size(); i > 1; --i) {
    if (ne(shape, i - 1) > 1) return i;
  }
  return 1;
}

int64_t block_of(DType type) { return info(type).block_elems; }

// What sscanf(name, "blk.%d.", &layer) reads: the number after "blk." (optional blanks and sign).
std::optional<int> layer_of(std::string_view name) {
  if (!name.starts_with("blk.")) return std::nullopt;
  size_t pos = 4;
  while (pos < name.size() && std::isspace(static_cast<unsigned char>(name[pos]))) ++pos;
  bool negative = false;
  if (pos < name.size() && (name[pos] == '+' || name[pos] == '-')) negative = name[pos++] == '-';
  size_t first = pos;
  int64_t value = 0;
  while (pos < name.size() && name[pos] >= '0' && name[pos] <= '9') {
    value = std::min<int64_t>(value * 10 + (name[pos] - '0'), int64_t{INT_MAX} + 1);
    ++pos;
  }
  if (pos == first) return std::nullopt;
  value = negative ? -value : value;
  return static_cast<int>(std::clamp<int64_t>(value, INT_MIN, INT_MAX));
}

bool in(FT ftype, std::initializer_list<FT> set) { return std::find(set.begin(), set.end(), ftype) != set.end(); }

bool is_float_type(DType type) { return type == DType::F32 || type == DType::F16 || type == DType::BF16; }

// The running state of one pass (llama-quant.cpp's quantize_state_impl).
struct State {
  const ModelFacts& facts;
  FT ftype;
  bool has_imatrix;
  std::optional<DType> output_type;  // --output-tensor-type (reaches the mixture for a tied embedding)
  int n_attention_wv = 0;
  int n_ffn = 0;  // n_ffn_down == n_ffn_gate == n_ffn_up == the layer count
  int i_attention_wv = 0;
  int i_ffn_down = 0;
  int i_ffn_gate = 0;
  int i_ffn_up = 0;
  bool tied_embeddings = true;

  [[nodiscard]] uint32_t n_gqa() const { return facts.n_head_kv == 0 ? 0 : facts.n_head / facts.n_head_kv; }
  [[nodiscard]] bool falcon() const { return facts.arch == "falcon"; }
};

bool use_more_bits(int i_layer, int n_layer) {
  return i_layer < n_layer / 8 || i_layer >= 7 * n_layer / 8 || (i_layer - n_layer / 8) % 3 == 2;
}

// The layer a per-layer rule looks at: the running counter for dense models, the name's block
// number when the model has experts (their tensors need not come in layer order).
int layer_for(const State& st, int counter, std::string_view name) {
  if (std::max<uint32_t>(1, st.facts.n_expert) <= 1) return counter;
  auto layer = layer_of(name);
  if (!layer) throw Error(ErrorCode::Unsupported, "quantisation: cannot tell the layer of tensor " + std::string(name));
  if (*layer < 0 || *layer >= st.n_ffn) {
    throw Error(ErrorCode::Unsupported, "quantisation: bad layer " + std::to_string(*layer) + " for tensor " +
                                            std::string(name) + " (the model has " + std::to_string(st.n_ffn) + ")");
  }
  return *layer;
}

// The mixture: the type a quantisable tensor gets under a quantised file type (not --pure),
// before the row-size fallback. `type` starts as the default type.
DType mixture_type(State& st, DType type, std::string_view name, std::span<const int64_t> shape, Category cat) {
  const FT ft = st.ftype;
  const ModelFacts& facts = st.facts;
  const bool very_low = in(ft, {FT::IQ2_XXS, FT::IQ2_XS, FT::IQ1_S, FT::IQ2_S, FT::IQ2_M, FT::IQ1_M});

  if (facts.arch == "glm5-next" &&
      (contains(name, "attn_q_a") || contains(name, "attn_q_b") || contains(name, "nextn.eh_proj"))) {
    // kept at Q8_0 or better; checked before any counter moves
    return is_float_type(type) ? type : DType::Q8_0;
  }

  if (cat == Category::Output || (st.tied_embeddings && cat == Category::TokenEmbd)) {
    // the output projection (or the embedding that doubles as it)
    if (st.output_type) return *st.output_type;
    if (ft == FT::MXFP4_MOE) return DType::Q8_0;
    if (st.falcon() || ne(shape, 0) % block_of(type) != 0) return DType::Q8_0;
    if (in(ft, {FT::IQ2_XXS, FT::IQ2_XS, FT::IQ3_XXS, FT::IQ1_S, FT::IQ2_S, FT::IQ2_M, FT::IQ1_M})) return DType::Q5_K;
    return type == DType::Q8_0 ? type : DType::Q6_K;
  }
  if (ft == FT::MXFP4_MOE) {
    // expert tensors (a third dim above 1) -> MXFP4, all else Q8_0; bailingmoe3 only for its FFN experts
    bool expert = ne(shape, 2) > 1;
    if (facts.arch == "bailingmoe3") {
      expert = expert && (cat == Category::FfnUp || cat == Category::FfnGate || cat == Category::FfnDown);
    }
    return expert ? DType::MXFP4 : DType::Q8_0;
  }
  if (cat == Category::TokenEmbd) {
    if (in(ft, {FT::IQ2_XXS, FT::IQ2_XS, FT::IQ1_S, FT::IQ1_M})) return DType::Q2_K;
    if (in(ft, {FT::IQ2_S, FT::IQ2_M, FT::IQ3_XXS})) return DType::IQ3_S;
    if (in(ft, {FT::TQ1_0, FT::TQ2_0, FT::Q2_0})) return DType::Q4_K;
    return type;
  }
  if (very_low) {
    const bool s_or_m = ft == FT::IQ2_S || ft == FT::IQ2_M;
    if (attn_v_like(cat)) {
      if (st.n_gqa() >= 4 || facts.n_expert >= 4) {
        type = DType::Q4_K;
      } else {
        type = s_or_m ? DType::IQ3_S : DType::Q2_K;
      }
      ++st.i_attention_wv;
    } else if (facts.n_expert == 8 && cat == Category::AttnK) {
      type = DType::Q4_K;
    } else if (cat == Category::FfnDown) {
      if (st.i_ffn_down < st.n_ffn / 8) type = s_or_m ? DType::IQ3_S : DType::Q2_K;
      ++st.i_ffn_down;
    } else if (cat == Category::AttnOutput) {
      if (facts.n_expert == 8) {
        type = DType::Q5_K;
      } else if (ft == FT::IQ1_S || ft == FT::IQ1_M) {
        type = DType::IQ2_XXS;
      } else if (s_or_m) {
        type = DType::IQ3_S;
      }
    }
    return type;
  }
  if (attn_v_like(cat)) {
    const uint32_t gqa = st.n_gqa();
    if (ft == FT::Q2_K) {
      type = gqa >= 4 ? DType::Q4_K : DType::Q3_K;
    } else if (ft == FT::Q2_K_S && gqa >= 4) {
      type = DType::Q4_K;
    } else if (ft == FT::IQ3_XXS) {
      type = gqa >= 4 ? DType::Q4_K : (st.has_imatrix ? DType::IQ3_XXS : DType::IQ3_S);
    } else if ((ft == FT::IQ3_XS || ft == FT::IQ3_S) && gqa >= 4) {
      type = DType::Q4_K;
    } else if (ft == FT::IQ3_M) {
      type = DType::Q4_K;
    } else if (ft == FT::Q3_K_M) {
      type = st.i_attention_wv < 2 ? DType::Q5_K : DType::Q4_K;
    } else if (ft == FT::Q3_K_L) {
      type = DType::Q5_K;
    } else if ((ft == FT::IQ4_NL || ft == FT::IQ4_XS) && gqa >= 4) {
      type = DType::Q5_K;
    } else if ((ft == FT::Q4_K_M || ft == FT::Q5_K_M) && use_more_bits(st.i_attention_wv, st.n_attention_wv)) {
      type = DType::Q6_K;
    } else if (ft == FT::Q4_K_S && st.i_attention_wv < 4) {
      type = DType::Q5_K;
    }
    if (facts.type_70b && (type == DType::Q3_K || type == DType::Q4_K)) type = DType::Q5_K;
    if (facts.n_expert == 8) type = DType::Q8_0;
    ++st.i_attention_wv;
    return type;
  }
  if (cat == Category::AttnK) {
    if (facts.n_expert == 8) return DType::Q8_0;
    if (ft == FT::IQ3_XS) return DType::IQ3_XXS;
    if (ft == FT::IQ3_XXS) return DType::IQ2_S;
    return type;
  }
  if (cat == Category::AttnQ) {
    if (ft == FT::IQ3_XS) return DType::IQ3_XXS;
    if (ft == FT::IQ3_XXS) return DType::IQ2_S;
    return type;
  }
  if (cat == Category::FfnDown) {
    const int i_layer = layer_for(st, st.i_ffn_down, name);
    const int n_layer = st.n_ffn;
    if (ft == FT::Q2_K) {
      type = DType::Q3_K;
    } else if (ft == FT::Q2_K_S) {
      if (i_layer < n_layer / 8) type = DType::Q4_K;
    } else if (ft == FT::IQ3_XXS && !st.has_imatrix) {
      type = i_layer < n_layer / 8 ? DType::Q4_K : DType::Q3_K;
    } else if (ft == FT::Q3_K_M) {
      type = i_layer < n_layer / 16                                ? DType::Q5_K
             : !st.falcon() || use_more_bits(i_layer, n_layer) ? DType::Q4_K
                                                                  : DType::Q3_K;
    } else if (ft == FT::IQ3_M &&
               (i_layer < n_layer / 8 || (facts.n_expert == 8 && use_more_bits(i_layer, n_layer)))) {
      type = DType::Q4_K;
    } else if (ft == FT::Q3_K_L) {
      type = st.falcon() ? DType::Q4_K : DType::Q5_K;
    } else if (ft == FT::Q4_K_M) {
      if (st.falcon()) {
        type = i_layer < n_layer / 16 ? DType::Q6_K : use_more_bits(i_layer, n_layer) ? DType::Q5_K : DType::Q4_K;
      } else if (use_more_bits(i_layer, n_layer)) {
        type = DType::Q6_K;
      }
    } else if (i_layer < n_layer / 8 && (ft == FT::IQ4_NL || ft == FT::IQ4_XS) && !st.has_imatrix) {
      type = DType::Q5_K;
    } else if (ft == FT::Q5_K_M && use_more_bits(i_layer, n_layer)) {
      type = DType::Q6_K;
    } else if (ft == FT::Q4_K_S && !st.falcon() && i_layer < n_layer / 8) {
      type = DType::Q5_K;
    } else if ((ft == FT::Q4_0 || ft == FT::Q5_0) && st.has_imatrix && i_layer < n_layer / 8) {
      type = ft == FT::Q4_0 ? DType::Q4_1 : DType::Q5_1;
    }
    ++st.i_ffn_down;
    return type;
  }
  if (cat == Category::AttnOutput) {
    if (!st.falcon()) {
      if (facts.n_expert == 8) {
        if (in(ft, {FT::Q2_K, FT::IQ3_XS, FT::IQ3_XXS, FT::Q3_K_S, FT::Q3_K_M, FT::IQ4_NL, FT::Q4_K_S, FT::Q4_K_M,
                    FT::IQ3_S, FT::IQ3_M, FT::IQ4_XS})) {
          type = DType::Q5_K;
        }
      } else if (ft == FT::Q2_K) {
        type = DType::Q3_K;
      } else if (ft == FT::IQ3_XXS) {
        type = DType::IQ3_S;
      } else if (ft == FT::Q3_K_M || ft == FT::IQ3_M) {
        type = DType::Q4_K;
      } else if (ft == FT::Q3_K_L) {
        type = DType::Q5_K;
      }
    } else if (ft == FT::Q3_K_L) {
      type = DType::Q4_K;
    }
    return type;
  }
  if (cat == Category::AttnQkv) {
    // unreachable in llama.cpp 0c1e570 (attn_qkv is attn_v-like and handled above); kept for the record
    return type;
  }
  if (cat == Category::FfnGate || cat == Category::FfnUp) {
    int& counter = cat == Category::FfnGate ? st.i_ffn_gate : st.i_ffn_up;
    const int i_layer = layer_for(st, counter, name);
    const int n_layer = st.n_ffn;
    if (ft == FT::IQ3_XS && i_layer >= n_layer / 8 && i_layer < 7 * n_layer / 8) type = DType::IQ3_XXS;
    ++counter;
    return type;
  }
  return type;
}

// What llama-quantize does when a row (ne[0]) does not fill whole blocks of `type`.
TensorChoice fallback(std::string_view name, std::span<const int64_t> shape, DType type) {
  TensorChoice choice;
  choice.wanted = type;
  choice.type = type;
  const int64_t cols = ne(shape, 0);
  const int64_t block = block_of(type);
  if (cols % block == 0) return choice;
  choice.fallback = true;
  DType next = type;
  switch (type) {
    case DType::IQ1_S: case DType::IQ1_M: case DType::IQ2_XXS: case DType::IQ2_XS: case DType::IQ2_S:
    case DType::IQ3_XXS: case DType::IQ3_S: case DType::IQ4_XS:
      next = DType::IQ4_NL;
      break;
    case DType::Q2_0: case DType::Q2_K: case DType::Q3_K: case DType::TQ1_0: case DType::TQ2_0:
      next = DType::Q4_0;
      break;
    case DType::Q4_K: next = DType::Q5_0; break;
    case DType::Q5_K: next = DType::Q5_1; break;
    case DType::Q6_K: next = DType::Q8_0; break;
    default:
      if (block > 32) {
        throw Error(ErrorCode::Unsupported, "quantisation: " + std::string(name) + ": row of " + std::to_string(cols) +
                                                " is not a multiple of " + std::to_string(block) + " and " +
                                                std::string(info(type).name) + " has no fallback type");
      }
      break;  // a 32-block type has nothing smaller: F16 below
  }
  if (cols % block_of(next) != 0) {
    next = DType::F16;
    choice.fallback_f16 = true;
  }
  choice.type = next;
  return choice;
}

[[noreturn]] void rule_usage(std::string_view text, const std::string& what) {
  throw Error(ErrorCode::Usage, "--tensor-type '" + std::string(text) + "': " + what +
                                    " (expected PATTERN=TYPE, e.g. attn_v=q8_0 or 'blk\\.[0-3]\\.ffn_down=q6_k')");
}

// The first --tensor-type rule whose pattern matches somewhere in `name`, or null. A name longer
// than GGUF holds (63 bytes; the writer refuses it) is not searched: std::regex recurses as deep
// as the text is long, and a 4 KiB name from a safetensors input could overflow a small stack.
const TensorTypeRule* first_rule(std::span<const TensorTypeRule> rules, std::string_view name) {
  constexpr size_t kMaxGgufName = 63;  // GGML_MAX_NAME minus the NUL
  if (name.size() > kMaxGgufName) return nullptr;
  for (const auto& rule : rules) {
    if (std::regex_search(name.begin(), name.end(), rule.regex)) return &rule;
  }
  return nullptr;
}

// The type --token-embedding-type or --output-tensor-type gives a tensor outright, if any (a
// --tensor-type rule naming per_layer_token_embd takes it from --token-embedding-type). A row that
// does not fill whole blocks of it is refused: llama-quantize applies no fallback there and aborts.
std::optional<DType> given_type(const TensorOverrides& overrides, const TensorRef& tensor, Category cat, bool ruled) {
  std::optional<DType> given;
  if (cat == Category::TokenEmbd && !(ruled && tensor.name == "per_layer_token_embd.weight")) {
    given = overrides.token_embd_type;
  }
  if (cat == Category::Output) given = overrides.output_type;
  if (given && ne(tensor.shape, 0) % block_of(*given) != 0) {
    throw Error(ErrorCode::Unsupported,
                std::string(tensor.name) + ": rows of " + std::to_string(ne(tensor.shape, 0)) + " do not fill whole " +
                    std::string(info(*given).name) + " blocks of " + std::to_string(block_of(*given)) + " (" +
                    (cat == Category::Output ? "--output-tensor-type" : "--token-embedding-type") +
                    " has no fallback; llama-quantize aborts too)");
  }
  return given;
}

std::string valid_names() {
  std::string text;
  for (const auto& entry : kNames) {
    if (!text.empty()) text += ", ";
    text += entry.name;
  }
  return text;
}

const MetaEntry* meta(const Catalog& catalog, const std::string& key) { return catalog.find_meta(key); }

std::optional<uint64_t> meta_uint(const MetaEntry* entry) {
  if (entry == nullptr) return std::nullopt;
  const MetaValue* value = &entry->value;
  if (value->type == MetaType::Array) {  // per-layer values: layer 0
    const auto& elems = std::get<std::vector<MetaValue>>(value->value);
    if (elems.empty()) return std::nullopt;
    value = &elems.front();
  }
  if (const auto* u = std::get_if<uint64_t>(&value->value)) return *u;
  if (const auto* i = std::get_if<int64_t>(&value->value)) return *i < 0 ? std::nullopt : std::optional<uint64_t>(*i);
  return std::nullopt;
}

uint32_t to_u32(std::optional<uint64_t> value) {
  return value ? static_cast<uint32_t>(std::min<uint64_t>(*value, UINT32_MAX)) : 0;
}

}  // namespace

std::span<const FileTypeName> file_type_names() { return kNames; }

ParsedFileType parse_file_type(std::string_view text) {
  for (size_t idx = 0; idx < kNames.size(); ++idx) {
    if (iequals(kNames[idx].name, text)) return {kNames[idx].ftype, kNames[idx].name, idx == kCopyIndex};
  }
  // a number: llama-quantize's std::stoi (leading blanks, sign, digits, anything after ignored)
  size_t pos = 0;
  while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
  if (pos < text.size() && text[pos] == '+') ++pos;
  int number = 0;
  auto [end, error] = std::from_chars(text.data() + pos, text.data() + text.size(), number);
  if (error == std::errc() && end != text.data() + pos) {
    for (size_t idx = 0; idx < kNames.size(); ++idx) {
      if (static_cast<int64_t>(kNames[idx].ftype) == number) {
        return {kNames[idx].ftype, kNames[idx].name, idx == kCopyIndex};
      }
    }
  }
  throw Error(ErrorCode::Usage, "unknown quantisation type '" + std::string(text) + "'; valid: " + valid_names());
}

DType parse_tensor_type(std::string_view text, std::string_view option) {
  std::string valid;
  for (const DTypeInfo& entry : all_dtypes()) {
    const bool quantisable = entry.type == DType::F32 || entry.type == DType::F16 || entry.type == DType::BF16 ||
                             kernels::can_quantize(entry.type);
    if (entry.gguf_id < 0 || !quantisable) continue;
    if (iequals(entry.name, text)) return entry.type;
    valid += (valid.empty() ? "" : ", ") + std::string(entry.name);
  }
  throw Error(ErrorCode::Usage, std::string(option) + ": '" + std::string(text) +
                                    "' is not a type llama-quantize can quantise a tensor to; valid (any case): " + valid);
}

TensorTypeRule parse_tensor_type_rule(std::string_view text) {
  const size_t equals = text.find('=');
  if (equals == std::string_view::npos) rule_usage(text, "no '='");
  if (equals == 0) rule_usage(text, "no tensor name pattern before '='");
  if (equals + 1 == text.size()) rule_usage(text, "no type after '='");
  std::string pattern(text.substr(0, equals));
  std::transform(pattern.begin(), pattern.end(), pattern.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const DType type = parse_tensor_type(text.substr(equals + 1), "--tensor-type '" + std::string(text) + "'");
  try {
    return TensorTypeRule{std::regex(pattern), type};
  } catch (const std::regex_error& error) {
    rule_usage(text, std::string("the pattern is not a regular expression (") + error.what() + ")");
  }
}

std::string_view file_type_name(FileType ftype) {
  for (const auto& entry : kNames) {
    if (entry.ftype == ftype && entry.name != "Q3_K" && entry.name != "Q4_K" && entry.name != "Q5_K") {
      return entry.name;
    }
  }
  return "?";
}

DType default_type(FileType ftype) {
  switch (ftype) {
    case FT::ALL_F32: return DType::F32;
    case FT::MOSTLY_F16: return DType::F16;
    case FT::MOSTLY_BF16: return DType::BF16;
    case FT::Q4_0: return DType::Q4_0;
    case FT::Q4_1: return DType::Q4_1;
    case FT::Q5_0: return DType::Q5_0;
    case FT::Q5_1: return DType::Q5_1;
    case FT::Q8_0: return DType::Q8_0;
    case FT::Q1_0: return DType::Q1_0;
    case FT::Q2_0: return DType::Q2_0;
    case FT::MXFP4_MOE: return DType::MXFP4;
    case FT::Q2_K: case FT::Q2_K_S: return DType::Q2_K;
    case FT::Q3_K_S: case FT::Q3_K_M: case FT::Q3_K_L: return DType::Q3_K;
    case FT::Q4_K_S: case FT::Q4_K_M: return DType::Q4_K;
    case FT::Q5_K_S: case FT::Q5_K_M: return DType::Q5_K;
    case FT::Q6_K: return DType::Q6_K;
    case FT::TQ1_0: return DType::TQ1_0;
    case FT::TQ2_0: return DType::TQ2_0;
    case FT::IQ2_XXS: return DType::IQ2_XXS;
    case FT::IQ2_XS: case FT::IQ2_S: return DType::IQ2_XS;
    case FT::IQ2_M: return DType::IQ2_S;
    case FT::IQ3_XXS: return DType::IQ3_XXS;
    case FT::IQ1_S: return DType::IQ1_S;
    case FT::IQ1_M: return DType::IQ1_M;
    case FT::IQ4_NL: return DType::IQ4_NL;
    case FT::IQ4_XS: return DType::IQ4_XS;
    case FT::IQ3_XS: case FT::IQ3_S: case FT::IQ3_M: return DType::IQ3_S;
  }
  throw Error(ErrorCode::Usage, "quantisation: file type " + std::to_string(static_cast<uint32_t>(ftype)) +
                                    " has no default type");
}

bool tensor_needs_imatrix(std::string_view name, DType type, FileType ftype) {
  if (is_token_embd(name) || name == "output.weight") return false;
  switch (type) {
    case DType::IQ3_XXS: case DType::IQ2_XXS: case DType::IQ2_XS: case DType::IQ2_S: case DType::IQ1_M:
    case DType::IQ1_S:
      return true;
    case DType::Q2_K:
      return ftype == FT::Q2_K_S;  // the only K type that does
    default:
      return false;
  }
}

bool type_needs_imatrix_data(DType type) {
  return type == DType::IQ2_XXS || type == DType::IQ2_XS || type == DType::IQ1_S;
}

bool file_type_needs_imatrix(FileType ftype, bool pure) {
  if (!pure && ftype == FT::IQ3_XS) return true;  // attn_q/attn_k and middle ffn_gate/ffn_up go IQ3_XXS
  return tensor_needs_imatrix("blk.0.ffn_up.weight", default_type(ftype), ftype);
}

bool is_type_70b(std::string_view arch, uint32_t n_layer, uint32_t n_expert, uint32_t n_head, uint32_t n_head_kv) {
  if (arch == "llama") return n_expert != 8 && n_layer == 80 && n_head != n_head_kv;
  if (arch == "deci" || arch == "olmo" || arch == "qwen2") return n_layer == 80;
  if (arch == "jais2") return n_layer == 68;
  return false;
}

ModelFacts model_facts(const Catalog& catalog) {
  ModelFacts facts;
  const MetaEntry* arch = meta(catalog, "general.architecture");
  if (arch == nullptr || arch->value.type != MetaType::String) {
    fail_unsupported(catalog.files.front(), "quantisation: the model has no general.architecture");
  }
  facts.arch = std::get<std::string>(arch->value.value);
  auto block_count = meta_uint(meta(catalog, facts.arch + ".block_count"));
  if (!block_count) {
    fail_unsupported(catalog.files.front(), "quantisation: the model has no " + facts.arch + ".block_count");
  }
  facts.n_layer = to_u32(block_count);
  facts.n_expert = to_u32(meta_uint(meta(catalog, facts.arch + ".expert_count")));
  facts.n_head = to_u32(meta_uint(meta(catalog, facts.arch + ".attention.head_count")));
  auto head_kv = meta_uint(meta(catalog, facts.arch + ".attention.head_count_kv"));
  facts.n_head_kv = head_kv ? to_u32(head_kv) : facts.n_head;
  const uint32_t nextn = to_u32(meta_uint(meta(catalog, facts.arch + ".nextn_predict_layers")));
  const uint32_t layers = facts.n_layer >= nextn ? facts.n_layer - nextn : 0;
  facts.type_70b = is_type_70b(facts.arch, layers, facts.n_expert, facts.n_head, facts.n_head_kv);
  return facts;
}

bool allows_quantization(std::string_view arch, std::string_view name, std::span<const int64_t> shape) {
  if (ggml_dims(shape) < 2) return false;
  // llama.cpp tests name.rfind("weight") == name.size() - 6, which a 5-byte name also passes
  if (!(name.ends_with("weight") || name.size() == 5)) return false;
  if (contains(name, "_norm.weight")) return false;
  static constexpr std::string_view kNever[] = {
      "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj", "ssm_conv1d",
      "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight",
      "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight",
      "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight",
      "time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight", "time_mix_decay_w1.weight",
      "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd",
      "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger", "a.rvq.codebook",
      "mm.a.code_embd"};
  for (auto part : kNever) {
    if (contains(name, part)) return false;
  }
  if (name == "position_embd.weight" || name == "token_types.weight") return false;
  if (arch == "glm5-next") {
    static constexpr std::string_view kGlm[] = {
        "hc_", "indexer.attn_q_b", "indexer.attn_k", "indexer.proj", "indexer_compressor_gate",
        "indexer_compressor_ape", "ssm_f_a.weight", "ssm_f_b.weight", "ssm_g_a.weight", "ssm_g_b.weight",
        "ssm_beta.weight", "attn_kv_a_mqa.weight", "attn_k_b.weight", "attn_v_b.weight"};
    for (auto part : kGlm) {
      if (contains(name, part)) return false;
    }
  }
  return true;
}

std::vector<size_t> quantize_order(std::span<const std::string_view> names) {
  std::vector<size_t> order(names.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::vector<int> layers(names.size());
  for (size_t idx = 0; idx < names.size(); ++idx) layers[idx] = layer_of(names[idx]).value_or(-1);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (layers[a] != layers[b]) return layers[a] < layers[b];
    return names[a] < names[b];
  });
  return order;
}

std::vector<TensorChoice> choose_types(const ModelFacts& facts, std::span<const TensorRef> tensors,
                                       const QuantRequest& request, const TensorOverrides& overrides) {
  std::vector<TensorChoice> choices(tensors.size());
  std::vector<std::string_view> names(tensors.size());
  for (size_t idx = 0; idx < tensors.size(); ++idx) names[idx] = tensors[idx].name;

  State st{facts, request.ftype, request.imatrix, overrides.output_type};
  st.n_ffn = static_cast<int>(std::min<uint32_t>(facts.n_layer, INT_MAX));
  for (auto name : names) {
    const Category cat = category_of(name);
    if (attn_v_like(cat)) ++st.n_attention_wv;
    if (cat == Category::Output) st.tied_embeddings = false;
  }

  const DType base = default_type(request.ftype);
  for (size_t idx : quantize_order(names)) {
    const TensorRef& tensor = tensors[idx];
    TensorChoice& choice = choices[idx];
    choice.type = choice.wanted = tensor.dtype;
    choice.quantizable = !request.copy && allows_quantization(facts.arch, tensor.name, tensor.shape) &&
                         !(overrides.leave_output && tensor.name == "output.weight");
    if (!choice.quantizable) continue;
    const Category cat = category_of(tensor.name);
    const TensorTypeRule* rule = first_rule(overrides.rules, tensor.name);
    if (auto given = given_type(overrides, tensor, cat, rule != nullptr)) {
      choice.type = choice.wanted = *given;  // as given: no mixture, no fallback
    } else if (!is_block_type(base)) {  // F32/F16/BF16: every quantisable tensor takes it, no mixture
      choice.type = choice.wanted = base;
    } else {
      DType type = base;
      if (rule != nullptr) {
        type = rule->type;  // the mixture's counters do not advance for it
      } else if (!request.pure) {
        type = mixture_type(st, type, tensor.name, tensor.shape, cat);
      }
      choice = fallback(tensor.name, tensor.shape, type);
      choice.quantizable = true;
    }
    choice.needs_imatrix = tensor_needs_imatrix(tensor.name, choice.type, request.ftype);
  }
  return choices;
}

}  // namespace amn::quant
