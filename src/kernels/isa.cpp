// Choosing the kernel implementation level once per process (kernels/isa.hpp).
#include "kernels/isa.hpp"

#include <array>
#include <cstdlib>
#include <utility>
#include <vector>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace amn::kernels {
namespace {

constexpr std::array kIsaNames = {
    std::pair{Isa::Scalar, std::string_view("scalar")},
    std::pair{Isa::Avx2, std::string_view("avx2")},
    std::pair{Isa::Avx512, std::string_view("avx512")},
    std::pair{Isa::Avx512Bf16, std::string_view("avx512bf16")},
};

#if defined(__x86_64__)
/// F16C from CPUID leaf 1 (Clang's __builtin_cpu_supports does not know "f16c"); the OS side
/// (AVX state) is what the "avx2" check already covers.
bool cpu_has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
}
#endif

bool cpu_has(Isa isa) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  switch (isa) {
    case Isa::Scalar:
      return true;
    case Isa::Avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c() &&
             __builtin_cpu_supports("bmi2");
    case Isa::Avx512:
      return cpu_has(Isa::Avx2) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    case Isa::Avx512Bf16:
      return cpu_has(Isa::Avx512) && __builtin_cpu_supports("avx512bf16");
  }
  return false;
#else
  return isa == Isa::Scalar;
#endif
}

}  // namespace

std::string_view isa_name(Isa isa) {
  for (const auto& [level, name] : kIsaNames) {
    if (level == isa) return name;
  }
  return "unknown";
}

std::optional<Isa> isa_from_name(std::string_view name) {
  for (const auto& [level, level_name] : kIsaNames) {
    if (level_name == name) return level;
  }
  return std::nullopt;
}

std::span<const Isa> supported_isas() {
  static const std::vector<Isa> supported = [] {
    std::vector<Isa> levels;
    for (const auto& [level, name] : kIsaNames) {
      if (cpu_has(level)) levels.push_back(level);
    }
    return levels;
  }();
  return supported;
}

bool isa_supported(Isa isa) {
  for (const Isa level : supported_isas()) {
    if (level == isa) return true;
  }
  return false;
}

Isa select_isa(const char* forced) {
  const auto supported = supported_isas();
  const auto requested = forced ? isa_from_name(forced) : std::nullopt;
  if (!requested) return supported.back();
  Isa chosen = Isa::Scalar;
  for (const Isa level : supported) {
    if (level <= *requested) chosen = level;
  }
  return chosen;
}

Isa active_isa() {
  static const Isa chosen = select_isa(std::getenv(kForceIsaVariable));
  return chosen;
}

}  // namespace amn::kernels
