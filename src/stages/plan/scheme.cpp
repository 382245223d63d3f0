// Naming the quantisation scheme for inspect: the GGUF block types by count, and the multi-tensor
// schemes by the recognisers remember uses (src/stages/schemes/), so both follow one rule.
#include <map>
#include <string>

#include "amn/amn.hpp"
#include "stages/schemes/schemes.hpp"

namespace amn {
namespace {

/// "GGUF Q4_K", or "GGUF Q4_K (mixed: Q4_K Q6_K)" when several block types are present.
std::string gguf_blocks(const Catalog& catalog) {
  std::map<std::string, size_t> block_types;
  for (const auto& tensor : catalog.tensors) {
    if (is_block_type(tensor.dtype)) ++block_types[std::string(info(tensor.dtype).name)];
  }
  if (block_types.empty()) return "";
  auto most = block_types.begin();
  for (auto it = block_types.begin(); it != block_types.end(); ++it) {
    if (it->second > most->second) most = it;
  }
  std::string scheme = "GGUF " + most->first;
  if (block_types.size() > 1) {
    scheme += " (mixed:";
    for (const auto& [type, count] : block_types) scheme += " " + type;
    scheme += ")";
  }
  return scheme;
}

}  // namespace

std::string quant_scheme(const Catalog& catalog, const Limits& limits) {
  const std::string blocks = gguf_blocks(catalog);
  const std::string schemes = stages::recognise_schemes(stages::make_scheme_context(catalog, limits)).scheme;
  if (blocks.empty() || schemes.empty()) return blocks + schemes;
  return blocks + " + " + schemes;
}

}  // namespace amn
