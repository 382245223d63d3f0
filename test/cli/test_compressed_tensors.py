"""`amn remember` on compressed-tensors pack-quantized checkpoints (test/fixtures/compressed/,
written and decompressed by compressed-tensors 0.20.0 via test/fixtures/gen/gen_compressed.py):
int4 group-32 asymmetric with BF16 scales, int8 channel symmetric with F16 scales, int4 channel
asymmetric with F32 scales equal PackedQuantizationCompressor.decompress bit for bit in f32 (its
arithmetic in the scale dtype included), bf16 is its round-to-nearest-even narrowing; the
companions (`weight_packed`, `weight_scale`, `weight_zero_point`, `weight_shape`) leave the
output and other tensors pass through; malformed companions (test/hostile/compressed/) are
refused with exit 1, naming file and tensors, writing nothing."""
import pytest

from conftest import (FIXTURES, ROOT, assert_any_chunking_gives_the_same_bytes, assert_same, assert_same_tensor,
                      hostile_cases, refused, remember, st_load)

BASE = FIXTURES / "compressed"
CASES = ["int4-group32-asym", "int8-channel-sym", "int4-channel-asym-f32"]
HOSTILE = ROOT / "test" / "hostile" / "compressed"
COMPANIONS = (".weight_packed", ".weight_scale", ".weight_zero_point", ".weight_shape")


@pytest.mark.parametrize("case", CASES)
def test_f32_equals_compressed_tensors(case, tmp_path):
    assert_same(remember(BASE / case / "model.safetensors", tmp_path, "--dtype", "f32"),
                st_load(BASE / case / "expected.safetensors"))


@pytest.mark.parametrize("case", CASES)
def test_bf16_is_narrowed_expected(case, tmp_path):
    assert_same(remember(BASE / case / "model.safetensors", tmp_path, "--dtype", "bf16"),
                st_load(BASE / case / "expected_bf16.safetensors"))


@pytest.mark.parametrize("case", CASES)
def test_companions_leave_and_others_pass_through(case, tmp_path):
    model = st_load(BASE / case / "model.safetensors")
    expected = st_load(BASE / case / "expected_bf16.safetensors")
    # default: dequantised weights in bf16, others unchanged
    out = remember(BASE / case / "model.safetensors", tmp_path)
    assert not [name for name in out if name.endswith(COMPANIONS)]
    assert set(out) == set(expected)
    for name, tensor in out.items():
        if name in model:
            assert_same_tensor(tensor, model[name], name)
        else:
            assert tensor.dtype == "BF16", name
            assert_same_tensor(tensor, expected[name], name)


def test_any_chunking_gives_the_same_bytes(tmp_path):
    assert_any_chunking_gives_the_same_bytes(BASE / "int4-group32-asym" / "model.safetensors", tmp_path)


@pytest.mark.parametrize("name,code,fragment", hostile_cases(HOSTILE))
def test_malformed_companions_are_refused(name, code, fragment, tmp_path):
    source = HOSTILE / name
    stderr = refused(source, tmp_path)
    assert f"{source}: " in stderr and fragment in stderr
