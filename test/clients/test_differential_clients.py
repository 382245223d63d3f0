"""Differential fuzzing against the canonical parsers that need the clients' tools, at a fixed
seed (hostile-inputs case 65): 300 mutants of test/fixtures/pth against
torch.load(weights_only=True), and 300 of test/fixtures/gguf against ggml's own
gguf_init_from_file (test/fuzz/gguf_probe.cpp, built here against llama.cpp's libggml-base.a).
Every disagreement must be a deliberate difference listed in test/fuzz/differential.py (and
docs/security.md). Run by `scripts/test.sh --clients`."""
import pathlib
import subprocess
import sys

import torch  # noqa: F401  (the canonical .pth parser; the import fails loudly where it is missing)

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "test" / "fuzz"))
sys.path.insert(0, str(ROOT / "test" / "fixtures" / "gen"))
import differential  # noqa: E402
import llama_cpp  # noqa: E402


def check(fmt):
    stats, findings, _ = differential.run([fmt], seed="0", mutants=300)
    assert findings == []
    counts = stats[fmt]
    assert sum(counts.values()) == 300
    assert counts["both refuse"] > 0 and counts["both accept, equal"] > 0


def test_amn_agrees_with_torch_load():
    check("pth")


def test_amn_agrees_with_ggml(tmp_path):
    include, libs = llama_cpp.ggml_libs()
    probe = tmp_path / "gguf_probe"
    subprocess.run(["g++", "-O1", "-std=c++17", f"-I{include}", str(ROOT / "test" / "fuzz" / "gguf_probe.cpp"),
                    *map(str, libs), "-fopenmp", "-lpthread", "-lm", "-o", str(probe)], check=True)
    differential.GGML_PROBE = str(probe)
    check("ggml")
