"""`amn remember` on BitsAndBytes checkpoints (test/fixtures/bnb/, made by
test/fixtures/gen/gen_bnb.py): NF4, NF4 double quant, FP4 (with -0.0 codes) and LLM.int8 equal
bitsandbytes' own f32 dequantisation bit for bit whatever the chunking, bf16 is its
round-to-nearest-even narrowing, the companions leave the output, other tensors pass through;
broken companions (hostile-inputs.md case 60, test/hostile/bnb/) are refused with exit 1, naming
file and tensor, writing nothing."""
import numpy as np
import pytest

from conftest import (FIXTURES, ROOT, assert_any_chunking_gives, assert_holds, assert_same_tensor, refused, remember,
                      st_load, values)

BASE = FIXTURES / "bnb"
CASES = ["nf4", "nf4-dq", "fp4", "int8"]
HOSTILE = ROOT / "test" / "hostile" / "bnb"


@pytest.mark.parametrize("case", CASES)
def test_f32_equals_bitsandbytes(case, tmp_path):
    out = remember(BASE / case / "model.safetensors", tmp_path, "--dtype", "f32")
    assert_holds(out, st_load(BASE / case / "expected.safetensors"), dtype="F32")


@pytest.mark.parametrize("case", CASES)
def test_any_chunking_gives_the_same_rows(case, tmp_path):
    expected = st_load(BASE / case / "expected.safetensors")
    assert_any_chunking_gives(expected, BASE / case / "model.safetensors", tmp_path)


@pytest.mark.parametrize("case", CASES)
def test_bf16_default_is_narrowed_expected(case, tmp_path):
    out = remember(BASE / case / "model.safetensors", tmp_path)  # default --dtype bf16
    assert_holds(out, st_load(BASE / case / "expected_bf16.safetensors"), dtype="BF16")


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


@pytest.mark.parametrize("name,fragment", [
    ("60-bnb-blocksize-odd", "tensor 'layer.weight.quant_state.bitsandbytes__nf4': quant_state blocksize"),
    ("60-bnb-absmax-count", "tensor 'layer.weight.absmax': has shape [7], expected [8]"),
    ("60-bnb-json-malformed", "quant_state JSON is malformed"),
    ("60-bnb-shape-lie-bigger", "tensor 'layer.weight': holds 256 bytes"),
    ("60-bnb-int8-scb-count", "tensor 'layer.SCB': has shape [7], expected [8]"),
])
def test_broken_companions_are_refused(name, fragment, tmp_path):
    source = HOSTILE / f"{name}.safetensors"
    stderr = refused(source, tmp_path)
    assert str(source) in stderr and fragment in stderr
