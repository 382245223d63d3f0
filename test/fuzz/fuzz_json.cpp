// libFuzzer target: the untrusted-JSON policy (src/io/json.hpp) as every side file beside the
// weights goes through it — config.json, quantize_config.json — parsed into a DOM under a heap
// budget, then read as recognition reads it (the GPTQ/AWQ quantisation config).
#include <string>
#include <string_view>

#include "fuzz_common.hpp"
#include "io/budget.hpp"
#include "io/json.hpp"
#include "stages/schemes/qweight.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  amn::fuzz::refusals_allowed([&] {
    amn::io::HeapBudget budget(amn::fuzz::limits());
    (void)amn::io::parse_json("config.json", text, "");
  });
  // The same text as quantize_config.json beside a catalog without tensors: read_config walks it.
  amn::fuzz::refusals_allowed([&] {
    const amn::Catalog catalog;
    amn::stages::SchemeContext context = amn::stages::make_scheme_context(catalog);
    context.quantize_config = amn::stages::SideJson::text("quantize_config.json", std::string(text));
    (void)amn::stages::qweight::read_config(context);
  });
  return 0;
}
