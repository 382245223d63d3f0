"""`amn convert --to bnb-nf4|bnb-fp4|bnb-int8|fp8` against the libraries' own encodings of the
same weights (test/fixtures/encode/, made by test/fixtures/gen/gen_encode.py with bitsandbytes
and compressed-tensors): every output tensor byte for byte, the round trip through `amn remember`
equal to each library's dequantisation of its encoding, config.json's quantization_config as the
libraries write it, and bad inputs refused."""
import json
import shutil
import subprocess

import numpy as np
import pytest

from conftest import AMN, FIXTURES, assert_same_tensor, run, st_load, values

BASE = FIXTURES / "encode"
INPUT = BASE / "input.safetensors"
CASES = {
    "bnb-nf4": ["--to", "bnb-nf4"],
    "bnb-fp4": ["--to", "bnb-fp4"],
    "bnb-nf4-b128": ["--to", "bnb-nf4", "--blocksize", "128"],
    "bnb-nf4-dq": ["--to", "bnb-nf4", "--double-quant"],
    "bnb-fp4-dq": ["--to", "bnb-fp4", "--double-quant"],
    "bnb-int8": ["--to", "bnb-int8"],
    "fp8-tensor": ["--to", "fp8", "--scheme", "tensor"],
    "fp8-channel": ["--to", "fp8", "--scheme", "channel"],
    "fp8-block": ["--to", "fp8", "--scheme", "block"],
}
DTYPE_FLAG = {"F32": "f32", "F16": "f16", "BF16": "bf16"}


def encode(case, out, *extra):
    run("convert", INPUT, *CASES[case], "-o", out, "--force", "-q", *extra, check=0)
    return st_load(out)


@pytest.mark.parametrize("case", CASES)
def test_bytes_equal_the_library(case, tmp_path):
    got = encode(case, tmp_path / "out.safetensors")
    want = st_load(BASE / f"{case}.safetensors")
    assert set(got) == set(want)
    for name, tensor in want.items():
        assert_same_tensor(got[name], tensor, name)


@pytest.mark.parametrize("case", ["bnb-nf4", "bnb-nf4-dq", "bnb-int8", "fp8-block"])
def test_small_chunks_cut_units_anywhere(case, tmp_path):
    # 4 KiB windows cut packed blocks, rows and 128-row groups at arbitrary bytes.
    got = encode(case, tmp_path / "out.safetensors", "--chunk-size", "4KiB", "--threads", "2")
    want = st_load(BASE / f"{case}.safetensors")
    for name, tensor in want.items():
        assert_same_tensor(got[name], tensor, name)


@pytest.mark.parametrize("case", CASES)
def test_round_trip_equals_the_library_dequantisation(case, tmp_path):
    encoded = tmp_path / "encoded.safetensors"
    encode(case, encoded)
    want = st_load(BASE / f"{case}.dequant.safetensors")
    for dtype in sorted({tensor.dtype for tensor in want.values()}):
        out = tmp_path / f"remembered-{dtype}.safetensors"
        run("remember", encoded, "--dtype", DTYPE_FLAG[dtype], "-o", out, "-q", check=0)
        got = st_load(out)
        for name, tensor in want.items():
            if tensor.dtype != dtype:
                continue
            if case.startswith("bnb-fp4"):
                # bitsandbytes' CPU decoder gives +0.0 where its reference decoders (and amn) give
                # -0.0 for code 0b1000 (see gen_bnb.py): equal values.
                assert np.array_equal(values(got[name]), values(tensor)), name
            else:
                assert_same_tensor(got[name], tensor, name)


def model_dir(tmp_path):
    source = tmp_path / "model"
    source.mkdir()
    shutil.copy(INPUT, source / "model.safetensors")
    (source / "config.json").write_text(json.dumps({"model_type": "llama", "torch_dtype": "bfloat16"}))
    (source / "tokenizer.json").write_text("{}")
    return source


@pytest.mark.parametrize("case", ["bnb-nf4", "bnb-fp4", "bnb-nf4-dq", "bnb-int8", "fp8-tensor", "fp8-channel", "fp8-block"])
def test_directory_gets_the_quantization_config(case, tmp_path):
    source = model_dir(tmp_path)
    out = tmp_path / "out"
    run("convert", source, *CASES[case], "-o", f"{out}/", "-q", check=0)
    config = json.loads((out / "config.json").read_text())
    want = json.loads((BASE / "quantization_config.json").read_text())[case]
    assert config["quantization_config"] == want
    assert config["model_type"] == "llama"
    assert (out / "tokenizer.json").exists()
    assert set(st_load(out / "model.safetensors")) == set(st_load(BASE / f"{case}.safetensors"))


