"""llama.cpp loads the GGUF files amn writes and computes the same thing: a short greedy
generation with llama-simple on amn's `convert --quant` output (every type llama-quantize made,
with and without --pure and --imatrix) prints exactly what it printed on llama-quantize's own
file (test/fixtures/llama/expected_generate.tsv), and amn's float --dtype GGUF outputs load too.
With llama-quantize's per-tensor overrides, llama-quantize itself runs beside amn on the same input
with the same options and the two files must be equal byte for byte (and load).

Run by `scripts/test.sh --clients`, which builds llama.cpp's tools (test/fixtures/gen/llama_cpp.py)."""
import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "test" / "cli"))
sys.path.insert(0, str(ROOT / "test" / "fixtures" / "gen"))
import llama_cpp  # noqa: E402
from conftest import FIXTURES, run  # noqa: E402
from test_quant_overrides import IMATRIX as OVERRIDE_IMATRIX, RUNS as OVERRIDE_RUNS, source_of  # noqa: E402

LLAMA = FIXTURES / "llama"
MODEL = LLAMA / "tiny-llama-f16.gguf"
IMATRIX = LLAMA / "imatrix.gguf"
PROMPT = "Once upon a time"
N_PREDICT = 8


def expected_generations():
    """{(ftype, pure, imatrix): llama-simple's stdout on llama-quantize's file}."""
    runs = {}
    for line in (LLAMA / "expected_generate.tsv").read_text().splitlines()[1:]:
        ftype, pure, imatrix, text = line.split("\t", 3)
        runs[(ftype, pure == "1", imatrix == "1")] = json.loads(text)
    return runs


EXPECTED = expected_generations()


def generate(path):
    """llama-simple's greedy continuation of PROMPT on the model at `path` (it must load)."""
    proc = subprocess.run([str(llama_cpp.tool("llama-simple")), "-m", str(path), "-n", str(N_PREDICT), PROMPT],
                          capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    return proc.stdout.decode("utf-8", errors="surrogateescape").rstrip("\n")


@pytest.mark.parametrize("key", [k for k in EXPECTED if k[0] != "SOURCE"],
                         ids=lambda k: f"{k[0]}{'-pure' if k[1] else ''}{'-imatrix' if k[2] else ''}")
def test_llama_cpp_generates_the_same_from_amn_quant(key, tmp_path):
    ftype, pure, imatrix = key
    out = tmp_path / "out.gguf"
    args = ["--quant", ftype] + (["--pure"] if pure else []) + (["--imatrix", IMATRIX] if imatrix else [])
    run("convert", MODEL, *args, "-o", out, "-q", check=0)
    assert generate(out) == EXPECTED[key]


@pytest.mark.parametrize("dtype,ftype", [("f32", "F32"), ("f16", "F16"), ("bf16", "BF16")])
def test_llama_cpp_loads_amn_float_gguf(dtype, ftype, tmp_path):
    """`convert --to gguf --dtype` keeps 1-D tensors F32 and sets general.file_type, as llama.cpp needs."""
    out = tmp_path / "out.gguf"
    run("convert", MODEL, "--to", "gguf", "--dtype", dtype, "-o", out, "-q", check=0)
    assert generate(out) == EXPECTED[(ftype, False, False)]


def test_llama_cpp_loads_a_gguf_round_tripped_through_safetensors(tmp_path):
    """GGUF -> safetensors -> GGUF keeps every KV with its type (`gguf:` values in __metadata__),
    so llama.cpp accepts general.file_type, the tokenizer arrays... and generates as before."""
    middle, out = tmp_path / "model.safetensors", tmp_path / "out.gguf"
    run("convert", MODEL, "--to", "safetensors", "-o", middle, "-q", check=0)
    run("convert", middle, "--to", "gguf", "-o", out, "-q", check=0)
    assert generate(out) == EXPECTED[("SOURCE", False, False)]


@pytest.mark.parametrize("name", [n for n, entry in OVERRIDE_RUNS.items() if "error" not in entry])
def test_overrides_write_the_file_llama_quantize_writes(name, tmp_path):
    entry = OVERRIDE_RUNS[name]
    source = source_of(entry, tmp_path)
    options = list(entry["options"]) + (["--imatrix", str(OVERRIDE_IMATRIX)] if entry["imatrix"] else [])
    theirs, ours = tmp_path / "llama-quantize.gguf", tmp_path / "amn.gguf"
    proc = subprocess.run([str(llama_cpp.tool("llama-quantize")), *options, str(source), str(theirs), entry["ftype"], "2"],
                          capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    run("convert", source, "--quant", entry["ftype"], *options, "-o", ours, "-q", check=0)
    assert ours.read_bytes() == theirs.read_bytes()
    if entry["input"] in ("model", "tied"):  # llama.cpp's llama has no per_layer_token_embd; odd is no model
        generate(ours)
