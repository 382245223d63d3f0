// Included first (meson: -include) by the AVX2 build of the quantisers (quant_*.cpp and
// quant_level.cpp compiled again with AMN_QUANT_LEVEL=avx2 and -ffp-contract=off): it includes
// every header those sources use, then opens an AVX2 target region for the rest of the file.
//
// Only code defined after the pragma uses AVX2: the quantisers and quant_common.hpp, all in the
// avx2 namespace. Everything shared with the scalar build (the standard library, blocks, tables,
// conversions) is defined here, before it, so the linker never picks an AVX2 copy of a function
// the scalar path calls. A quantiser source that needs another header adds it here.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "amn/dtype.hpp"
#include "kernels/convert.hpp"
#include "kernels/gguf/blocks.hpp"
#include "kernels/gguf/scales.hpp"
#include "kernels/gguf/tables.hpp"

#pragma GCC target("avx2,fma,f16c,bmi2")
