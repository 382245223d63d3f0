// Covers stages/quant_types: the per-tensor GGUF types of llama-quantize's file types. Expected
// values are llama-quantize's own output on test/fixtures/llama/tiny-llama-f16.gguf (made by
// test/fixtures/gen/gen_llama_quant.py; see test/fixtures/llama/README.md).
#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "amn/amn.hpp"
#include "stages/plan/quant_types.hpp"

namespace fs = std::filesystem;
namespace quant = amn::quant;

namespace {

const fs::path kFixtures = fs::path(AMN_SOURCE_DIR) / "test" / "fixtures" / "llama";

/// One line of expected.tsv.
struct Row {
  int index = 0;
  std::string tensor;
  std::string type;   ///< gguf-py's type name, or "ERROR"
  std::string shape;  ///< row-major, comma-separated
  std::string hash;   ///< sha256, or the error message
};

using Key = std::tuple<std::string, bool, bool>;  // ftype name, pure, imatrix

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> fields;
  std::stringstream in(line);
  std::string field;
  while (std::getline(in, field, sep)) fields.push_back(field);
  return fields;
}

std::map<Key, std::vector<Row>> load_expected() {
  std::ifstream in(kFixtures / "expected.tsv");
  REQUIRE(in.good());
  std::map<Key, std::vector<Row>> groups;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    auto fields = split(line, '\t');
    REQUIRE(fields.size() == 8);
    groups[{fields[0], fields[1] == "1", fields[2] == "1"}].push_back(
        Row{std::stoi(fields[3]), fields[4], fields[5], fields[6], fields[7]});
  }
  return groups;
}

std::string join(const std::vector<int64_t>& shape) {
  std::string text;
  for (auto dim : shape) text += (text.empty() ? "" : ",") + std::to_string(dim);
  return text;
}

/// Names of the tensors the committed imatrix has data for.
std::set<std::string> imatrix_entries() {
  auto catalog = amn::open_model((kFixtures / "imatrix.gguf").string());
  std::set<std::string> names;
  const std::string suffix = ".in_sum2";
  for (const auto& tensor : catalog.tensors) {
    if (tensor.name.ends_with(suffix)) names.insert(tensor.name.substr(0, tensor.name.size() - suffix.size()));
  }
  return names;
}

}  // namespace

TEST_CASE("quant types: file type names parse as llama-quantize parses them") {
  CHECK(quant::parse_file_type("Q4_K_M").ftype == quant::FileType::Q4_K_M);
  CHECK(quant::parse_file_type("q4_k_m").name == "Q4_K_M");
  CHECK(quant::parse_file_type("q4_k").ftype == quant::FileType::Q4_K_M);
  CHECK(quant::parse_file_type("Q3_K").ftype == quant::FileType::Q3_K_M);
  CHECK(quant::parse_file_type("iq2_xxs").ftype == quant::FileType::IQ2_XXS);
  CHECK(quant::parse_file_type("15").name == "Q4_K");  // the alias is listed first
  CHECK(quant::parse_file_type("15").ftype == quant::FileType::Q4_K_M);
  CHECK(quant::parse_file_type(" +7").name == "Q8_0");
  CHECK(quant::parse_file_type("0").name == "F32");  // F32 before COPY
  CHECK(quant::parse_file_type("copy").copy);
  CHECK_FALSE(quant::parse_file_type("F32").copy);
  CHECK(quant::parse_file_type("mxfp4_moe").ftype == quant::FileType::MXFP4_MOE);
  CHECK(quant::file_type_name(quant::FileType::Q5_K_M) == "Q5_K_M");
  for (std::string bad : {"Q4_K_X", "", "Q8", "39", "NVFP4", "q4_k_m "}) {
    CAPTURE(bad);
    try {
      (void)quant::parse_file_type(bad);
      FAIL("accepted");
    } catch (const amn::Error& error) {
      CHECK(error.code() == amn::ErrorCode::Usage);
      CHECK(std::string(error.what()).find("Q4_K_M") != std::string::npos);
    }
  }
}

