#!/usr/bin/env bash
# Builds the libFuzzer targets (clang + ASan + UBSan, in build-fuzz/) and runs each for a while,
# seeded from test/fixtures and test/hostile; the corpus grows in build-fuzz/corpus/<target>.
# Usage: test/fuzz/run.sh [-t SECONDS] [TARGET...]   (default 60 s each, every target)
# Prints one line per target (executions, seconds, crashes) and ends with "N passed, N failed".
# A crash, leak, timeout or out-of-memory leaves its input in build-fuzz/crashes/: minimise it
# (fuzz_TARGET -minimize_crash=1 -runs=10000 FILE), fix the reader, and commit the input under
# test/hostile/ with an expect.tsv line.
set -uo pipefail
cd "$(dirname "$0")/../.."

seconds=60
rss_mb=${FUZZ_RSS_MB:-2048}
if [ "${1:-}" = "-t" ]; then
  seconds=$2
  shift 2
fi
all_targets=(safetensors index gguf npy npz zip pth pickle schemes json)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

build=build-fuzz
clangxx=$(command -v clang++-14 || command -v clang++ || true)
if [ -z "$clangxx" ] || ! compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null; then
  echo "fuzz: installing clang-14 and libclang-rt-14-dev" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q clang-14 libclang-rt-14-dev >/dev/null
  clangxx=$(command -v clang++-14)
fi
if [ ! -f "$build/build.ninja" ]; then
  CXX="$clangxx" meson setup "$build" -Dfuzz=enabled -Dtests=disabled -Db_sanitize=address,undefined \
    -Db_lundef=false -Dbuildtype=debugoptimized >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
fi
mkdir -p "$build/crashes"

# Seeds per target: files from the fixtures and the hostile corpus, by suffix.
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
seed_files() {  # TARGET -> the seed files' paths
  case "$1" in
    safetensors|schemes) find test/fixtures test/hostile -name '*.safetensors' ;;
    index) find test/fixtures -name '*.index.json' ;;
    json) find test/fixtures test/hostile -name '*.json' -size -512k ;;
    gguf) find test/fixtures test/hostile -name '*.gguf' ;;
    npy) find test/fixtures test/hostile -name '*.npy' ;;
    npz) find test/fixtures test/hostile -name '*.npz' -o -name '*.zip' ;;
    zip) find test/fixtures test/hostile -name '*.npz' -o -name '*.zip' -o -name '*.pth' -o -name '*.pt' ;;
    pth) find test/fixtures test/hostile -name '*.pth' -o -name '*.pt' ;;
  esac
}
for target in "${targets[@]}"; do
  mkdir -p "$seeds/$target" "$build/corpus/$target"
  if [ "$target" = pickle ]; then  # the data.pkl of every torch archive we have
    python3 - "$seeds/pickle" $(seed_files pth) <<'PY'
import sys, zipfile
for idx, path in enumerate(sys.argv[2:]):
    try:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.endswith("data.pkl"):
                    open(f"{sys.argv[1]}/{idx}.pkl", "wb").write(archive.read(name))
    except Exception:
        pass
PY
  else
    # named after their path: fixtures in different folders share names (config.json)
    seed_files "$target" | while read -r file; do cp "$file" "$seeds/$target/${file//\//_}"; done
  fi
done

# Pointer overflow is recoverable in this build (see meson.build): halt on it unless suppressed.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$PWD/test/ubsan.supp"
passed=0
failed=0
for target in "${targets[@]}"; do
  log="$build/crashes/$target.log"
  if ! ninja -C "$build" "test/fuzz/fuzz_$target" >"$log" 2>&1; then
    failed=$((failed + 1))
    echo "fuzz $target: FAILED to build; log $log"
    grep -m3 "error" "$log" | sed 's/^/  /'
    continue
  fi
  # Inputs stay small enough for thousands of runs a second; the pickle seeds hold 200 KB
  # streams whose first 16 KB already nest past every cap.
  max_len=65536
  [ "$target" = pickle ] && max_len=16384
  start=$(date +%s)
  "$build/test/fuzz/fuzz_$target" -max_total_time="$seconds" -rss_limit_mb="$rss_mb" -timeout=10 \
    -max_len="$max_len" -print_final_stats=1 -artifact_prefix="$build/crashes/$target-" \
    "$build/corpus/$target" "$seeds/$target" >"$log" 2>&1
  rc=$?
  elapsed=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  artifacts=$(grep -c "^artifact_prefix=\|Test unit written to" "$log")
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    echo "fuzz $target: ${execs:-0} executions in ${elapsed} s, 0 crashes"
  else
    failed=$((failed + 1))
    echo "fuzz $target: FAILED (exit $rc) after ${execs:-?} executions in ${elapsed} s, ${artifacts} crash input(s); log $log"
    grep -m1 -A3 "ERROR: \|==ERROR\|runtime error" "$log" | sed 's/^/  /'
    grep "Test unit written to" "$log" | sed 's/^/  /'
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
