"""transformers loads amn's encoder outputs (`convert --to bnb-nf4|bnb-fp4|bnb-int8|fp8 -o DIR/`,
bnb-nf4 also with --double-quant
of the tiny Llama in test/fixtures/hfdir/tiny-llama) with `from_pretrained(DIR)` as they are: no
missing, unexpected or mismatched weight, the quantised modules are bitsandbytes' Linear4bit /
Linear8bitLt (compressed-tensors decompresses FP8), and the logits equal those of the same model
quantised by the library itself (test/fixtures/encode/hf-*.logits.safetensors, made by
gen_encode_hf.py: transformers + bitsandbytes on load, compressed-tensors for FP8; one CPU thread).

Run by `scripts/test.sh --clients` (scripts/setup.sh --clients installs transformers, bitsandbytes,
accelerate and compressed-tensors)."""
import pathlib
import sys

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, BitsAndBytesConfig

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "test" / "cli"))
from conftest import FIXTURES, run  # noqa: E402

CASES = {
    "bnb-nf4": (["--to", "bnb-nf4"], "Linear4bit"),
    "bnb-fp4": (["--to", "bnb-fp4"], "Linear4bit"),
    "bnb-nf4-dq": (["--to", "bnb-nf4", "--double-quant"], "Linear4bit"),
    "bnb-int8": (["--to", "bnb-int8"], "Linear8bitLt"),
    "fp8-tensor": (["--to", "fp8", "--scheme", "tensor"], "Linear"),
    "fp8-channel": (["--to", "fp8", "--scheme", "channel"], "Linear"),
    "fp8-block": (["--to", "fp8", "--scheme", "block"], "Linear"),
}


@pytest.mark.parametrize("case", CASES)
def test_transformers_loads_the_encoded_directory_with_the_library_logits(case, tmp_path):
    args, module = CASES[case]
    out = tmp_path / "out"
    run("convert", FIXTURES / "hfdir" / "tiny-llama", *args, "-o", f"{out}/", "-q", check=0)
    model, info = AutoModelForCausalLM.from_pretrained(out, output_loading_info=True)
    assert not any(info[key] for key in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    assert type(model.model.layers[0].self_attn.q_proj).__name__ == module
    assert type(model.lm_head).__name__ == "Linear"
    expected = load_file(FIXTURES / "encode" / f"hf-{case}.logits.safetensors")
    torch.set_num_threads(1)
    with torch.no_grad():
        got = model(input_ids=expected["input_ids"]).logits.float()
    assert torch.equal(got, expected["logits"]), f"max difference {(got - expected['logits']).abs().max()}"


def assert_int8_loads_as_transformers_quantises(source, tmp_path):
    """`amn convert SOURCE --to bnb-int8 -o DIR/` loads with from_pretrained(DIR), nothing missing,
    unexpected or mismatched, and gives exactly the logits of SOURCE quantised by transformers +
    bitsandbytes on load; returns the loaded model."""
    out = tmp_path / "out"
    run("convert", source, "--to", "bnb-int8", "-o", f"{out}/", "-q", check=0)
    model, info = AutoModelForCausalLM.from_pretrained(out, output_loading_info=True)
    assert not any(info[key] for key in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    reference = AutoModelForCausalLM.from_pretrained(source, quantization_config=BitsAndBytesConfig(load_in_8bit=True))
    input_ids = torch.tensor([[1, 5, 9, 33, 63, 2]])
    torch.set_num_threads(1)
    with torch.no_grad():
        got, want = model(input_ids=input_ids).logits, reference(input_ids=input_ids).logits
    assert torch.equal(got, want), f"max difference {(got - want).abs().max()}"
    return model


def test_transformers_loads_a_conv1d_model_encoded_by_amn(tmp_path):
    """GPT-2 (Conv1D layers, weights stored [in, out]) as bnb-int8: from_pretrained(DIR) loads amn's
    directory with nothing missing or mismatched and computes the logits of the same model that
    transformers quantised itself on load."""
    model = assert_int8_loads_as_transformers_quantises(FIXTURES / "conv1d" / "gpt2", tmp_path)
    assert type(model.transformer.h[0].attn.c_attn).__name__ == "Linear8bitLt"


def test_transformers_loads_a_moe_model_encoded_by_amn(tmp_path):
    """Mixtral as bnb-int8: from_pretrained(DIR) loads amn's directory with nothing missing or
    mismatched and computes the logits of the same model that transformers quantised itself."""
    assert_int8_loads_as_transformers_quantises(FIXTURES / "moe" / "mixtral", tmp_path)


@pytest.mark.parametrize("case", ["bnb-int8", "fp8-channel"])
def test_skip_by_part_of_a_name_loads_as_it_was_written(case, tmp_path):
    """--skip mlp. leaves every module whose name contains "mlp." unquantised; transformers 5 reads a
    skip pattern from the start of a name or at its end, so the config names each module: the MLP
    loads as nn.Linear holding the input's weights, nothing missing or mismatched."""
    args, _ = CASES[case]
    source = FIXTURES / "hfdir" / "tiny-llama"
    out = tmp_path / "out"
    run("convert", source, *args, "--skip", "mlp.", "-o", f"{out}/", "-q", check=0)
    model, info = AutoModelForCausalLM.from_pretrained(out, output_loading_info=True)
    assert not any(info[key] for key in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    up = model.model.layers[0].mlp.up_proj
    assert type(up).__name__ == "Linear" and type(model.model.layers[0].self_attn.q_proj).__name__ == CASES[case][1]
    plain = load_file(source / "model.safetensors")["model.layers.0.mlp.up_proj.weight"]
    assert torch.equal(up.weight.data.to(plain.dtype), plain)
    torch.set_num_threads(1)
    with torch.no_grad():
        assert torch.isfinite(model(input_ids=torch.tensor([[1, 5, 9, 2]])).logits).all()