TEST_CASE("quant types: default types and imatrix needs") {
  using quant::FileType;
  using amn::DType;
  CHECK(quant::default_type(FileType::Q4_K_M) == DType::Q4_K);
  CHECK(quant::default_type(FileType::IQ2_S) == DType::IQ2_XS);
  CHECK(quant::default_type(FileType::IQ2_M) == DType::IQ2_S);
  CHECK(quant::default_type(FileType::IQ3_XS) == DType::IQ3_S);
  CHECK(quant::default_type(FileType::MXFP4_MOE) == DType::MXFP4);
  CHECK(quant::default_type(FileType::MOSTLY_BF16) == DType::BF16);
  CHECK(quant::tensor_needs_imatrix("blk.0.ffn_up.weight", DType::Q2_K, FileType::Q2_K_S));
  CHECK_FALSE(quant::tensor_needs_imatrix("blk.0.ffn_up.weight", DType::Q2_K, FileType::Q2_K));
  CHECK_FALSE(quant::tensor_needs_imatrix("token_embd.weight", DType::IQ2_XXS, FileType::IQ2_XXS));
  CHECK(quant::file_type_needs_imatrix(FileType::IQ3_XS, false));
  CHECK_FALSE(quant::file_type_needs_imatrix(FileType::IQ3_XS, true));
  CHECK_FALSE(quant::file_type_needs_imatrix(FileType::IQ3_S, false));
  CHECK(quant::file_type_needs_imatrix(FileType::IQ2_M, true));
}

TEST_CASE("quant types: which tensors llama-quantize considers") {
  std::vector<int64_t> matrix{384, 256}, vector{256}, row{1, 256}, experts{8, 384, 256};
  CHECK(quant::allows_quantization("llama", "blk.0.attn_q.weight", matrix));
  CHECK(quant::allows_quantization("llama", "blk.0.ffn_up_exps.weight", experts));
  CHECK_FALSE(quant::allows_quantization("llama", "blk.0.attn_norm.weight", vector));
  CHECK_FALSE(quant::allows_quantization("llama", "blk.0.attn_q.weight", row));  // ggml counts 1 dim
  CHECK_FALSE(quant::allows_quantization("llama", "blk.0.attn_q.bias", matrix));
  CHECK_FALSE(quant::allows_quantization("llama", "blk.0.ffn_gate_inp.weight", matrix));
  CHECK_FALSE(quant::allows_quantization("llama", "position_embd.weight", matrix));
  CHECK_FALSE(quant::allows_quantization("mamba", "blk.0.ssm_conv1d.weight", matrix));
  CHECK(quant::allows_quantization("llama", "blk.0.attn_k_b.weight", matrix));
  CHECK_FALSE(quant::allows_quantization("glm5-next", "blk.0.attn_k_b.weight", matrix));
  std::vector<std::string_view> names{"output.weight", "blk.10.attn_q.weight", "blk.2.ffn_up.weight",
                                      "token_embd.weight", "blk.2.attn_k.weight", "output_norm.weight"};
  CHECK(quant::quantize_order(names) == std::vector<size_t>{0, 5, 3, 4, 2, 1});
}

