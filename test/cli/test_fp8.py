"""`amn remember` on FP8 checkpoints (test/fixtures/fp8/, made by test/fixtures/gen/gen_fp8.py):
per-tensor E4M3, per-channel E5M2 with BF16/F16 scales, DeepSeek-V3 block-wise 128×128 with
partial edge blocks and a 64×32 block from config.json equal transformers' Fp8Dequantize bit for
bit in f32, bf16 is its round-to-nearest-even narrowing; weight and activation scales leave the
output, `logit_scale`/`layer_scale` and other tensors pass through; malformed scales
(test/hostile/fp8/, hostile-inputs.md case 60) are refused with exit 1, naming file and tensors,
writing nothing."""
import pytest
import torch
from safetensors.torch import load_file

from conftest import FIXTURES, ROOT, run

CASES = ["per-tensor-e4m3", "per-channel-e5m2", "block-128", "block-64x32"]
HOSTILE = ROOT / "test" / "hostile" / "fp8"


def raw(tensor):
    """The tensor's bytes, for bit-exact comparison of any dtype."""
    return tensor.reshape(-1).contiguous().view(torch.uint8)


def remember(case, tmp_path, *args):
    out = tmp_path / f"{case}.safetensors"
    run("remember", FIXTURES / "fp8" / case / "model.safetensors", "-o", out, "-q", *args, check=0)
    return load_file(str(out))


def assert_same(out, expected):
    assert set(out) == set(expected)
    for name, want in expected.items():
        assert out[name].dtype == want.dtype and out[name].shape == want.shape, name
        assert torch.equal(raw(out[name]), raw(want)), name


@pytest.mark.parametrize("case", CASES)
def test_f32_equals_transformers(case, tmp_path):
    assert_same(remember(case, tmp_path, "--dtype", "f32"), load_file(str(FIXTURES / "fp8" / case / "expected.safetensors")))


@pytest.mark.parametrize("case", CASES)
def test_bf16_is_narrowed_expected(case, tmp_path):
    assert_same(remember(case, tmp_path, "--dtype", "bf16"),
                load_file(str(FIXTURES / "fp8" / case / "expected_bf16.safetensors")))


@pytest.mark.parametrize("case", CASES)
def test_default_dequantises_to_bf16_and_keeps_bystanders(case, tmp_path):
    model = load_file(str(FIXTURES / "fp8" / case / "model.safetensors"))
    expected = load_file(str(FIXTURES / "fp8" / case / "expected_bf16.safetensors"))
    out = remember(case, tmp_path)
    assert set(out) == set(expected)
    for name, tensor in out.items():
        source = model[name]
        if source.dtype in (torch.float8_e4m3fn, torch.float8_e5m2):
            assert tensor.dtype == torch.bfloat16 and torch.equal(raw(tensor), raw(expected[name])), name
        else:
            assert tensor.dtype == source.dtype and torch.equal(raw(tensor), raw(source)), name


def test_scales_leave_and_scale_named_bystanders_stay(tmp_path):
    out = remember("per-tensor-e4m3", tmp_path, "--dtype", "f32")
    assert not [name for name in out if name.endswith(("_scale", "_scale_inv"))]
    out = remember("block-128", tmp_path, "--dtype", "f32")
    assert {"logit_scale", "model.layers.0.layer_scale"} <= set(out)
    assert not [name for name in out if name.endswith("_scale_inv")]


def test_any_chunking_gives_the_same_bytes(tmp_path):
    source = FIXTURES / "fp8" / "block-128" / "model.safetensors"
    reference = tmp_path / "reference.safetensors"
    run("remember", source, "-o", reference, "-q", "--dtype", "f32", check=0)
    for chunk in ["7", "1000", "64KiB"]:
        out = tmp_path / f"chunk-{chunk}.safetensors"
        run("remember", source, "-o", out, "-q", "--dtype", "f32", "--chunk-size", chunk, "--threads", "2", check=0)
        assert out.read_bytes() == reference.read_bytes(), chunk


def hostile_cases():
    lines = (HOSTILE / "expect_remember.tsv").read_text().splitlines()
    return [tuple(line.split("\t")) for line in lines if line]


@pytest.mark.parametrize("name,code,fragment", hostile_cases())
def test_malformed_scales_are_refused(name, code, fragment, tmp_path):
    source = HOSTILE / name
    out = tmp_path / "out.safetensors"
    proc = run("remember", source, "-o", out, check=1)
    assert f"{source}: " in proc.stderr and fragment in proc.stderr
    assert list(tmp_path.iterdir()) == []