def test_skip_leaves_modules_unquantised(tmp_path):
    source = model_dir(tmp_path)
    out = tmp_path / "out"
    run("convert", source, "--to", "bnb-nf4", "--skip", "mlp.", "-o", f"{out}/", "-q", check=0)
    tensors = st_load(out / "model.safetensors")
    assert tensors["model.layers.0.mlp.up_proj.weight"] == st_load(INPUT)["model.layers.0.mlp.up_proj.weight"]
    assert "model.layers.0.self_attn.q_proj.weight.absmax" in tensors
    assert "model.layers.0.mlp.up_proj.weight.absmax" not in tensors
    # named one by one: transformers 5 matches a skip pattern from the start of a module name or at
    # its end, 4.x as a whole name, a path part or the last name; "mlp." is none of those
    skipped = sorted(name.removesuffix(".weight") for name in st_load(INPUT) if "mlp." in name and name.endswith("proj.weight"))
    config = json.loads((out / "config.json").read_text())["quantization_config"]
    assert config["llm_int8_skip_modules"] == ["lm_head", *skipped] and len(skipped) == 2


def test_nan_weight_is_refused(tmp_path):
    import safetensors.numpy
    bad = tmp_path / "bad.safetensors"
    weight = np.ones((4, 64), np.float32)
    weight[2, 7] = np.nan
    safetensors.numpy.save_file({"layer.q_proj.weight": weight}, str(bad))
    for args in (["--to", "bnb-nf4"], ["--to", "bnb-nf4", "--double-quant"], ["--to", "bnb-int8"],
                 ["--to", "fp8", "--scheme", "tensor"]):
        out = tmp_path / "out.safetensors"
        proc = run("convert", bad, *args, "-o", out, check=1)
        assert "layer.q_proj.weight" in proc.stderr and "NaN" in proc.stderr
        assert not out.exists()


def test_int8_refuses_values_beyond_float16(tmp_path):
    import safetensors.numpy
    bad = tmp_path / "big.safetensors"
    weight = np.ones((4, 64), np.float32)
    weight[1, 3] = 1e6  # bitsandbytes moves the weight to float16 first: it would be inf
    safetensors.numpy.save_file({"layer.q_proj.weight": weight}, str(bad))
    out = tmp_path / "out.safetensors"
    proc = run("convert", bad, "--to", "bnb-int8", "-o", out, check=1)
    assert "float16" in proc.stderr and not out.exists()


def test_tensors_named_like_companions_are_kept(tmp_path):
    import safetensors.numpy
    source = tmp_path / "clip.safetensors"
    tensors = {"logit_scale": np.array(2.5, np.float32), "layer_scale": np.ones(64, np.float32),
               "vision.q_proj.weight": np.ones((4, 64), np.float32)}
    safetensors.numpy.save_file(tensors, str(source))
    for args in (["--to", "bnb-nf4"], ["--to", "fp8"]):
        got = encode_file(source, tmp_path / "out.safetensors", args)
        assert values(got["logit_scale"]).tolist() == 2.5 and values(got["layer_scale"]).shape == (64,)


def encode_file(source, out, args):
    run("convert", source, *args, "-o", out, "--force", "-q", check=0)
    return st_load(out)


