// Covers the dtype table: ggml block geometry and checked size arithmetic.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "amn/dtype.hpp"

TEST_CASE("every ggml id maps back to its dtype") {
  for (const auto& entry : amn::all_dtypes()) {
    if (entry.gguf_id < 0) continue;
    auto found = amn::dtype_from_gguf_id(static_cast<uint32_t>(entry.gguf_id));
    REQUIRE(found.has_value());
    CHECK(*found == entry.type);
  }
  CHECK_FALSE(amn::dtype_from_gguf_id(4).has_value());   // removed Q4_2
  CHECK_FALSE(amn::dtype_from_gguf_id(31).has_value());  // removed Q4_0_4_4
  CHECK_FALSE(amn::dtype_from_gguf_id(43).has_value());
}

TEST_CASE("byte sizes respect blocks and sub-byte types") {
  CHECK(amn::byte_size(amn::DType::Q4_K, 512) == 288u);
  CHECK_FALSE(amn::byte_size(amn::DType::Q4_K, 100).has_value());
  CHECK(amn::byte_size(amn::DType::F4, 4) == 2u);
  CHECK_FALSE(amn::byte_size(amn::DType::F4, 3).has_value());
  CHECK_FALSE(amn::byte_size(amn::DType::F64, UINT64_MAX / 4).has_value());
  CHECK(amn::dtype_from_name("F16") == amn::DType::F16);
  CHECK_FALSE(amn::dtype_from_name("f16").has_value());
}

TEST_CASE("element counts reject overflow and negative dims") {
  std::vector<int64_t> ok{3, 4};
  CHECK(amn::element_count(ok) == 12u);
  std::vector<int64_t> big{int64_t{1} << 32, int64_t{1} << 32, 16};
  CHECK_FALSE(amn::element_count(big).has_value());
  std::vector<int64_t> neg{-1, 4};
  CHECK_FALSE(amn::element_count(neg).has_value());
  std::vector<int64_t> scalar{};
  CHECK(amn::element_count(scalar) == 1u);
}
