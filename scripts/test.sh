#!/usr/bin/env bash
# Installs what is missing, builds amn, runs the default test suite (doctest unit tests, then
# the CLI tests that load amn's outputs with numpy/safetensors/gguf-py), and ends with one line
# "N passed, N failed" counting both.
# Usage: scripts/test.sh [--sanitize]   (--sanitize: the same suite on an ASan+UBSan build in build-asan/)
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test || { echo "0 passed, 1 failed"; exit 1; }

build=build
if [ "${1:-}" = "--sanitize" ]; then
  build=build-asan
  [ -f "$build/build.ninja" ] || meson setup "$build" -Db_sanitize=address,undefined -Db_lundef=false \
    --buildtype=debugoptimized >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
  ninja -C "$build" >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:hard_rss_limit_mb=4096
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$PWD/test/ubsan.supp"
  export AMN_SANITIZE=1  # CLI tests widen time bounds and skip address-space limits
fi

log=$(mktemp)
"$build/test/amn-unit" 2>&1 | tee "$log"
unit_rc=${PIPESTATUS[0]}
unit_passed=$(sed -n 's/^\[doctest\] test cases: *[0-9]* *| *\([0-9]*\) passed.*/\1/p' "$log" | tail -1)
unit_failed=$(sed -n 's/^\[doctest\] test cases:.*| *\([0-9]*\) failed.*/\1/p' "$log" | tail -1)
unit_passed=${unit_passed:-0}
unit_failed=${unit_failed:-1}
[ "$unit_rc" -eq 0 ] || [ "$unit_failed" -gt 0 ] || unit_failed=1

AMN_BIN="$PWD/$build/src/cli/amn" AMN_EXAMPLE="$PWD/$build/examples/read_and_convert" python3 -m pytest -q -p no:cacheprovider test/cli 2>&1 | tee "$log"
py_rc=${PIPESTATUS[0]}
py_passed=$(tail -1 "$log" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || true)
py_failed=$(tail -1 "$log" | grep -oE '[0-9]+ (failed|errors?)' | awk '{sum += $1} END {print sum + 0}')
py_passed=${py_passed:-0}
py_failed=${py_failed:-0}
[ "$py_rc" -eq 0 ] || [ "$py_failed" -gt 0 ] || py_failed=1
rm -f "$log"

passed=$((unit_passed + py_passed))
failed=$((unit_failed + py_failed))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
