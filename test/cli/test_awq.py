"""`amn remember` on AWQ GEMM checkpoints (test/fixtures/awq/, made by test/fixtures/gen/gen_awq.py
with AutoAWQ): f32 equals AutoAWQ's dequantize_gemm bit for bit whatever the chunking, bf16 is
its round-to-nearest-even narrowing, qweight/qzeros/scales leave the output as one X.weight
[out, in], other tensors pass through; broken companions or settings (hostile-inputs.md case 60,
test/hostile/awq/, and config files written here) are refused with exit 1, naming file and
tensors, writing nothing."""
import json
import shutil

import numpy as np
import pytest

from conftest import FIXTURES, ROOT, assert_any_chunking_gives, assert_holds, refused, remember, st_load, values

BASE = FIXTURES / "awq"
CASES = ["gemm-g128", "gemm-g64-bf16"]
HOSTILE = ROOT / "test" / "hostile" / "awq"
COMPANIONS = (".qweight", ".qzeros", ".scales")


@pytest.mark.parametrize("case", CASES)
def test_f32_equals_autoawq(case, tmp_path):
    out = remember(BASE / case / "model.safetensors", tmp_path, "--dtype", "f32")
    assert_holds(out, st_load(BASE / case / "expected.safetensors"), dtype="F32")


@pytest.mark.parametrize("case", CASES)
def test_any_chunking_gives_the_same_rows(case, tmp_path):
    expected = st_load(BASE / case / "expected.safetensors")
    assert_any_chunking_gives(expected, BASE / case / "model.safetensors", tmp_path)


@pytest.mark.parametrize("case", CASES)
def test_bf16_default_is_narrowed_expected(case, tmp_path):
    out = remember(BASE / case / "model.safetensors", tmp_path)  # default bf16
    assert_holds(out, st_load(BASE / case / "expected_bf16.safetensors"), dtype="BF16")


@pytest.mark.parametrize("case", CASES)
def test_companions_leave_and_others_pass_through(case, tmp_path):
    model = st_load(BASE / case / "model.safetensors")
    expected = st_load(BASE / case / "expected.safetensors")
    out = remember(BASE / case / "model.safetensors", tmp_path, "--dtype", "f32")
    others = {name for name in model if not name.endswith(COMPANIONS)}
    assert set(out) == set(expected) | others
    for name in others:
        assert np.array_equal(values(out[name]), values(model[name]).astype(np.float32)), name


@pytest.mark.parametrize("quantization,fragment", [
    ({"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemv"}, "AWQ version 'gemv'"),
    ({"quant_method": "awq", "bits": 4, "group_size": 64},
     "tensor 'model.layers.0.mlp.down_proj.scales' has 1 group but tensor "
     "'model.layers.0.mlp.down_proj.qweight' has 128 input features and group_size is 64"),
    ({"quant_method": "gptq", "bits": 4, "group_size": 128},  # read as GPTQ: [in * 4 / 32, out] would be [128, 8]
     "tensor 'model.layers.0.mlp.down_proj.scales' has shape [1, 64] but tensor "
     "'model.layers.0.mlp.down_proj.qweight' [128, 8] needs [8, 8]"),
])
def test_broken_configs_are_refused(quantization, fragment, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(BASE / "gemm-g128" / "model.safetensors", folder)
    (folder / "config.json").write_text(json.dumps({"quantization_config": quantization}))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert fragment in refused(folder / "model.safetensors", out_dir)


@pytest.mark.parametrize("name,fragment", [
    ("60-awq-qweight-columns", "tensor 'layer.qweight' has shape [64, 5] but tensor 'layer.scales' [2, 32]"),
    ("60-awq-qzeros-shape", "tensor 'layer.qzeros' has shape [2, 3] but tensor 'layer.qweight' [64, 4]"),
    ("60-awq-groups-uneven", "tensor 'layer.scales' has 3 groups but tensor 'layer.qweight' has 64 input features"),
    ("60-awq-bits-8", "8-bit AWQ"),
    ("60-awq-missing-qzeros", "tensor 'layer.qzeros' is missing (companion of tensor 'layer.qweight')"),
])
def test_broken_companions_are_refused(name, fragment, tmp_path):
    source = HOSTILE / f"{name}.safetensors"
    stderr = refused(source, tmp_path)
    assert str(source) in stderr and fragment in stderr
