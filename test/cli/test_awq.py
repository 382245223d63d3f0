"""`amn remember` on AWQ GEMM checkpoints (test/fixtures/awq/, made by test/fixtures/gen/gen_awq.py
with AutoAWQ; their values, and that qweight/qzeros/scales leave the output as one X.weight, are
checked in test_schemes.py): broken settings in config files written here are refused with exit
1, naming the file, writing nothing. Broken companions (test/hostile/awq/) are refused in
test_hostile_cli.py."""
import json
import shutil

import pytest

from conftest import FIXTURES, refused

BASE = FIXTURES / "awq"


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