TEST_CASE("quant types: every tensor of tiny-llama as llama-quantize typed it") {
  auto catalog = amn::open_model((kFixtures / "tiny-llama-f16.gguf").string());
  const auto facts = quant::model_facts(catalog);
  CHECK(facts.arch == "llama");
  CHECK(facts.n_layer == 4);
  CHECK(facts.n_expert == 0);
  CHECK(facts.n_head == 4);
  CHECK(facts.n_head_kv == 2);
  CHECK_FALSE(facts.type_70b);

  std::vector<quant::TensorRef> refs;
  std::map<std::string, size_t> by_name;
  std::vector<std::string_view> names;
  for (const auto& tensor : catalog.tensors) {
    by_name[tensor.name] = refs.size();
    refs.push_back({tensor.name, tensor.shape, tensor.dtype});
    names.push_back(tensor.name);
  }
  const auto order = quant::quantize_order(names);
  const auto with_data = imatrix_entries();
  CHECK(with_data.count("blk.0.ffn_down.weight") == 1);
  CHECK(with_data.count("token_embd.weight") == 0);

  const auto groups = load_expected();
  size_t files = 0, refused = 0, tensors_checked = 0;
  for (const auto& [key, rows] : groups) {
    const auto& [name, pure, imatrix] = key;
    CAPTURE(name);
    CAPTURE(pure);
    CAPTURE(imatrix);
    const auto parsed = quant::parse_file_type(name);
    const quant::QuantRequest request{parsed.ftype, pure, imatrix, parsed.copy};
    const auto choices = quant::choose_types(facts, refs, request);

    if (rows.size() == 1 && rows[0].type == "ERROR") {
      ++refused;
      const std::string& message = rows[0].hash;
      if (message.find("requires an imatrix") != std::string::npos) {
        // refused up front: a tensor needs an imatrix and there is none
        CHECK_FALSE(imatrix);
        bool any = false;
        for (const auto& choice : choices) any = any || (choice.quantizable && choice.needs_imatrix);
        CHECK(any);
        CHECK(quant::file_type_needs_imatrix(parsed.ftype, pure));
      } else {
        // ggml aborted: a tensor of an IQ2_XXS/IQ2_XS/IQ1_S type has no imatrix entry
        CHECK(message.find("GGML_ASSERT(imatrix != NULL)") != std::string::npos);
        bool any = false;
        for (size_t idx = 0; idx < choices.size(); ++idx) {
          const bool data = imatrix && with_data.count(std::string(refs[idx].name)) == 1;
          any = any || (choices[idx].quantizable && choices[idx].type != refs[idx].dtype &&
                        quant::type_needs_imatrix_data(choices[idx].type) && !data);
        }
        CHECK(any);
      }
      continue;
    }

    ++files;
    REQUIRE(rows.size() == refs.size());
    bool needs = false;
    for (size_t pos = 0; pos < rows.size(); ++pos) {
      const Row& row = rows[pos];
      CAPTURE(row.tensor);
      CHECK(row.index == static_cast<int>(pos));
      REQUIRE(by_name.count(row.tensor) == 1);
      const size_t idx = by_name.at(row.tensor);
      CHECK(order[pos] == idx);  // llama-quantize writes in its walking order
      CHECK(join(catalog.tensors[idx].shape) == row.shape);
      const auto expected = amn::dtype_from_name(row.type);
      REQUIRE(expected.has_value());
      CHECK(amn::info(choices[idx].type).name == row.type);
      const bool is_1d = catalog.tensors[idx].shape.size() < 2;
      CHECK(choices[idx].quantizable == (!parsed.copy && !is_1d));
      if (choices[idx].fallback) CHECK(choices[idx].wanted != choices[idx].type);
      needs = needs || (choices[idx].quantizable && choices[idx].needs_imatrix);
      ++tensors_checked;
    }
    // llama-quantize went ahead, so either nothing needed an imatrix or one was given
    CHECK((!needs || imatrix));
  }
  CHECK(files + refused == 36 * 4);
  CHECK(tensors_checked == files * refs.size());
  MESSAGE("checked " << files << " quantised files (" << tensors_checked << " tensors) and " << refused
                     << " refusals");
}

