"""`amn convert --quant` with llama-quantize's per-tensor overrides (--output-tensor-type,
--token-embedding-type, --leave-output-tensor, --tensor-type PATTERN=TYPE) against llama-quantize
run with the same options on the same input: each output tensor's type, shape and data bytes, and
general.file_type, must equal what llama-quantize wrote (expected_overrides.json, by
test/fixtures/gen/gen_llama_quant.py); a run it refused must be refused."""
import hashlib
import json

import gguf
import pytest

from conftest import FIXTURES, run

LLAMA = FIXTURES / "llama"
MODEL = LLAMA / "tiny-llama-f16.gguf"
IMATRIX = LLAMA / "imatrix.gguf"
RUNS = {entry["name"]: entry for entry in json.loads((LLAMA / "expected_overrides.json").read_text())}


def write_input(path, kind):
    """The generator's "tied" input (the tiny Llama without output.weight: its token embedding then
    doubles as the output) or "ple" (plus a copy of token_embd named per_layer_token_embd.weight):
    same metadata, same tensor data."""
    reader = gguf.GGUFReader(MODEL)
    writer = gguf.GGUFWriter(path, "llama")
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        value_type = field.types[0]
        sub = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(name, field.contents(), value_type, sub_type=sub)
    for tensor in reader.tensors:
        if not (kind == "tied" and tensor.name == "output.weight"):
            writer.add_tensor(tensor.name, tensor.data)
        if kind == "ple" and tensor.name == "token_embd.weight":
            writer.add_tensor("per_layer_token_embd.weight", tensor.data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def source_of(entry, tmp_path):
    if entry["input"] == "model":
        return MODEL
    if entry["input"] == "odd":  # two 8x96 matrices: rows that fill no 256-block type
        return LLAMA / "odd-rows.gguf"
    path = tmp_path / f"{entry['input']}.gguf"
    write_input(path, entry["input"])
    return path


def read_tensors(path):
    reader = gguf.GGUFReader(path)
    return [[t.name, t.tensor_type.name, ",".join(str(int(d)) for d in reversed(t.shape.tolist())),
             hashlib.sha256(t.data.tobytes()).hexdigest()] for t in reader.tensors]


@pytest.mark.parametrize("name", list(RUNS))
def test_overrides_equal_llama_quantize(name, tmp_path):
    entry = RUNS[name]
    source = source_of(entry, tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "out.gguf"
    args = ["--quant", entry["ftype"], *entry["options"]] + (["--imatrix", IMATRIX] if entry["imatrix"] else [])
    proc = run("convert", source, *args, "-o", out, "-q")
    if "error" in entry:  # llama-quantize refused (or ggml aborted): amn refuses, writing nothing
        assert proc.returncode == 1, proc.stderr
        if "imatrix" in entry["error"]:
            assert "imatrix" in proc.stderr and "tensor '" in proc.stderr, proc.stderr
        else:  # a row that does not fill the blocks of a type given outright
            assert "not divisible by block size" in entry["error"]
            assert "output.weight" in proc.stderr and "--output-tensor-type has no fallback" in proc.stderr, proc.stderr
        assert list(out_dir.iterdir()) == []
        return
    assert proc.returncode == 0, proc.stderr
    got = read_tensors(out)
    assert [g[:3] for g in got] == [w[:3] for w in entry["tensors"]]
    for (tensor, type_name, _, digest), want in zip(got, entry["tensors"]):
        assert digest == want[3], f"{tensor} ({type_name}): data differs from llama-quantize's"
    assert gguf.GGUFReader(out).fields["general.file_type"].contents() == entry["file_type"]


def test_the_override_runs_cover_each_option():
    """The fixture exercises every option, every input, a float file type and a refusal."""
    options = {option for entry in RUNS.values() for option in entry["options"] if option.startswith("--")}
    assert {"--output-tensor-type", "--token-embedding-type", "--leave-output-tensor", "--tensor-type"} <= options
    assert any("error" in entry for entry in RUNS.values())
    assert any(entry["ftype"] == "F16" for entry in RUNS.values())
    assert {entry["input"] for entry in RUNS.values()} == {"model", "tied", "ple", "odd"}


@pytest.mark.parametrize("args,option", [
    (["--output-tensor-type", "q9_0"], "--output-tensor-type"),
    (["--token-embedding-type", "Q4_K_M"], "--token-embedding-type"),  # a file type, not a tensor type
    (["--output-tensor-type", "i32"], "--output-tensor-type"),         # a ggml type it cannot quantise to
    (["--tensor-type", "attn_v"], "--tensor-type"),
    (["--tensor-type", "=q8_0"], "--tensor-type"),
    (["--tensor-type", "attn_v="], "--tensor-type"),
    (["--tensor-type", "attn_v=q9_0"], "--tensor-type"),
    (["--tensor-type", "attn_v(=q8_0"], "--tensor-type"),             # not a regular expression
])
def test_bad_override_is_a_usage_error_naming_the_option(args, option, tmp_path):
    proc = run("convert", MODEL, "--quant", "Q4_K_M", *args, "-o", tmp_path / "out.gguf", check=2)
    assert option in proc.stderr, proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["--output-tensor-type", "q8_0"], ["--token-embedding-type", "q8_0"],
                                  ["--leave-output-tensor"], ["--tensor-type", "attn_v=q8_0"]])
def test_override_without_quant_is_a_usage_error(args, tmp_path):
    proc = run("convert", MODEL, "--to", "gguf", *args, "-o", tmp_path / "out.gguf", check=2)
    assert args[0] in proc.stderr and "--quant" in proc.stderr, proc.stderr
    assert list(tmp_path.iterdir()) == []

