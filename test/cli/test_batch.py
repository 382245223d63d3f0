"""Many models: default output names (remember/convert without -o) and `amn batch` (discovery,
outputs mirrored under OUTDIR, the resumable journal, concurrent processes, --shard, --json)."""
import hashlib
import json
import os
import pathlib
import shutil
import subprocess

import pytest

from conftest import AMN, FIXTURES, ROOT, run, st_load

SAMPLE = ROOT / "samples" / "tiny-llama.gguf"
GPTQ = FIXTURES / "gptq" / "4bit-g128-sym"
SHARDED = FIXTURES / "safetensors" / "sharded"
SPLIT = sorted((FIXTURES / "gguf").glob("split-*.gguf"))


def digest(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


# --- default output names ----------------------------------------------------------------------

@pytest.mark.parametrize("name, args, expected", [
    ("Llama-3-8B-Q4_K_M.gguf", ["remember"], "Llama-3-8B-bf16.safetensors"),
    ("Llama-3-8B-Q4_K_M.gguf", ["remember", "--dtype", "f32"], "Llama-3-8B-f32.safetensors"),
    ("tiny.gguf", ["convert", "--quant", "Q8_0"], "tiny-Q8_0.gguf"),
    ("tiny-f16.gguf", ["convert", "--to", "gguf", "--dtype", "bf16"], "tiny-bf16.gguf"),
    ("model.IQ4_XS.gguf", ["remember"], "model-bf16.safetensors"),
    ("Q4_K_M.gguf", ["remember"], "model-bf16.safetensors"),
])
def test_default_name_file(tmp_path, name, args, expected):
    src = tmp_path / name
    shutil.copy(SAMPLE, src)
    proc = run(*args[:1], src, *args[1:], check=0)
    assert (tmp_path / expected).is_file()
    assert str(tmp_path / expected) in proc.stderr  # says what it wrote
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, expected])


def test_default_name_directory(tmp_path):
    src = tmp_path / "model-gptq-4bit"
    src.mkdir()
    for name in ("model.safetensors", "quantize_config.json"):
        shutil.copy(GPTQ / name, src / name)
    run("remember", src, check=0)
    out = tmp_path / "model-bf16"
    assert (out / "model.safetensors").is_file()
    run("remember", src, "-o", tmp_path / "explicit.safetensors", check=0)
    assert digest(out / "model.safetensors") == digest(tmp_path / "explicit.safetensors")


def test_default_name_split_and_index(tmp_path):
    for part in SPLIT:
        shutil.copy(part, tmp_path / part.name)
    run("convert", tmp_path / SPLIT[1].name, "--to", "gguf", "--dtype", "f32", check=0)
    assert (tmp_path / "split-f32.gguf").is_file()
    shutil.copytree(SHARDED, tmp_path / "sharded-fp16")
    run("remember", tmp_path / "sharded-fp16" / "model.safetensors.index.json", check=0)
    assert (tmp_path / "sharded-bf16" / "model.safetensors").is_file()


def test_default_name_never_replaces_without_force(tmp_path):
    src = tmp_path / "tiny-Q4_K_M.gguf"
    shutil.copy(SAMPLE, src)
    out = tmp_path / "tiny-bf16.safetensors"
    out.write_bytes(b"precious")
    proc = run("remember", src, check=2)
    assert "exists (use --force" in proc.stderr
    assert out.read_bytes() == b"precious"
    run("remember", src, "--force", check=0)
    assert st_load(out)


def test_default_name_is_never_the_input(tmp_path):
    src = tmp_path / "model-bf16.safetensors"
    run("remember", SAMPLE, "-o", src, check=0)
    before = digest(src)
    proc = run("remember", src, "--force")
    assert proc.returncode != 0
    assert digest(src) == before
