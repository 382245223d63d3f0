"""`amn remember` on compressed-tensors pack-quantized checkpoints (test/fixtures/compressed/, made
by test/fixtures/gen/gen_compressed.py; their values against compressed-tensors are checked in
test_schemes.py): the companions (`weight_packed`, `weight_scale`, `weight_zero_point`,
`weight_shape`) leave the output and other tensors pass through unchanged. Malformed companions
(test/hostile/compressed/) are refused in test_hostile_cli.py."""
import pytest

from conftest import FIXTURES, assert_same_tensor, remember, st_load

BASE = FIXTURES / "compressed"
CASES = ["int4-group32-asym", "int8-channel-sym", "int4-channel-asym-f32"]
COMPANIONS = (".weight_packed", ".weight_scale", ".weight_zero_point", ".weight_shape")


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
