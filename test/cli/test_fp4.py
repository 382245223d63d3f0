"""FP4 checkpoints (test/fixtures/nvfp4/, test/fixtures/mxfp4/, made by gen_fp4.py; their values
against compressed-tensors, ModelOpt and transformers are checked in test_schemes.py): which tensors
leave the output, and malformed companions refused with the tensor named. Also the companion rule
for every scheme: a tensor named like a companion (`logit_scale`, `layer_scale`, a stray
`input_scale`, `k_scale` / `v_scale` of a module without quantised weights) is a companion only when
a quantised tensor of its scheme needs it; otherwise it is copied."""
import numpy as np
import pytest

from conftest import FIXTURES, Tensor, assert_same_tensor, refused, remember, st_load, st_write, values

NVFP4 = FIXTURES / "nvfp4"
MXFP4 = FIXTURES / "mxfp4" / "gptoss-mxfp4"
UP = "model.layers.0.mlp.up_proj."


@pytest.mark.parametrize("case,companions", [
    ("ct-nvfp4a16", (".weight_packed", ".weight_scale", ".weight_global_scale")),
    ("ct-nvfp4", (".weight_packed", ".weight_scale", ".weight_global_scale", ".input_global_scale")),
    ("modelopt-nvfp4", (".weight_scale", ".weight_scale_2", ".input_scale")),
])
def test_nvfp4_companions_leave_and_others_pass_through(case, companions, tmp_path):
    model = st_load(NVFP4 / case / "model.safetensors")
    out = remember(NVFP4 / case / "model.safetensors", tmp_path)
    assert not [name for name in out if name.endswith(companions)]
    assert set(out) == set(st_load(NVFP4 / case / "expected.safetensors"))
    for name in ("logit_scale", "lm_head.weight", "model.layers.0.input_layernorm.weight"):
        assert_same_tensor(out[name], model[name], name)
    assert out[UP + "weight"].dtype == "BF16" and out[UP + "weight"].shape == [48, 64]


def test_mxfp4_experts_are_transposed_and_biases_kept(tmp_path):
    model = st_load(MXFP4 / "model.safetensors")
    out = remember(MXFP4 / "model.safetensors", tmp_path)
    experts = "model.layers.0.mlp.experts."
    assert out[experts + "gate_up_proj"].shape == [2, 64, 192] and out[experts + "down_proj"].shape == [2, 96, 64]
    assert not [name for name in out if name.endswith(("_blocks", "_scales"))]
    assert_same_tensor(out[experts + "gate_up_proj_bias"], model[experts + "gate_up_proj_bias"], "bias")


def test_mxfp4_experts_wider_than_a_band_equal_the_library(tmp_path):
    # amn decodes an expert a band of block columns at a time (at most 4 MiB of f32). Each block
    # decodes on its own, so repeating an expert's block columns 100 times repeats transformers'
    # values (expected.safetensors) along the input axis: 200 columns of 192 outputs, two bands.
    experts = "model.layers.0.mlp.experts.gate_up_proj"
    model = st_load(MXFP4 / "model.safetensors")
    tiled = {}
    for suffix in ("_blocks", "_scales"):
        tensor = model[experts + suffix]
        array = np.frombuffer(tensor.data, np.uint8).reshape(tensor.shape)
        wide = np.ascontiguousarray(np.concatenate([array] * 100, axis=2))
        tiled[experts + suffix] = Tensor("U8", list(wide.shape), wide.tobytes())
    folder = tmp_path / "in"
    folder.mkdir()
    out = remember(st_write(folder / "model.safetensors", tiled), tmp_path, "--dtype", "f32")
    want = values(st_load(MXFP4 / "expected.safetensors")[experts])
    got = values(out[experts])
    assert got.shape == (2, 6400, 192)
    assert np.array_equal(got, np.concatenate([want] * 100, axis=1))


def edited(source, tmp_path, change):
    tensors = st_load(source)
    change(tensors)
    folder = tmp_path / "in"
    folder.mkdir()
    return st_write(folder / "model.safetensors", tensors)


@pytest.mark.parametrize("source,change,message", [
    (NVFP4 / "modelopt-nvfp4" / "model.safetensors", lambda t: t.pop(UP + "weight_scale"),
     f"'{UP}weight_scale' is missing"),
    (NVFP4 / "ct-nvfp4a16" / "model.safetensors", lambda t: t.pop(UP + "weight_global_scale"),
     f"'{UP}weight_global_scale' is missing"),
    (NVFP4 / "ct-nvfp4a16" / "model.safetensors",
     lambda t: t.update({UP + "weight_global_scale": t[UP + "weight_global_scale"]._replace(shape=[])}),
     "expected shape [1], as compressed-tensors writes it"),
    (NVFP4 / "modelopt-nvfp4" / "model.safetensors",
     lambda t: t.update({UP + "weight_scale": t[UP + "weight_scale"]._replace(shape=[96, 2])}),
     "expected F8_E4M3 scales [48, 4]"),
    (NVFP4 / "modelopt-nvfp4" / "model.safetensors",
     lambda t: t.update({UP + "weight_scale_2": t[UP + "weight_scale_2"]._replace(dtype="I32")}),
     "must be one F32 value"),
    (MXFP4 / "model.safetensors",
     lambda t: t.update({"model.layers.0.mlp.experts.down_proj_scales": t["model.layers.0.mlp.experts.down_proj_scales"]
                         ._replace(shape=[2, 32, 6])}),
     "expected U8 blocks [experts, out, in/32, 16]"),
])
def test_malformed_fp4_is_refused_naming_the_tensor(source, change, message, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    assert message in refused(edited(source, tmp_path, change), out)


def test_names_like_companions_are_copied_unless_their_scheme_needs_them(tmp_path):
    fp8 = FIXTURES / "fp8" / "block-128" / "model.safetensors"
    scalar = st_load(fp8)["logit_scale"]
    strays = {"vision.logit_scale": scalar, "text.layer_scale": scalar, "text.proj.input_scale": scalar,
              "text.attn.k_scale": scalar, "text.attn.v_scale": scalar,
              "model.layers.0.mlp.k_scale": scalar}  # under a module that holds FP8 weights: a companion
    source = edited(fp8, tmp_path, lambda t: t.update(strays))
    out = remember(source, tmp_path)
    for name in strays:
        if name.startswith("model.layers.0.mlp."):
            assert name not in out, name
        else:
            assert_same_tensor(out[name], scalar, name)
    assert_same_tensor(out["logit_scale"], scalar, "logit_scale")
