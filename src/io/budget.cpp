// Heap accounting for one open (see budget.hpp).
#include "io/budget.hpp"

#include <algorithm>

#include "amn/error.hpp"

namespace amn::io {
namespace {

thread_local HeapBudget* g_current = nullptr;

}  // namespace

HeapBudget::HeapBudget(const Limits& limits) : limits_(limits) {
  if (g_current != nullptr) return;
  g_current = this;
  current_ = true;
}

HeapBudget::~HeapBudget() {
  if (current_) g_current = nullptr;
}

uint64_t HeapBudget::used() { return g_current == nullptr ? 0 : g_current->used_; }

void charge(const std::string& file, uint64_t bytes, std::string_view what) {
  HeapBudget* budget = g_current;
  if (budget == nullptr) return;
  const Limits& limits = budget->limits_;
  if (bytes > limits.max_alloc) {
    fail_limit(file, std::string(what) + ": an allocation of " + std::to_string(bytes) +
                         " bytes exceeds the allocation cap (max_alloc) of " + std::to_string(limits.max_alloc));
  }
  if (bytes > limits.max_total - std::min(budget->used_, limits.max_total)) {
    fail_limit(file, std::string(what) + ": " + std::to_string(bytes) + " more bytes would bring this open's heap to " +
                         std::to_string(budget->used_ + bytes) + ", above the total cap (max_total) of " +
                         std::to_string(limits.max_total));
  }
  budget->used_ += bytes;
}

}  // namespace amn::io
