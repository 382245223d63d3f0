// What the machine allows a run: threads (SLURM, cgroup CPU quota, cores) and memory (cgroup
// memory limit). Read once per conversion; the engine knows nothing of where they come from.
#pragma once

#include <cstdint>

namespace amn::stages {

/// Default thread count: SLURM_CPUS_PER_TASK, else the cgroup CPU quota, else the cores.
[[nodiscard]] unsigned default_threads();

/// The budget after the cgroup check: at most half of the memory limit (page cache counts
/// there too).
[[nodiscard]] uint64_t effective_budget(uint64_t requested);

}  // namespace amn::stages
