// What the machine allows a run: threads (SLURM, cgroup CPU quota, cores) and memory (cgroup
// memory limit). Read once per conversion; the engine knows nothing of where they come from.
#pragma once

#include <cstdint>
#include <string>

namespace amn::stages {

/// The engine's thread count and, when a requested count was lowered, a note saying so.
struct ThreadChoice {
  unsigned threads = 1;
  std::string lowered;  ///< "" or e.g. "--threads 100000 lowered to 8 threads (...)"
};

/// `requested` (--threads), else SLURM_CPUS_PER_TASK when it holds a positive number, each
/// lowered to min(4 × cores, 1024) (a typo or a value meant for another machine must not start
/// a hundred thousand threads); else the cgroup CPU quota, else the cores.
[[nodiscard]] ThreadChoice choose_threads(unsigned requested);

/// The budget after the cgroup check: at most half of the memory limit (page cache counts
/// there too).
[[nodiscard]] uint64_t effective_budget(uint64_t requested);

}  // namespace amn::stages
