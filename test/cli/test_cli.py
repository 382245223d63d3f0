"""The amn command line: help, version, usage errors, error lines, atomic output."""
import json
import os
import shutil

import pytest

from conftest import FIXTURES, ROOT, run

SAMPLE = ROOT / "samples" / "tiny-llama.gguf"
CONVERT_SOURCE = FIXTURES / "convert" / "source.safetensors"


def test_help_and_version():
    top = run("--help", check=0)
    for command in ("inspect", "parse", "convert", "remember"):
        assert command in top.stdout
        sub = run(command, "--help", check=0)
        assert "Example: amn " + command in sub.stdout
    version = run("--version", check=0)
    assert version.stdout.startswith("amn ")


def test_usage_errors_exit_2():
    assert run().returncode == 2
    assert run("inspect").returncode == 2
    assert run("frobnicate").returncode == 2
    assert run("convert", CONVERT_SOURCE, "--to", "onnx", "-o", "x").returncode == 2
    assert run("remember", CONVERT_SOURCE, "-o", "x", "--dtype", "f8").returncode == 2


def test_missing_input_is_one_error_line():
    proc = run("inspect", "/nonexistent/model.safetensors", check=1)
    assert proc.stderr.startswith("amn: error: /nonexistent/model.safetensors: ")
    assert proc.stderr.count("\n") == 1


def test_unrecognised_file(tmp_path):
    junk = tmp_path / "notes.weights"
    junk.write_bytes(b"hello, this is not a model")
    proc = run("inspect", junk, check=1)
    assert str(junk) in proc.stderr and "not a recognised model file" in proc.stderr


def test_inspect_sample_json():
    report = json.loads(run("inspect", SAMPLE, "--json", check=0).stdout)
    assert report["format"] == "gguf"
    assert report["gguf"]["version"] == 3
    assert report["gguf"]["architecture"] == "llama"
    assert report["scheme"].startswith("GGUF ")
    assert report["tensor_count"] == 21
    assert "tensors" not in report


def test_parse_lists_tensors():
    report = json.loads(run("parse", SAMPLE, "--json", check=0).stdout)
    names = [t["name"] for t in report["tensors"]]
    assert names[0] == "token_embd.weight"
    assert report["tensors"][0]["shape"] == [64, 128]
    assert report["metadata"]["general.architecture"] == "llama"
    text = run("parse", SAMPLE, check=0).stdout
    assert "blk.1.ffn_down.weight" in text


def test_existing_output_needs_force(tmp_path):
    out = tmp_path / "out.safetensors"
    out.write_bytes(b"keep me")
    proc = run("convert", CONVERT_SOURCE, "-o", out, check=2)
    assert "exists" in proc.stderr and "--force" in proc.stderr
    assert out.read_bytes() == b"keep me"
    run("convert", CONVERT_SOURCE, "-o", out, "--force", "-q", check=0)
    assert out.read_bytes() != b"keep me"
    assert sorted(os.listdir(tmp_path)) == ["out.safetensors"]


def test_output_equal_to_input_refused(tmp_path):
    copy = tmp_path / "model.safetensors"
    shutil.copy(CONVERT_SOURCE, copy)
    before = copy.read_bytes()
    proc = run("convert", copy, "-o", copy, "--force", check=2)
    assert "output is the input" in proc.stderr
    assert copy.read_bytes() == before


def test_failed_conversion_leaves_nothing(tmp_path):
    # GGUF cannot hold BOOL/U8/F8 tensors: the plan fails before anything is written...
    out = tmp_path / "out.gguf"
    proc = run("convert", CONVERT_SOURCE, "--to", "gguf", "-o", out, check=1)
    assert "F8_E4M3" in proc.stderr and str(CONVERT_SOURCE) in proc.stderr
    # ...and a truncated input fails mid-way without leaving the output or a temp file.
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(SAMPLE.read_bytes()[:-1000])
    out2 = tmp_path / "out.safetensors"
    proc = run("convert", truncated, "-o", out2, "--to", "gguf")
    assert proc.returncode == 1 and proc.stderr.startswith("amn: error: ")
    assert sorted(os.listdir(tmp_path)) == ["truncated.gguf"]


def test_convert_json_summary(tmp_path):
    out = tmp_path / "o.safetensors"
    summary = json.loads(run("convert", CONVERT_SOURCE, "-o", out, "--json", check=0).stdout)
    assert summary["outputs"] == [{"path": str(out), "tensors": 7, "bytes": out.stat().st_size}]
    assert summary["tensors"] == 7
    assert summary["bytes"] == out.stat().st_size
    assert summary["peak_rss_bytes"] > 0 and summary["io"] in ("io_uring", "io_uring+O_DIRECT", "pwrite", "pwrite+O_DIRECT")


@pytest.mark.parametrize("source,fmt", [
    (FIXTURES / "pth" / "dtypes.pth", "pth"),
    (ROOT / "samples" / "tiny-llama.gguf", "gguf"),
    (FIXTURES / "convert" / "source.safetensors", "safetensors"),
    (FIXTURES / "npz" / "f4.npy", "npy"),
    (FIXTURES / "npz" / "savez.npz", "npz"),
], ids=lambda v: v if isinstance(v, str) else v.name)
def test_format_detected_by_magic(source, fmt, tmp_path):
    renamed = tmp_path / "pytorch_model.bin"
    shutil.copy(source, renamed)
    report = json.loads(run("inspect", renamed, "--json", check=0).stdout)
    original = json.loads(run("inspect", source, "--json", check=0).stdout)
    assert report["format"] == fmt
    assert report["tensor_count"] == original["tensor_count"]
    assert report["total_bytes"] == original["total_bytes"]


def test_output_named_gguf_without_to_writes_gguf(tmp_path):
    """-o NAME.gguf without --to writes that file as GGUF (not NAME.gguf.safetensors); a --to that
    contradicts the name's extension is refused, nothing written."""
    import gguf
    out = tmp_path / "out.gguf"
    run("convert", SAMPLE, "--dtype", "bf16", "-o", out, check=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.gguf"]
    reader = gguf.GGUFReader(out)
    assert len(reader.tensors) == 21 and "BF16" in {t.tensor_type.name for t in reader.tensors}
    run("remember", SAMPLE, "-o", tmp_path / "r.safetensors", check=0)
    for to, name in (("safetensors", "x.gguf"), ("gguf", "y.safetensors"), ("bnb-nf4", "z.gguf")):
        proc = run("convert", tmp_path / "r.safetensors", "--to", to, "-o", tmp_path / name, check=2)
        assert "or change --to" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.gguf", "r.safetensors"]
