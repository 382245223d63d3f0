"""`amn remember` on every quantisation-scheme fixture (test/fixtures/<scheme>/<case>/, each made by
test/fixtures/gen/gen_<scheme>.py with the library that defines the scheme: transformers for FP8,
compressed-tensors, GPTQModel, AutoAWQ, bitsandbytes; gen_fp4.py: compressed-tensors and ModelOpt NVFP4,
transformers MXFP4): with --dtype f32 every dequantised tensor
equals the library's expected.safetensors bit for bit, whatever the chunking; with --dtype bf16
it equals expected_bf16.safetensors (the library's values narrowed by torch), as does the default
output except that unquantised float tensors pass through unchanged. GPTQ and AWQ companions
leave the output and the other tensors widen exactly to f32. What else each scheme
consumes or keeps, its settings and its refusals are tested in test_<scheme>.py; every
test/hostile/*/expect_remember.tsv file is refused in test_hostile_cli.py. `amn inspect` names each
fixture's scheme with remember's recognisers."""
import json
import re

import numpy as np
import pytest

from conftest import (FIXTURES, assert_any_chunking_gives, assert_holds, assert_same_tensor, remember, run, st_load,
                      st_write, values)

SCHEMES = ["fp8", "compressed", "gptq", "awq", "bnb", "nvfp4", "mxfp4"]
CASES = [pytest.param(folder, id=f"{scheme}/{folder.name}")
         for scheme in SCHEMES for folder in sorted((FIXTURES / scheme).iterdir()) if folder.is_dir()]


def test_fp8_expert_stack_equals_the_library(tmp_path):
    # Per-tensor FP8 decodes element by element, so q_proj's codes viewed as a stack of 4 experts
    # [4, 16, 96] must give its library values viewed the same way, whatever the windows (a
    # stack beyond rank 2 is decoded a row of its last dimension at a time).
    source = FIXTURES / "fp8" / "per-tensor-e4m3"
    model = st_load(source / "model.safetensors")
    q_proj = "model.layers.0.self_attn.q_proj."
    stack = {q_proj + "weight": model[q_proj + "weight"]._replace(shape=[4, 16, 96]),
             q_proj + "weight_scale": model[q_proj + "weight_scale"]}
    folder = tmp_path / "in"
    folder.mkdir()
    out = remember(st_write(folder / "model.safetensors", stack), tmp_path, "--dtype", "f32", "--chunk-size", "4KiB")
    want = values(st_load(source / "expected.safetensors")[q_proj + "weight"]).reshape(4, 16, 96)
    assert np.array_equal(values(out[q_proj + "weight"]), want)


def test_every_fixture_is_here():
    assert len(CASES) == 4 + 3 + 10 + 2 + 4 + 3 + 1


@pytest.mark.parametrize("folder", CASES)
def test_f32_equals_the_library(folder, tmp_path):
    out = remember(folder / "model.safetensors", tmp_path, "--dtype", "f32")
    assert_holds(out, st_load(folder / "expected.safetensors"))


@pytest.mark.parametrize("folder", CASES)
def test_bf16_equals_the_library_narrowed(folder, tmp_path):
    out = remember(folder / "model.safetensors", tmp_path, "--dtype", "bf16")
    assert_holds(out, st_load(folder / "expected_bf16.safetensors"))


@pytest.mark.parametrize("folder", CASES)
def test_any_chunking_gives_the_same_values(folder, tmp_path):
    assert_any_chunking_gives(st_load(folder / "expected.safetensors"), folder / "model.safetensors", tmp_path)


@pytest.mark.parametrize("folder", CASES)
def test_default_dequantises_to_bf16_and_leaves_float_bystanders(folder, tmp_path):
    model = st_load(folder / "model.safetensors")
    out = remember(folder / "model.safetensors", tmp_path)
    for name, want in st_load(folder / "expected_bf16.safetensors").items():
        if name in model and model[name].dtype in ("F64", "F32", "F16", "BF16"):
            want = model[name]  # not quantised: passes through untouched
        assert_same_tensor(out[name], want, name)


INSPECTED = {"fp8": r"FP8 E(4M3|5M2) \((per-tensor|per-channel|block \d+×\d+|unscaled)(, unscaled)?\)",
             "compressed": "compressed-tensors pack-quantized int(4|8)", "gptq": r"GPTQ [2348]-bit( v2)?(, group \d+|, one group)?",
             "awq": "AWQ 4-bit GEMM(, group 128)?", "bnb": r"BitsAndBytes (NF4|FP4|INT8)( double-quant)?",
             "nvfp4": "(compressed-tensors|ModelOpt) NVFP4", "mxfp4": r"MXFP4 \(gpt-oss experts\)"}


@pytest.mark.parametrize("folder", CASES)
def test_inspect_names_the_scheme_as_remember_does(folder):
    scheme = json.loads(run("inspect", folder / "model.safetensors", "--json", check=0).stdout)["scheme"]
    assert re.fullmatch(INSPECTED[folder.parent.name], scheme), scheme
    assert ("double-quant" in scheme) == (folder.name == "nf4-dq"), scheme


QWEIGHT_COMPANIONS = {"gptq": (".qweight", ".qzeros", ".scales", ".g_idx"), "awq": (".qweight", ".qzeros", ".scales")}


@pytest.mark.parametrize("folder", [case for case in CASES if case.values[0].parent.name in QWEIGHT_COMPANIONS])
def test_qweight_companions_leave_and_others_widen_to_f32(folder, tmp_path):
    model = st_load(folder / "model.safetensors")
    expected = st_load(folder / "expected.safetensors")
    out = remember(folder / "model.safetensors", tmp_path, "--dtype", "f32")
    others = {name for name in model if not name.endswith(QWEIGHT_COMPANIONS[folder.parent.name])}
    assert set(out) == set(expected) | others
    for name in others:
        assert np.array_equal(values(out[name]), values(model[name]).astype(np.float32)), name
