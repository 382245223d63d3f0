#!/usr/bin/env bash
# Quick start: installs what is missing, builds amn, then inspects the bundled sample model and
# remembers it (dequantises every quantised tensor to BF16 safetensors).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
sample=samples/tiny-llama.gguf
out=$(mktemp -d)/tiny-llama.safetensors
set -x
build/src/cli/amn inspect "$sample"
build/src/cli/amn remember "$sample" -o "$out"
build/src/cli/amn inspect "$out"
