// Covers the model-directory output (src/stages/open/model_dir.hpp): config.json edits (keys removed,
// replaced in place or appended, numbers kept as their text, strings re-escaped) and the rule for
// which files hold weights.
#include <doctest/doctest.h>


#include <filesystem>
#include <fstream>
#include <string>

#include "amn/amn.hpp"
#include "stages/open/model_dir.hpp"
#include "temp_dir.hpp"

using amn::stages::ConfigEdit;
using amn::stages::edit_config_json;

TEST_CASE("config.json edits: remove, replace in place, append, nested keys untouched") {
  ConfigEdit edit;
  edit.remove = {"quantization_config"};
  edit.set = {{"torch_dtype", "\"bfloat16\""}, {"quantization_config_new", R"({"bits": 4, "scale": 1e-06, "list": [1, {"a": null}]})"}};
  const std::string text =
      R"({"a": 1e-06, "torch_dtype": "float16", "quantization_config": {"x": [1, {"y": [2]}]}, "b": {"torch_dtype": "x", "quantization_config": 1}, "c": "q\"\u00e9\n"})";
  const std::string out = edit_config_json("config.json", text, edit);
  CHECK(out ==
        "{\n"
        "  \"a\": 1e-06,\n"
        "  \"torch_dtype\": \"bfloat16\",\n"
        "  \"b\": {\n"
        "    \"torch_dtype\": \"x\",\n"
        "    \"quantization_config\": 1\n"
        "  },\n"
        "  \"c\": \"q\\\"\xc3\xa9\\n\",\n"
        "  \"quantization_config_new\": {\n"
        "    \"bits\": 4,\n"
        "    \"scale\": 1e-06,\n"
        "    \"list\": [\n"
        "      1,\n"
        "      {\n"
        "        \"a\": null\n"
        "      }\n"
        "    ]\n"
        "  }\n"
        "}\n");
}

TEST_CASE("config.json that is not one JSON object is refused, naming the file") {
  ConfigEdit edit;
  for (const std::string text : {"[1]", "\"x\"", "{\"a\": ", "{} {}", "{\"a\": \"\xff\"}"}) {
    CAPTURE(text);
    try {
      (void)edit_config_json("dir/config.json", text, edit);
      FAIL("accepted");
    } catch (const amn::Error& error) {
      CHECK(std::string(error.what()).find("dir/config.json") != std::string::npos);
    }
  }
}

TEST_CASE("weight files: what amn reads, shard indexes and other frameworks' weights") {
  for (const char* name : {"model.safetensors", "model-00001-of-00002.safetensors", "model.safetensors.index.json",
                           "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack", "model.onnx",
                           "x.gguf", "consolidated.00.pth", "last.ckpt"}) {
    CAPTURE(std::string(name));
    CHECK(amn::stages::is_weight_file(std::string("/nonexistent/") + name));
  }
  // unknown extensions are told by their first bytes
  const amn::test::TempDir scratch("model-dir");
  const std::filesystem::path& dir = scratch.path();
  for (const std::string name : {"config.json", "tokenizer.json", "README.md", "chat_template.jinja", "tokenizer.model"}) {
    CAPTURE(name);
    std::ofstream(dir / name) << "{\"a\": 1}\n";
    CHECK_FALSE(amn::stages::is_weight_file(dir / name));
  }
}
