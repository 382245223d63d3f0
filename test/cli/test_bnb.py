"""`amn remember` on BitsAndBytes checkpoints (test/fixtures/bnb/, made by
test/fixtures/gen/gen_bnb.py): NF4, NF4 double quant, FP4 (with -0.0 codes) and LLM.int8 equal
bitsandbytes' own f32 dequantisation bit for bit whatever the chunking, bf16 is its
round-to-nearest-even narrowing, the companions leave the output, other tensors pass through;
broken companions (hostile-inputs.md case 60, test/hostile/bnb/) are refused with exit 1, naming
file and tensor, writing nothing."""
import numpy as np
import pytest
import safetensors.numpy
import torch
from safetensors.torch import load_file

from conftest import FIXTURES, ROOT, run

CASES = ["nf4", "nf4-dq", "fp4", "int8"]
HOSTILE = ROOT / "test" / "hostile" / "bnb"


def bits(array):
    return array.view(np.uint16 if array.dtype.itemsize == 2 else np.uint32)


def remember(case, tmp_path, *args):
    out = tmp_path / f"{case}.safetensors"
    run("remember", FIXTURES / "bnb" / case / "model.safetensors", "-o", out, "-q", *args, check=0)
    return out


@pytest.mark.parametrize("case", CASES)
def test_f32_equals_bitsandbytes(case, tmp_path):
    out = safetensors.numpy.load_file(str(remember(case, tmp_path, "--dtype", "f32")))
    expected = safetensors.numpy.load_file(str(FIXTURES / "bnb" / case / "expected.safetensors"))
    for name, want in expected.items():
        assert out[name].dtype == np.float32 and out[name].shape == want.shape, name
        assert np.array_equal(bits(out[name]), bits(want)), name


@pytest.mark.parametrize("case", CASES)
def test_any_chunking_gives_the_same_rows(case, tmp_path):
    expected = safetensors.numpy.load_file(str(FIXTURES / "bnb" / case / "expected.safetensors"))
    for chunk in ["7", "1000"]:
        folder = tmp_path / chunk
        folder.mkdir()
        out = safetensors.numpy.load_file(
            str(remember(case, folder, "--dtype", "f32", "--chunk-size", chunk, "--threads", "2")))
        for name, want in expected.items():
            assert np.array_equal(bits(out[name]), bits(want)), f"{name} with chunks of {chunk}"


@pytest.mark.parametrize("case", CASES)
def test_bf16_default_is_narrowed_expected(case, tmp_path):
    out = load_file(str(remember(case, tmp_path)))  # default --dtype bf16
    expected = load_file(str(FIXTURES / "bnb" / case / "expected_bf16.safetensors"))
    for name, want in expected.items():
        assert out[name].dtype == torch.bfloat16, name
        assert torch.equal(out[name].view(torch.int16), want.view(torch.int16)), name


@pytest.mark.parametrize("case", CASES)
def test_companions_leave_and_others_pass_through(case, tmp_path):
    model = load_file(str(FIXTURES / "bnb" / case / "model.safetensors"))
    expected = load_file(str(FIXTURES / "bnb" / case / "expected.safetensors"))
    out = load_file(str(remember(case, tmp_path, "--dtype", "bf16")))
    others = {name for name in model if name.endswith(".bias") or name == "model.norm.weight"}
    assert set(out) == set(expected) | others
    for name in others:
        assert torch.equal(out[name].view(torch.int16), model[name].to(torch.bfloat16).view(torch.int16)), name


def test_fp4_keeps_negative_zero(tmp_path):
    out = load_file(str(remember("fp4", tmp_path, "--dtype", "f32")))
    weight = out["model.layers.0.mlp.down_proj.weight"]
    assert ((weight == 0) & torch.signbit(weight)).sum() > 0


@pytest.mark.parametrize("name,fragment", [
    ("60-bnb-blocksize-odd", "tensor 'layer.weight.quant_state.bitsandbytes__nf4': quant_state blocksize"),
    ("60-bnb-absmax-count", "tensor 'layer.weight.absmax': has shape [7], expected [8]"),
    ("60-bnb-json-malformed", "quant_state JSON is malformed"),
    ("60-bnb-shape-lie-bigger", "tensor 'layer.weight': holds 256 bytes"),
    ("60-bnb-int8-scb-count", "tensor 'layer.SCB': has shape [7], expected [8]"),
])
def test_broken_companions_are_refused(name, fragment, tmp_path):
    source = HOSTILE / f"{name}.safetensors"
    out = tmp_path / "out.safetensors"
    proc = run("remember", source, "-o", out, check=1)
    assert str(source) in proc.stderr and fragment in proc.stderr
    assert list(tmp_path.iterdir()) == []
