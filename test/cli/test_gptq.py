"""`amn remember` on GPTQ checkpoints (test/fixtures/gptq/, made by test/fixtures/gen/gen_gptq.py
with GPTQModel): 2/3/4/8 bits, groups, act-order, v1 and v2, bf16 scales, settings from
quantize_config.json, config.json, __metadata__ or the shapes. f32 equals GPTQModel's
dequantisation bit for bit whatever the chunking, bf16 is its round-to-nearest-even narrowing,
qweight/qzeros/scales/g_idx leave the output as one X.weight [out, in], other tensors pass
through; broken companions or settings (hostile-inputs.md case 59, test/hostile/gptq/, and
config files written here) are refused with exit 1, naming file and tensors, writing nothing."""
import json
import shutil

import numpy as np
import pytest

from conftest import FIXTURES, ROOT, assert_any_chunking_gives, assert_holds, refused, remember, st_load, values

BASE = FIXTURES / "gptq"
CASES = sorted(p.name for p in BASE.iterdir() if p.is_dir())
HOSTILE = ROOT / "test" / "hostile" / "gptq"
COMPANIONS = (".qweight", ".qzeros", ".scales", ".g_idx")


def test_every_case_is_here():
    assert len(CASES) == 10


@pytest.mark.parametrize("case", CASES)
def test_f32_equals_gptqmodel(case, tmp_path):
    out = remember(BASE / case / "model.safetensors", tmp_path, "--dtype", "f32")
    assert_holds(out, st_load(BASE / case / "expected.safetensors"), dtype="F32")


@pytest.mark.parametrize("case", ["3bit-g64-asym", "4bit-actorder", "2bit-g32-asym"])
def test_any_chunking_gives_the_same_rows(case, tmp_path):
    expected = st_load(BASE / case / "expected.safetensors")
    assert_any_chunking_gives(expected, BASE / case / "model.safetensors", tmp_path)


@pytest.mark.parametrize("case", CASES)
def test_bf16_default_is_narrowed_expected(case, tmp_path):
    out = remember(BASE / case / "model.safetensors", tmp_path)  # default bf16
    assert_holds(out, st_load(BASE / case / "expected_bf16.safetensors"), dtype="BF16")


@pytest.mark.parametrize("case", ["4bit-g128-sym", "3bit-g64-asym"])
def test_companions_leave_and_others_pass_through(case, tmp_path):
    model = st_load(BASE / case / "model.safetensors")
    expected = st_load(BASE / case / "expected.safetensors")
    out = remember(BASE / case / "model.safetensors", tmp_path, "--dtype", "f32")
    others = {name for name in model if not name.endswith(COMPANIONS)}
    assert set(out) == set(expected) | others
    for name in others:
        assert np.array_equal(values(out[name]), values(model[name]).astype(np.float32)), name


def copy_case(case, tmp_path):
    """The case's model.safetensors alone in a fresh folder (no config beside it)."""
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(BASE / case / "model.safetensors", folder)
    return folder


def test_quantize_config_wins_over_config_json(tmp_path):
    folder = copy_case("4bit-g64-asym-v2", tmp_path)
    shutil.copy(BASE / "4bit-g64-asym-v2" / "quantize_config.json", folder)
    (folder / "config.json").write_text(json.dumps({"quantization_config": {"quant_method": "gptq", "bits": 4,
                                                                            "group_size": 64}}))  # would mean v1
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = remember(folder / "model.safetensors", out_dir, "--dtype", "f32")
    assert_holds(out, st_load(BASE / "4bit-g64-asym-v2" / "expected.safetensors"))


@pytest.mark.parametrize("config_name,text,fragment", [
    ("quantize_config.json", "{\"bits\": 4,", "quantize_config.json: not valid JSON"),
    ("quantize_config.json", json.dumps({"bits": "4"}), "quantize_config.json: bits: expected an integer"),
    ("quantize_config.json", json.dumps({"bits": 4, "checkpoint_format": "gptq_p"}), "checkpoint format 'gptq_p'"),
    ("quantize_config.json", json.dumps({"bits": 4, "dynamic": {"+:.*q_proj": {"bits": 8}}}),
     "per-module overrides (\"dynamic\""),
    ("quantize_config.json", json.dumps({"bits": 3, "group_size": 128}),
     "tensor 'model.layers.0.mlp.down_proj.qweight' has shape [16, 36] but tensor "
     "'model.layers.0.mlp.down_proj.g_idx' [128] with 3 bits needs 12 rows"),
    ("config.json", json.dumps({"quantization_config": {"quant_method": "bitblas", "bits": 4}}),
     "quant_method 'bitblas'"),
])
def test_broken_configs_are_refused(config_name, text, fragment, tmp_path):
    folder = copy_case("4bit-g128-sym", tmp_path)
    (folder / config_name).write_text(text)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert fragment in refused(folder / "model.safetensors", out_dir)


@pytest.mark.parametrize("name,fragment", [
    ("59-gptq-qweight-rows", "tensor 'layer.qweight' has shape [9, 32] but tensor 'layer.g_idx' [64]"),
    ("59-gptq-qzeros-shape", "tensor 'layer.qzeros' has shape [2, 3] but tensor 'layer.qweight' [8, 32]"),
    ("59-gptq-scales-groups", "tensor 'layer.scales' has shape [3, 32] but tensor 'layer.qweight' [8, 32]"),
    ("59-gptq-gidx-range", "tensor 'layer.g_idx' entry 40 is 2, outside the 2 groups of 'layer.scales'"),
    ("59-gptq-bits-5", "5-bit GPTQ"),
    ("59-gptq-group-zero", "group_size 0"),
    ("59-gptq-missing-qzeros", "tensor 'layer.qzeros' is missing (companion of tensor 'layer.qweight')"),
    ("59-gptq-scales-int", "tensor 'layer.scales' is I32; expected a float type"),
])
def test_broken_companions_are_refused(name, fragment, tmp_path):
    source = HOSTILE / f"{name}.safetensors"
    stderr = refused(source, tmp_path)
    assert str(source) in stderr and fragment in stderr
