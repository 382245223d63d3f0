#!/usr/bin/env bash
# Installs what is missing, builds amn, runs the default test suite (doctest unit tests, then
# the CLI tests that load amn's outputs with numpy/safetensors/gguf-py), and ends with one line
# "N passed, N failed" counting both.
# Usage: scripts/test.sh [--sanitize | --clients | --slurm]
#   --sanitize: the same suite on an ASan+UBSan build in build-asan/
#   --clients:  the tools users feed amn's outputs to load them and compute the same thing
#               (test/clients: llama.cpp, built CPU-only from the pinned llama-cpp-python sdist;
#               transformers loading amn's model directories)
#   --slurm:    amn batch and remember --shard on a one-node Slurm cluster started for the test
#               (test/slurm: munged, slurmctld, slurmd as root under a temporary directory)
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh "$(case "${1:-}" in --clients | --slurm) echo "$1" ;; *) echo --test ;; esac)" || { echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Runs pytest on the given paths and adds its counts (an exit without a counted failure is one).
run_pytest() {
  python3 -m pytest -q -p no:cacheprovider "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]} part_passed part_failed
  part_passed=$(tail -1 "$log" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || true)
  part_failed=$(tail -1 "$log" | grep -oE '[0-9]+ (failed|errors?)' | awk '{sum += $1} END {print sum + 0}')
  part_passed=${part_passed:-0}
  part_failed=${part_failed:-0}
  [ "$rc" -eq 0 ] || [ "$part_failed" -gt 0 ] || part_failed=1
  passed=$((passed + part_passed))
  failed=$((failed + part_failed))
}

build=build
if [ "${1:-}" = "--clients" ]; then
  python3 -c "import sys; sys.path.insert(0, 'test/fixtures/gen'); import llama_cpp; llama_cpp.tool('llama-simple')" \
    >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
  AMN_BIN="$PWD/$build/src/cli/amn" run_pytest test/clients
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
fi
if [ "${1:-}" = "--slurm" ]; then
  AMN_BIN="$PWD/$build/src/cli/amn" run_pytest -rs test/slurm
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
fi
if [ "${1:-}" = "--sanitize" ]; then
  build=build-asan
  [ -f "$build/build.ninja" ] || meson setup "$build" -Db_sanitize=address,undefined -Db_lundef=false \
    --buildtype=debugoptimized >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
  ninja -C "$build" >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:hard_rss_limit_mb=4096
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$PWD/test/ubsan.supp"
  export AMN_SANITIZE=1  # CLI tests widen time bounds and skip address-space limits
fi

"$build/test/amn-unit" 2>&1 | tee "$log"
unit_rc=${PIPESTATUS[0]}
unit_passed=$(sed -n 's/^\[doctest\] test cases: *[0-9]* *| *\([0-9]*\) passed.*/\1/p' "$log" | tail -1)
unit_failed=$(sed -n 's/^\[doctest\] test cases:.*| *\([0-9]*\) failed.*/\1/p' "$log" | tail -1)
unit_passed=${unit_passed:-0}
unit_failed=${unit_failed:-1}
[ "$unit_rc" -eq 0 ] || [ "$unit_failed" -gt 0 ] || unit_failed=1
passed=$unit_passed
failed=$unit_failed

AMN_BIN="$PWD/$build/src/cli/amn" AMN_EXAMPLE="$PWD/$build/examples/read_and_convert" run_pytest test/cli

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
