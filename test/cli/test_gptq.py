"""`amn remember` on GPTQ checkpoints (test/fixtures/gptq/, made by test/fixtures/gen/gen_gptq.py
with GPTQModel; their values, and that qweight/qzeros/scales/g_idx leave the output as one
X.weight, are checked in test_schemes.py): quantize_config.json wins over config.json; broken
settings in config files written here are refused with exit 1, naming the file, writing nothing.
Broken companions (test/hostile/gptq/) are refused in test_hostile_cli.py."""
import json
import shutil

import pytest

from conftest import FIXTURES, assert_holds, refused, remember, st_load

BASE = FIXTURES / "gptq"


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
    ("quantize_config.json", "{\"bits\": 4,", "quantize_config.json: invalid JSON"),
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
