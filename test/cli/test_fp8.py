"""`amn remember` on FP8 checkpoints (test/fixtures/fp8/, made by test/fixtures/gen/gen_fp8.py;
their values against transformers' Fp8Dequantize are checked in test_schemes.py): weight and
activation scales leave the output, `logit_scale`/`layer_scale` and other tensors pass through
unchanged. Malformed scales (test/hostile/fp8/) are refused in test_hostile_cli.py."""
from conftest import FIXTURES, remember

BASE = FIXTURES / "fp8"


def test_scales_leave_and_scale_named_bystanders_stay(tmp_path):
    out = remember(BASE / "per-tensor-e4m3" / "model.safetensors", tmp_path, "--dtype", "f32")
    assert not [name for name in out if name.endswith(("_scale", "_scale_inv"))]
    out = remember(BASE / "block-128" / "model.safetensors", tmp_path, "--dtype", "f32")
    assert {"logit_scale", "model.layers.0.layer_scale"} <= set(out)
    assert not [name for name in out if name.endswith("_scale_inv")]
