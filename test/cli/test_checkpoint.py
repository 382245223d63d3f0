"""PyTorch checkpoints that wrap their state dict ({"model": sd, "epoch": 3}, Lightning, DeepSpeed,
EMA, DistributedDataParallel): amn reads the one state dict under a conventional key under its own
names, --select KEY / --strip-prefix P choose the rest. Fixtures and the names torch's
load_state_dict(strict=True) accepted: test/fixtures/gen/gen_pth.py (values checked in
test/unit/test_pth.cpp)."""
import json

import pytest

from conftest import FIXTURES, run, st_load

PTH = FIXTURES / "pth"


def accepted_names(stem):
    return [line.split("\t")[0] for line in (PTH / f"{stem}.expect.tsv").read_text().splitlines()]


@pytest.mark.parametrize("source, stem, args", [
    ("checkpoint.pt", "checkpoint", []),
    ("lightning.ckpt", "lightning", []),
    ("lightning.ckpt", "lightning_strip", ["--strip-prefix", "model."]),
    ("ema.pt", "ema", []),
    ("ema.pt", "ema_select", ["--select", "model_ema"]),
    ("ddp.pt", "ddp_strip", ["--strip-prefix", "module."]),
])
def test_convert_writes_the_names_torch_accepts(source, stem, args, tmp_path):
    out = tmp_path / "out.safetensors"
    run("convert", PTH / source, "-o", out, "-q", *args, check=0)
    assert sorted(st_load(out)) == sorted(accepted_names(stem))


def test_parse_reports_the_wrapper_and_the_other_values():
    report = json.loads(run("parse", PTH / "lightning.ckpt", "--json", check=0).stdout)
    assert report["description"] == "PyTorch checkpoint: the state dict under 'state_dict'"
    extras = report["extras"]
    assert extras["epoch"] == "int 2" and extras["global_step"] == "int 10"
    assert extras["optimizer_states"] == "holds 12 tensor(s), left out (not the state dict)"
    text = run("parse", PTH / "lightning.ckpt", check=0).stdout
    assert "Format:      PyTorch checkpoint: the state dict under 'state_dict'" in text


def test_select_naming_nothing_is_a_usage_error(tmp_path):
    proc = run("convert", PTH / "ema.pt", "--select", "teacher", "-o", tmp_path / "x.safetensors", check=2)
    assert "ema.pt: --select 'teacher' names no tensors (top-level keys holding tensors: 'model', 'model_ema')" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_two_conventional_state_dicts_are_named_in_the_description():
    """{"model": sd, "model_ema": sd2}: both are read under prefixed names, which load_state_dict
    refuses; inspect and parse say which keys hold state dicts and how to read one."""
    report = json.loads(run("inspect", PTH / "ema.pt", "--json", check=0).stdout)
    assert report["description"] == ("PyTorch checkpoint: state dicts under 'model' and 'model_ema' "
                                     "(read one with --select KEY)")
    selected = json.loads(run("inspect", PTH / "ema.pt", "--select", "model_ema", "--json", check=0).stdout)
    assert selected["description"] == "PyTorch checkpoint: the state dict under 'model_ema'"
