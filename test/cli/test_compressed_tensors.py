"""`amn remember` on compressed-tensors pack-quantized checkpoints (test/fixtures/compressed/,
written and decompressed by compressed-tensors 0.20.0 via test/fixtures/gen/gen_compressed.py):
int4 group-32 asymmetric with BF16 scales, int8 channel symmetric with F16 scales, int4 channel
asymmetric with F32 scales equal PackedQuantizationCompressor.decompress bit for bit in f32 (its
arithmetic in the scale dtype included), bf16 is its round-to-nearest-even narrowing; the
companions (`weight_packed`, `weight_scale`, `weight_zero_point`, `weight_shape`) leave the
output and other tensors pass through; malformed companions (test/hostile/compressed/) are
refused with exit 1, naming file and tensors, writing nothing."""
import pytest
import torch
from safetensors.torch import load_file

from conftest import FIXTURES, ROOT, run

CASES = ["int4-group32-asym", "int8-channel-sym", "int4-channel-asym-f32"]
HOSTILE = ROOT / "test" / "hostile" / "compressed"
COMPANIONS = (".weight_packed", ".weight_scale", ".weight_zero_point", ".weight_shape")


def raw(tensor):
    """The tensor's bytes, for bit-exact comparison of any dtype."""
    return tensor.reshape(-1).contiguous().view(torch.uint8)


def remember(case, tmp_path, *args):
    out = tmp_path / f"{case}.safetensors"
    run("remember", FIXTURES / "compressed" / case / "model.safetensors", "-o", out, "-q", *args, check=0)
    return load_file(str(out))


def assert_same(out, expected):
    assert set(out) == set(expected)
    for name, want in expected.items():
        assert out[name].dtype == want.dtype and out[name].shape == want.shape, name
        assert torch.equal(raw(out[name]), raw(want)), name


@pytest.mark.parametrize("case", CASES)
def test_f32_equals_compressed_tensors(case, tmp_path):
    assert_same(remember(case, tmp_path, "--dtype", "f32"),
                load_file(str(FIXTURES / "compressed" / case / "expected.safetensors")))


@pytest.mark.parametrize("case", CASES)
def test_bf16_is_narrowed_expected(case, tmp_path):
    assert_same(remember(case, tmp_path, "--dtype", "bf16"),
                load_file(str(FIXTURES / "compressed" / case / "expected_bf16.safetensors")))


@pytest.mark.parametrize("case", CASES)
def test_companions_leave_and_others_pass_through(case, tmp_path):
    model = load_file(str(FIXTURES / "compressed" / case / "model.safetensors"))
    expected = load_file(str(FIXTURES / "compressed" / case / "expected_bf16.safetensors"))
    out = remember(case, tmp_path)  # default: dequantised weights in bf16, others unchanged
    assert not [name for name in out if name.endswith(COMPANIONS)]
    assert set(out) == set(expected)
    for name, tensor in out.items():
        if name in model:
            assert tensor.dtype == model[name].dtype and torch.equal(raw(tensor), raw(model[name])), name
        else:
            assert tensor.dtype == torch.bfloat16 and torch.equal(raw(tensor), raw(expected[name])), name


def test_any_chunking_gives_the_same_bytes(tmp_path):
    source = FIXTURES / "compressed" / "int4-group32-asym" / "model.safetensors"
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
def test_malformed_companions_are_refused(name, code, fragment, tmp_path):
    source = HOSTILE / name
    out = tmp_path / "out.safetensors"
    proc = run("remember", source, "-o", out, check=1)
    assert f"{source}: " in proc.stderr and fragment in proc.stderr
    assert list(tmp_path.iterdir()) == []
