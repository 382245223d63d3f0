// The `amn` command line: inspect, parse, convert, remember.
#include <CLI/CLI.hpp>
#include <rapidjson/ostreamwrapper.h>
#include <rapidjson/writer.h>

#include <chrono>
#include <iostream>
#include <map>

#include "amn/amn.hpp"
#include "cli/report.hpp"
#include "io/output.hpp"

namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

struct Options {
  std::string input;
  std::string output;
  std::string to = "safetensors";
  std::string dtype;
  bool json = false;
  bool force = false;
  bool quiet = false;
};

const std::map<std::string, amn::DType> kDtypeChoices = {
    {"bf16", amn::DType::BF16}, {"f16", amn::DType::F16}, {"f32", amn::DType::F32}};

int run_report(const Options& options, bool per_tensor) {
  amn::Catalog catalog = amn::open_model(options.input);
  amn::cli::print_catalog(std::cout, options.input, catalog, per_tensor, options.json);
  return 0;
}

int run_convert(const Options& options, const char* verb) {
  amn::ConvertOptions convert;
  convert.target = options.to == "gguf" ? amn::Target::Gguf : amn::Target::Safetensors;
  if (!options.dtype.empty()) convert.dtype = kDtypeChoices.at(options.dtype);
  convert.force = options.force;
  auto started = std::chrono::steady_clock::now();
  amn::Catalog catalog = amn::open_model(options.input);
  amn::ConvertResult result = amn::convert(catalog, options.output, convert);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (options.json) {
    rapidjson::OStreamWrapper stream(std::cout);
    rapidjson::Writer<rapidjson::OStreamWrapper> writer(stream);
    writer.StartObject();
    writer.Key("command");
    writer.String(verb);
    writer.Key("input");
    writer.String(options.input.c_str());
    writer.Key("output");
    writer.String(result.output.c_str());
    writer.Key("format");
    writer.String(options.to.c_str());
    writer.Key("tensors");
    writer.Uint64(result.tensors);
    writer.Key("bytes");
    writer.Uint64(result.bytes_written);
    writer.Key("seconds");
    writer.Double(seconds);
    writer.EndObject();
    std::cout << '\n';
  } else if (!options.quiet) {
    std::cerr << "amn: " << verb << " " << options.input << " -> " << result.output << ": " << result.tensors
              << " tensors, " << amn::cli::human_bytes(result.bytes_written) << " in " << seconds << " s\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"amn: inspect, convert and dequantise ML tensor files (safetensors, GGUF, NPZ/NPY, PyTorch)"};
  app.set_version_flag("--version", std::string("amn ") + amn::version());
  app.require_subcommand(1);
  app.footer("Run `amn COMMAND --help` for a command's options and an example.");
  Options options;

  auto* inspect = app.add_subcommand("inspect", "Summarise a model from its headers: format, tensors, size, dtypes, scheme");
  inspect->alias("info");
  inspect->add_option("input", options.input, "Model file or directory (shards)")->required();
  inspect->add_flag("--json", options.json, "Print one JSON object on stdout");
  inspect->footer("Example: amn inspect model.safetensors --json");

  auto* parse = app.add_subcommand("parse", "Everything inspect shows, plus each tensor, the metadata and non-tensor values");
  parse->add_option("input", options.input, "Model file or directory (shards)")->required();
  parse->add_flag("--json", options.json, "Print one JSON object on stdout");
  parse->footer("Example: amn parse model.gguf");

  std::vector<std::string> dtype_names;
  for (const auto& [name, type] : kDtypeChoices) dtype_names.push_back(name);

  auto* convert = app.add_subcommand("convert", "Convert a model to safetensors or GGUF (lossless unless --dtype)");
  convert->add_option("input", options.input, "Model file or directory (shards)")->required();
  convert->add_option("--to", options.to, "Output format")->check(CLI::IsMember({"safetensors", "gguf"}))->capture_default_str();
  convert->add_option("-o,--output", options.output, "Output file")->required();
  convert->add_option("--dtype", options.dtype, "Narrow/widen float tensors to this type")->check(CLI::IsMember(dtype_names));
  convert->add_flag("-f,--force", options.force, "Replace an existing output");
  convert->add_flag("--json", options.json, "Print a JSON summary on stdout");
  convert->add_flag("-q,--quiet", options.quiet, "Print nothing on success");
  convert->footer("Example: amn convert model.pth --to gguf -o model.gguf");

  auto* remember = app.add_subcommand("remember", "Recover full precision into safetensors (alias: dequantize)");
  remember->alias("dequantize");
  remember->add_option("input", options.input, "Model file or directory (shards)")->required();
  remember->add_option("-o,--output", options.output, "Output .safetensors file")->required();
  remember->add_option("--dtype", options.dtype, "Output float type")->check(CLI::IsMember(dtype_names));
  remember->add_flag("-f,--force", options.force, "Replace an existing output");
  remember->add_flag("--json", options.json, "Print a JSON summary on stdout");
  remember->add_flag("-q,--quiet", options.quiet, "Print nothing on success");
  remember->footer("Example: amn remember model.gguf --dtype bf16 -o model.safetensors");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    int code = app.exit(error);
    return code == 0 ? 0 : kExitUsage;
  }

  amn::io::install_cleanup_handlers();
  try {
    if (inspect->parsed()) return run_report(options, false);
    if (parse->parsed()) return run_report(options, true);
    if (convert->parsed()) return run_convert(options, "convert");
    if (remember->parsed()) return run_convert(options, "remember");
  } catch (const amn::Error& error) {
    std::cerr << "amn: error: " << error.what() << '\n';
    return error.code() == amn::ErrorCode::Usage ? kExitUsage : kExitError;
  } catch (const std::exception& error) {
    std::cerr << "amn: error: " << error.what() << '\n';
    return kExitError;
  }
  return kExitUsage;
}
