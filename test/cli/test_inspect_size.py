"""`amn inspect [--dtype T]` reports the size of the file `amn remember [--dtype T]` writes: for
every model fixture in the repository (test/fixtures/**, samples/), the reported `remember.bytes`
equals the size of remember's output, or, when remember refuses the input, inspect reports that
refusal (`remember.refusal`) and remember exits 1; a file inspect cannot open (legacy, TorchScript)
remember refuses too. Left out: expected values (`expected*`, `*.expect.bin`) and `bad_crc.npz`, whose
damage only reading the data shows. The dtype cycles over the fixtures (none, bf16,
f16, f32) so each is covered without running every pair."""
import json

import pytest

from conftest import FIXTURES, run

ROOT = FIXTURES.parent.parent
SUFFIXES = {".safetensors", ".gguf", ".npz", ".npy", ".pth", ".pt", ".bin"}
MODELS = sorted(path for base in (FIXTURES, ROOT / "samples") for path in base.rglob("*")
                if path.suffix in SUFFIXES and path.is_file() and not path.name.startswith("expected")
                and not path.name.endswith(".expect.bin") and path.name != "bad_crc.npz")
DTYPES = [None, "bf16", "f16", "f32"]
CASES = [pytest.param(path, DTYPES[idx % len(DTYPES)], id=f"{path.relative_to(ROOT)}-{DTYPES[idx % len(DTYPES)]}")
         for idx, path in enumerate(MODELS)]


def test_there_are_fixtures():
    assert len(MODELS) > 80


@pytest.mark.parametrize("model,dtype", CASES)
def test_inspect_reports_what_remember_writes(model, dtype, tmp_path):
    extra = ["--dtype", dtype] if dtype else []
    inspected = run("inspect", model, "--json", *extra)
    out = tmp_path / "out.safetensors"
    proc = run("remember", model, "-o", out, "-q", *extra)
    if inspected.returncode == 1:
        assert proc.returncode == 1 and not out.exists()
        return
    report = json.loads(inspected.stdout)["remember"]
    assert report["dtype"] == dtype
    if report["refusal"] is None:
        assert proc.returncode == 0, proc.stderr
        assert report["bytes"] == out.stat().st_size
    else:
        assert report["bytes"] is None
        assert proc.returncode == 1 and not out.exists()
        assert report["refusal"] in proc.stderr, (report["refusal"], proc.stderr)