TEST_CASE("quant types: the ffn_down fallback on a 384-wide row") {
  std::vector<int64_t> down{256, 384};
  std::vector<int64_t> odd{256, 100};
  quant::ModelFacts facts{"llama", 4, 0, 4, 2, false};
  std::vector<quant::TensorRef> refs{{"blk.0.ffn_down.weight", down, amn::DType::F16},
                                     {"blk.1.ffn_down.weight", odd, amn::DType::F16}};
  auto choices = quant::choose_types(facts, refs, {quant::FileType::Q4_K_S, true, false, false});
  CHECK(choices[0].wanted == amn::DType::Q4_K);
  CHECK(choices[0].type == amn::DType::Q5_0);
  CHECK(choices[0].fallback);
  CHECK_FALSE(choices[0].fallback_f16);
  CHECK(choices[1].type == amn::DType::F16);  // 100 is no multiple of 32 either
  CHECK(choices[1].fallback_f16);
  choices = quant::choose_types(facts, refs, {quant::FileType::Q8_0, true, false, false});
  CHECK(choices[1].wanted == amn::DType::Q8_0);
  CHECK(choices[1].type == amn::DType::F16);
  CHECK_THROWS_AS((void)quant::choose_types(facts, refs, {quant::FileType::Q1_0, true, false, false}), amn::Error);
}

TEST_CASE("quant types: variants of tiny-llama (GQA 4, 80 layers, 8 experts, tied output, falcon)") {
  // llama-quantize --dry-run on copies of the model with changed metadata or tensors
  std::ifstream in(kFixtures / "expected_variants.json");
  REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  rapidjson::Document doc;
  doc.Parse(text.str().c_str());
  REQUIRE_FALSE(doc.HasParseError());
  size_t runs = 0;
  for (const auto& variant : doc.GetObject()) {
    const std::string label = variant.name.GetString();
    CAPTURE(label);
    const auto& spec = variant.value;
    amn::Catalog catalog;
    catalog.format = amn::Format::Gguf;
    for (const auto& entry : spec["metadata"].GetObject()) {
      amn::MetaEntry meta;
      meta.key = entry.name.GetString();
      if (entry.value.IsString()) {
        meta.value.type = amn::MetaType::String;
        meta.value.value = std::string(entry.value.GetString());
      } else {
        meta.value.type = amn::MetaType::U32;
        meta.value.value = entry.value.GetUint64();
      }
      catalog.metadata.push_back(meta);
    }
    const auto facts = quant::model_facts(catalog);
    CHECK(facts.type_70b == (label == "layers80"));

    std::vector<std::string> names;
    std::vector<std::vector<int64_t>> shapes;
    std::vector<amn::DType> dtypes;
    for (const auto& tensor : spec["tensors"].GetArray()) {
      names.emplace_back(tensor[0].GetString());
      std::vector<int64_t> shape;
      for (const auto& dim : tensor[1].GetArray()) shape.push_back(dim.GetInt64());
      shapes.push_back(shape);
      auto dtype = amn::dtype_from_name(tensor[2].GetString());
      REQUIRE(dtype.has_value());
      dtypes.push_back(*dtype);
    }
    std::vector<quant::TensorRef> refs;
    std::vector<std::string_view> views;
    for (size_t idx = 0; idx < names.size(); ++idx) {
      refs.push_back({names[idx], shapes[idx], dtypes[idx]});
      views.push_back(names[idx]);
    }
    const auto order = quant::quantize_order(views);
    const auto& expected_order = spec["order"];
    REQUIRE(expected_order.Size() == order.size());
    for (size_t pos = 0; pos < order.size(); ++pos) CHECK(names[order[pos]] == expected_order[pos].GetString());

    for (const auto& run : spec["runs"].GetArray()) {
      const std::string ftype = run["ftype"].GetString();
      const bool pure = run["pure"].GetBool();
      const bool imatrix = run["imatrix"].GetBool();
      CAPTURE(ftype);
      CAPTURE(imatrix);
      const auto parsed = quant::parse_file_type(ftype);
      const auto choices = quant::choose_types(facts, refs, {parsed.ftype, pure, imatrix, parsed.copy});
      const auto& types = run["types"];
      REQUIRE(types.Size() == order.size());
      for (size_t pos = 0; pos < order.size(); ++pos) {
        CAPTURE(names[order[pos]]);
        CHECK(amn::info(choices[order[pos]].type).name == std::string(types[pos].GetString()));
      }
      ++runs;
    }
  }
  CHECK(runs == 5 * 32 * 2);
}