def test_quantised_input_and_bad_options_are_refused(tmp_path):
    out = tmp_path / "out.safetensors"
    for quantised in ("fp8-channel", "bnb-nf4", "bnb-int8"):
        proc = run("convert", BASE / f"{quantised}.safetensors", "--to", "bnb-nf4", "-o", out, check=1)
        assert "already quantised" in proc.stderr, quantised
    run("convert", INPUT, "--to", "bnb-nf4", "--blocksize", "48", "-o", out, check=2)
    run("convert", INPUT, "--to", "fp8", "--dtype", "bf16", "-o", out, check=2)
    for other in ("bnb-int8", "gguf"):
        proc = run("convert", INPUT, "--to", other, "--double-quant", "-o", out, check=2)
        assert "--double-quant is for" in proc.stderr
    with open(INPUT, "rb") as source:
        proc = subprocess.run([AMN, "convert", "-", "--to", "bnb-nf4", "--double-quant", "-o", out], stdin=source,
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "standard input" in proc.stderr, proc.stderr
    assert not out.exists()


@pytest.mark.parametrize("args, option", [
    (["--to", "bnb-int8", "--blocksize", "128"], "--blocksize"),
    (["--to", "fp8", "--blocksize", "128"], "--blocksize"),
    (["--to", "bnb-nf4", "--scheme", "block"], "--scheme"),
    (["--to", "gguf", "--scheme", "tensor"], "--scheme"),
    (["--to", "safetensors", "--skip", "mlp"], "--skip"),
])
def test_an_encoder_option_the_output_would_ignore_is_refused(args, option, tmp_path):
    """--blocksize (bnb 4-bit), --scheme (fp8) and --skip (encoders) are refused beside another
    --to instead of being dropped silently; nothing is written."""
    out = tmp_path / "out"
    proc = run("convert", INPUT, *args, "-o", f"{out}/", check=2)
    assert option in proc.stderr and args[1] in proc.stderr, proc.stderr
    assert not out.exists()


CONV1D = FIXTURES / "conv1d"


@pytest.mark.parametrize("case", ["bnb-nf4", "bnb-int8"])
def test_conv1d_weights_are_quantised_transposed_as_transformers_does(case, tmp_path):
    """GPT-2's Conv1D weights are stored [in, out]; transformers transposes them before bitsandbytes
    quantises them: every tensor equals what save_pretrained wrote after transformers quantised the
    same model on load (test/fixtures/conv1d, gen_conv1d.py)."""
    out = tmp_path / "out"
    run("convert", CONV1D / "gpt2", "--to", case, "-o", f"{out}/", "-q", check=0)
    got, want = st_load(out / "model.safetensors"), st_load(CONV1D / f"gpt2-{case}.safetensors")
    assert sorted(got) == sorted(want)
    for name, tensor in want.items():
        assert_same_tensor(got[name], tensor, name)


def test_fp8_leaves_conv1d_weights_as_they_are(tmp_path):
    """compressed-tensors quantises nn.Linear modules only: a GPT-2's Conv1D weights stay."""
    out = tmp_path / "out"
    proc = run("convert", CONV1D / "gpt2", "--to", "fp8", "-o", f"{out}/", check=0)
    assert st_load(out / "model.safetensors") == st_load(CONV1D / "gpt2" / "model.safetensors")
    assert "no Linear weight found" in proc.stderr


@pytest.mark.parametrize("case", ["bnb-nf4", "bnb-int8"])
def test_remember_writes_conv1d_weights_as_the_model_holds_them(case, tmp_path):
    """transformers' own bitsandbytes GPT-2 (its save_pretrained state dict, beside the config.json
    amn writes for it): remember gives bitsandbytes' dequantisation transposed back to the Conv1D
    layout [in, out], so the result loads into GPT2LMHeadModel; the other tensors as stored."""
    source = tmp_path / "source"
    run("convert", CONV1D / "gpt2", "--to", case, "-o", f"{source}/", "-q", check=0)
    shutil.copy(CONV1D / f"gpt2-{case}.safetensors", source / "model.safetensors")
    out = tmp_path / "out"
    run("remember", source, "--dtype", "f32", "-o", f"{out}/", "-q", check=0)
    got, plain = st_load(out / "model.safetensors"), st_load(CONV1D / "gpt2" / "model.safetensors")
    assert {name: t.shape for name, t in got.items()} == {name: t.shape for name, t in plain.items()}
    for name, tensor in st_load(CONV1D / f"gpt2-{case}.dequant.safetensors").items():
        assert_same_tensor(got[name], tensor, name)
    assert np.array_equal(values(got["transformer.wte.weight"]), values(plain["transformer.wte.weight"]))


def test_moe_experts_and_router_are_left_and_named_in_the_config(tmp_path):
    """A Mixtral's per-expert w1/w2/w3 and its router `gate`: transformers 5 holds them as fused 3-D
    parameters and a router module, not nn.Linear, so bitsandbytes leaves them; every tensor equals
    what save_pretrained wrote after transformers quantised the same model on load
    (test/fixtures/moe, gen_moe.py), and each module left is named in llm_int8_skip_modules, which
    transformers 4.x (whose experts are nn.Linear) needs to load the directory."""
    moe = FIXTURES / "moe"
    out = tmp_path / "out"
    run("convert", moe / "mixtral", "--to", "bnb-int8", "-o", f"{out}/", "-q", check=0)
    got, want = st_load(out / "model.safetensors"), st_load(moe / "mixtral-bnb-int8.safetensors")
    assert sorted(got) == sorted(want)
    for name, tensor in want.items():
        assert_same_tensor(got[name], tensor, name)
    left = [name.removesuffix(".weight") for name in want if ".experts." in name or name.endswith("moe.gate.weight")]
    config = json.loads((out / "config.json").read_text())["quantization_config"]
    assert sorted(config["llm_int8_skip_modules"]) == sorted(["lm_head", *left]) and len(left) == 13
