"""`amn remember` on BitsAndBytes checkpoints (test/fixtures/bnb/, made by
test/fixtures/gen/gen_bnb.py; their values are checked in test_schemes.py): the companions leave
the output, `--dtype bf16` narrows the other tensors as torch does, FP4's -0.0 codes stay -0.0.
Broken companions (test/hostile/bnb/) are refused in test_hostile_cli.py."""
import numpy as np
import pytest

from conftest import FIXTURES, assert_same_tensor, remember, st_load, values

BASE = FIXTURES / "bnb"
CASES = ["nf4", "nf4-dq", "fp4", "int8"]


@pytest.mark.parametrize("case", CASES)
def test_companions_leave_and_others_pass_through(case, tmp_path):
    model = st_load(BASE / case / "model.safetensors")
    expected = st_load(BASE / case / "expected.safetensors")
    out = remember(BASE / case / "model.safetensors", tmp_path, "--dtype", "bf16")
    others = st_load(BASE / case / "bystanders_bf16.safetensors")  # narrowed by torch
    assert set(others) == {name for name in model if name.endswith(".bias") or name == "model.norm.weight"}
    assert set(out) == set(expected) | set(others)
    for name, want in others.items():
        assert_same_tensor(out[name], want, name)


def test_fp4_keeps_negative_zero(tmp_path):
    out = remember(BASE / "fp4" / "model.safetensors", tmp_path, "--dtype", "f32")
    weight = values(out["model.layers.0.mlp.down_proj.weight"])
    assert ((weight == 0) & np.signbit(weight)).sum() > 0
