// Heap accounting for one open: readers charge what they allocate from input-controlled sizes
// against Limits::max_alloc (one allocation) and Limits::max_total (the running sum).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "amn/limits.hpp"

namespace amn::io {

/// Bytes charged for one node of a hash set/map or tree (key and value charged on top).
constexpr uint64_t kNodeBytes = 64;

/// The running total of what one open_model (or one direct reader call) has allocated. While a
/// HeapBudget lives it is current on its thread, unless an outer one already was: the budget of
/// open_model then covers every shard, index and pickle it reads. Charges are never refunded, so
/// the total bounds the peak as well.
class HeapBudget {
 public:
  explicit HeapBudget(const Limits& limits);
  ~HeapBudget();
  HeapBudget(const HeapBudget&) = delete;
  HeapBudget& operator=(const HeapBudget&) = delete;

  /// Bytes charged so far to the budget current on this thread (0 when none is).
  [[nodiscard]] static uint64_t used();

 private:
  friend void charge(const std::string& file, uint64_t bytes, std::string_view what);
  Limits limits_;
  uint64_t used_ = 0;
  bool current_ = false;  ///< this object is the thread's current budget
};

/// Charges `bytes` that the reader of `file` is about to allocate for `what`. Throws
/// Error(Limit) naming both when one allocation exceeds max_alloc or the running total would
/// exceed max_total of the current budget. Without a current budget (reading tensor data during
/// a conversion, which the memory budget bounds instead) it checks nothing.
void charge(const std::string& file, uint64_t bytes, std::string_view what);

}  // namespace amn::io
