#!/usr/bin/env bash
# Installs what amn needs on Debian 12 (only what is missing), then builds it (release) into build/.
# Usage: scripts/setup.sh [--test | --clients | --slurm]   (--test also installs the Python packages the tests
# use; --clients also cmake, to build llama.cpp's tools for scripts/test.sh --clients, and torch +
# transformers for the transformers client test; --slurm also slurm-wlm and munge for
# scripts/test.sh --slurm)
set -euo pipefail
cd "$(dirname "$0")/.."

debs=(g++ meson ninja-build pkg-config libtbb-dev liburing-dev rapidjson-dev libdeflate-dev libcli11-dev doctest-dev zlib1g-dev python3 python3-pip)
[ "${1:-}" = "--clients" ] && debs+=(cmake)
[ "${1:-}" = "--slurm" ] && debs+=(slurm-wlm munge)
missing=()
for pkg in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}" >/dev/null
fi

if [ "${1:-}" = "--test" ] || [ "${1:-}" = "--clients" ] || [ "${1:-}" = "--slurm" ]; then
  # The tests load amn's outputs back with the libraries that define each format; no torch:
  # safetensors files (bf16 and fp8 too) are read raw with safetensors.deserialize and numpy.
  if ! python3 -c "import numpy, safetensors, gguf, pytest" 2>/dev/null; then
    echo "setup: installing numpy safetensors gguf pytest (pip)" >&2
    python3 -m pip install -q numpy safetensors gguf pytest 2>/dev/null ||
      python3 -m pip install -q --break-system-packages numpy safetensors gguf pytest
  fi
fi

if [ "${1:-}" = "--clients" ] && ! python3 -c "import torch, transformers" 2>/dev/null; then
  # test/clients/test_transformers.py loads amn's model directories with transformers (CPU).
  # Measured in a fresh venv on the 2-core machine: 69 s, 5.6 GB (PyPI's torch pulls its CUDA libraries).
  echo "setup: installing torch transformers (pip)" >&2
  python3 -m pip install -q torch transformers 2>/dev/null ||
    python3 -m pip install -q --break-system-packages torch transformers
fi

if [ "${1:-}" = "--clients" ] && ! python3 -c "import bitsandbytes, accelerate, compressed_tensors" 2>/dev/null; then
  # test/clients/test_transformers_encode.py: transformers loads amn's bitsandbytes / FP8 directories.
  echo "setup: installing bitsandbytes accelerate compressed-tensors (pip)" >&2
  python3 -m pip install -q bitsandbytes accelerate compressed-tensors 2>/dev/null ||
    python3 -m pip install -q --break-system-packages bitsandbytes accelerate compressed-tensors
fi

[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
echo "setup: built build/src/cli/amn" >&2
