// Probing the machine: cgroup v1/v2 limits along this process's path, SLURM's CPU count.
#include "stages/engine/system.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

namespace amn::stages {
namespace {

/// One line of a small text file, or "".
std::string read_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

/// A number from a cgroup file; nullopt for "max", -1, absent, or v1's "unlimited" (≥ 2^60).
std::optional<double> cgroup_number(const std::string& path) {
  std::string text = read_line(path);
  if (text.empty() || text.rfind("max", 0) == 0) return std::nullopt;
  double value = std::strtod(text.c_str(), nullptr);
  if (value <= 0 || value >= 1.15e18) return std::nullopt;
  return value;
}

/// The limits of this process's cgroups (v2, or v1 memory and cpu controllers), each the
/// smallest along the path to the root.
struct CgroupLimits {
  std::optional<double> memory_bytes;
  std::optional<double> cpus;
};

CgroupLimits cgroup_limits() {
  CgroupLimits limits;
  auto keep_min = [](std::optional<double>& slot, std::optional<double> value) {
    if (value && (!slot || *value < *slot)) slot = value;
  };
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    // "hierarchy-id:controllers:path"
    size_t first = line.find(':');
    size_t second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    std::string controllers = line.substr(first + 1, second - first - 1);
    std::string path = line.substr(second + 1);
    bool v2 = line.rfind("0::", 0) == 0;
    bool memory = controllers == "memory";
    bool cpu = controllers == "cpu" || controllers.rfind("cpu,", 0) == 0;
    if (!v2 && !memory && !cpu) continue;
    std::string root = v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/" + controllers;
    for (std::string dir = path;; dir = dir.substr(0, dir.rfind('/'))) {
      std::string base = root + (dir == "/" ? "" : dir);
      if (v2) {
        keep_min(limits.memory_bytes, cgroup_number(base + "/memory.max"));
        double quota = 0, period = 0;
        if (std::sscanf(read_line(base + "/cpu.max").c_str(), "%lf %lf", &quota, &period) == 2 && period > 0) {
          keep_min(limits.cpus, quota / period);
        }
      } else if (memory) {
        keep_min(limits.memory_bytes, cgroup_number(base + "/memory.limit_in_bytes"));
      } else {
        auto quota = cgroup_number(base + "/cpu.cfs_quota_us");
        auto period = cgroup_number(base + "/cpu.cfs_period_us");
        if (quota && period) keep_min(limits.cpus, *quota / *period);
      }
      if (dir.empty() || dir == "/") break;
    }
  }
  return limits;
}

}  // namespace

ThreadChoice choose_threads(unsigned requested) {
  constexpr uint64_t kMaxThreads = 1024;
  constexpr uint64_t kThreadsPerCore = 4;
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const uint64_t ceiling = std::min(kMaxThreads, kThreadsPerCore * cores);
  std::string source = "--threads";
  uint64_t wanted = requested;
  if (wanted == 0) {
    const char* slurm = std::getenv("SLURM_CPUS_PER_TASK");
    const long long value = slurm ? std::strtoll(slurm, nullptr, 10) : 0;  // saturates instead of overflowing
    if (value > 0) {
      wanted = static_cast<uint64_t>(value);
      source = "SLURM_CPUS_PER_TASK";
    }
  }
  if (wanted == 0) {
    auto cpus = cgroup_limits().cpus;
    return {cpus ? std::clamp(static_cast<unsigned>(std::ceil(*cpus)), 1u, cores) : cores, ""};
  }
  if (wanted <= ceiling) return {static_cast<unsigned>(wanted), ""};
  return {static_cast<unsigned>(ceiling), source + " " + std::to_string(wanted) + " lowered to " + std::to_string(ceiling) +
                                              " threads (" + std::to_string(kThreadsPerCore) + " per core on " +
                                              std::to_string(cores) + " cores, at most " + std::to_string(kMaxThreads) + ")"};
}

uint64_t effective_budget(uint64_t requested) {
  auto limit = cgroup_limits().memory_bytes;
  if (!limit) return requested;
  return std::min<uint64_t>(requested, static_cast<uint64_t>(*limit / 2));
}

}  // namespace amn::stages
