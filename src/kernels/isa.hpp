// CPU instruction-set levels the kernels are compiled for, and the one this process uses:
// chosen once, the best the CPU supports, unless AMN_FORCE_ISA names another.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace amn::kernels {

/// Kernel implementation levels, lowest first.
enum class Isa : uint8_t {
  Scalar,      ///< the scalar reference kernels (the definition), for any CPU
  Avx2,        ///< AVX2 + FMA + F16C + BMI2 (x86-64-v3)
  Avx512,      ///< AVX-512 F/BW/VL/DQ (x86-64-v4)
  Avx512Bf16,  ///< AVX-512 + AVX512_BF16 (Zen 4, Sapphire Rapids): bf16 narrowing in one instruction
};

/// The environment variable that forces an implementation: scalar, avx2, avx512 or avx512bf16.
inline constexpr const char* kForceIsaVariable = "AMN_FORCE_ISA";

/// Lower-case name of `isa` ("scalar", "avx2", "avx512", "avx512bf16").
[[nodiscard]] std::string_view isa_name(Isa isa);
/// The level spelled `name`, if any.
[[nodiscard]] std::optional<Isa> isa_from_name(std::string_view name);
/// True when this CPU (and OS) can run `isa` and the build contains it.
[[nodiscard]] bool isa_supported(Isa isa);
/// Every level isa_supported accepts, lowest first.
[[nodiscard]] std::span<const Isa> supported_isas();
/// The level a process with AMN_FORCE_ISA = `forced` (nullptr: unset) uses: the named level when
/// supported, else the best supported level below it; the best supported level when unset or
/// unknown.
[[nodiscard]] Isa select_isa(const char* forced);
/// The level this process uses: select_isa(getenv(AMN_FORCE_ISA)), evaluated once.
[[nodiscard]] Isa active_isa();

}  // namespace amn::kernels
