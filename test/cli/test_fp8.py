"""`amn remember` on FP8 checkpoints (test/fixtures/fp8/, made by test/fixtures/gen/gen_fp8.py):
per-tensor E4M3, per-channel E5M2 with BF16/F16 scales, DeepSeek-V3 block-wise 128×128 with
partial edge blocks and a 64×32 block from config.json equal transformers' Fp8Dequantize bit for
bit in f32, bf16 is its round-to-nearest-even narrowing; weight and activation scales leave the
output, `logit_scale`/`layer_scale` and other tensors pass through; malformed scales
(test/hostile/fp8/, hostile-inputs.md case 60) are refused with exit 1, naming file and tensors,
writing nothing."""
import pytest

from conftest import (FIXTURES, ROOT, assert_any_chunking_gives_the_same_bytes, assert_same, assert_same_tensor,
                      hostile_cases, refused, remember, st_load)

BASE = FIXTURES / "fp8"
CASES = ["per-tensor-e4m3", "per-channel-e5m2", "block-128", "block-64x32"]
HOSTILE = ROOT / "test" / "hostile" / "fp8"
FP8 = ("F8_E4M3", "F8_E5M2")


@pytest.mark.parametrize("case", CASES)
def test_f32_equals_transformers(case, tmp_path):
    assert_same(remember(BASE / case / "model.safetensors", tmp_path, "--dtype", "f32"),
                st_load(BASE / case / "expected.safetensors"))


@pytest.mark.parametrize("case", CASES)
def test_bf16_is_narrowed_expected(case, tmp_path):
    assert_same(remember(BASE / case / "model.safetensors", tmp_path, "--dtype", "bf16"),
                st_load(BASE / case / "expected_bf16.safetensors"))


@pytest.mark.parametrize("case", CASES)
def test_default_dequantises_to_bf16_and_keeps_bystanders(case, tmp_path):
    model = st_load(BASE / case / "model.safetensors")
    expected = st_load(BASE / case / "expected_bf16.safetensors")
    out = remember(BASE / case / "model.safetensors", tmp_path)
    assert set(out) == set(expected)
    for name, tensor in out.items():
        source = model[name]
        if source.dtype in FP8:
            assert tensor.dtype == "BF16", name
            assert_same_tensor(tensor, expected[name], name)
        else:
            assert_same_tensor(tensor, source, name)


def test_scales_leave_and_scale_named_bystanders_stay(tmp_path):
    out = remember(BASE / "per-tensor-e4m3" / "model.safetensors", tmp_path, "--dtype", "f32")
    assert not [name for name in out if name.endswith(("_scale", "_scale_inv"))]
    out = remember(BASE / "block-128" / "model.safetensors", tmp_path, "--dtype", "f32")
    assert {"logit_scale", "model.layers.0.layer_scale"} <= set(out)
    assert not [name for name in out if name.endswith("_scale_inv")]


def test_any_chunking_gives_the_same_bytes(tmp_path):
    assert_any_chunking_gives_the_same_bytes(BASE / "block-128" / "model.safetensors", tmp_path)


@pytest.mark.parametrize("name,code,fragment", hostile_cases(HOSTILE))
def test_malformed_scales_are_refused(name, code, fragment, tmp_path):
    source = HOSTILE / name
    stderr = refused(source, tmp_path)
    assert f"{source}: " in stderr and fragment in stderr
