"""transformers loads the model directories amn writes as they are and computes the same logits:
`AutoModelForCausalLM.from_pretrained(DIR)` on amn's `remember`/`convert -o DIR/` output of the
tiny Llama models in test/fixtures/hfdir/ (saved by transformers; quantised by compressed-tensors:
int4 group 32, int8 per channel, FP8 E4M3 per channel and per tensor; by GPTQModel: 4-bit group
32; by AutoAWQ: 4-bit GEMM group 32) reports no missing, unexpected or mismatched weight, and in
float32 gives exactly the logits committed beside each model (gen_hfdir.py, gen_hfdir_gptq.py,
gen_hfdir_awq.py: the library's own dequantised weights in the same model, one CPU thread; for the
default BF16 output of GPTQ and AWQ, whose library values are float16, those narrowed to bfloat16).
The tokenizer loads from the same directory.

Run by `scripts/test.sh --clients` (scripts/setup.sh --clients installs torch and transformers)."""
import pathlib
import shutil
import sys

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "test" / "cli"))
from conftest import FIXTURES, run  # noqa: E402

BASE = FIXTURES / "hfdir"


def load(folder, **kwargs):
    """The model in `folder` as from_pretrained loads it, every weight from the files."""
    model, info = AutoModelForCausalLM.from_pretrained(folder, output_loading_info=True, **kwargs)
    assert not any(info[key] for key in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    return model


def logits(model, input_ids):
    torch.set_num_threads(1)
    with torch.no_grad():
        return model.float()(input_ids=input_ids).logits


QUANTISED = ["tiny-llama-w4", "tiny-llama-w8", "tiny-llama-fp8", "tiny-llama-fp8-tensor", "tiny-llama-gptq4",
             "tiny-llama-awq4"]


@pytest.mark.parametrize("case, command, args", [
    *[(case, "remember", ["--dtype", "f32"]) for case in QUANTISED],
    *[(case, "remember", []) for case in QUANTISED],  # bf16: the library's values narrowed (the same when bf16 already)
    ("tiny-llama-w4", "remember", ["--max-shard-size", "60KB"]),
    ("tiny-llama-gptq4", "remember", ["--dtype", "f16"]),  # GPTQModel computes in float16
    ("tiny-llama-awq4", "remember", ["--dtype", "f16"]),  # so does AutoAWQ
    ("tiny-llama", "convert", []),
    ("tiny-llama-bin", "convert", []),  # transformers 4.x pickle shards + index: tiny-llama's weights
    ("tiny-llama", "convert", ["--dtype", "f32", "--max-shard-size", "100KB"]),
])
def test_transformers_loads_the_directory_with_the_same_logits(case, command, args, tmp_path):
    out = tmp_path / "out"
    run(command, BASE / case, "-o", f"{out}/", "-q", *args, check=0)
    reference = case.removesuffix("-bin")
    narrowed = BASE / f"{reference}.bf16.logits.safetensors"  # when the library's values are not bf16 already
    expected = load_file(narrowed if "--dtype" not in args and narrowed.exists() else BASE / f"{reference}.logits.safetensors")
    model = load(out)
    # config.json names the type written: dtype="auto" (transformers 5's default) loads in it
    want = {"f32": torch.float32, "f16": torch.float16}.get(args[1] if args[:1] == ["--dtype"] else "", torch.bfloat16)
    assert load(out, dtype="auto").dtype == want
    got = logits(model, expected["input_ids"])
    assert torch.equal(got, expected["logits"]), f"max difference {(got - expected['logits']).abs().max()}"
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer("t0 t1").input_ids == [3, 4]
    assert tokenizer.apply_chat_template([{"role": "user", "content": "t5"}], tokenize=False) == "t5 "


def test_a_wrapped_pth_checkpoint_loads_under_its_own_names(tmp_path):
    """{"model": state_dict, "epoch": 3, "optimizer": ...} saved by torch beside config.json: amn reads
    the state dict's own names, so no weight is left randomly initialised."""
    source = tmp_path / "checkpoint"
    shutil.copytree(BASE / "tiny-llama", source, ignore=shutil.ignore_patterns("*.safetensors"))
    state = load_file(BASE / "tiny-llama" / "model.safetensors")
    torch.save({"model": state, "epoch": 3, "optimizer": {"state": {0: {"step": torch.tensor(1.0)}}}},
               source / "checkpoint.pth")
    out = tmp_path / "out"
    run("convert", source / "checkpoint.pth", "-o", f"{out}/", "-q", check=0)
    expected = load_file(BASE / "tiny-llama.logits.safetensors")
    assert torch.equal(logits(load(out), expected["input_ids"]), expected["logits"])


def test_a_remembered_conv1d_model_loads_with_the_library_weights(tmp_path):
    """transformers' own bnb-int8 GPT-2 (Conv1D layers), remembered: from_pretrained(DIR) loads it
    with nothing mismatched and computes the logits of GPT2LMHeadModel holding bitsandbytes'
    dequantised weights (test/fixtures/conv1d, gen_conv1d.py) and the other weights as saved."""
    conv1d = FIXTURES / "conv1d"
    source, out = tmp_path / "source", tmp_path / "out"
    run("convert", conv1d / "gpt2", "--to", "bnb-int8", "-o", f"{source}/", "-q", check=0)
    shutil.copy(conv1d / "gpt2-bnb-int8.safetensors", source / "model.safetensors")
    run("remember", source, "--dtype", "f32", "-o", f"{out}/", "-q", check=0)
    model = load(out)
    state = {name: tensor.float() for name, tensor in load_file(conv1d / "gpt2" / "model.safetensors").items()}
    state.update(load_file(conv1d / "gpt2-bnb-int8.dequant.safetensors"))
    reference = AutoModelForCausalLM.from_config(model.config).float().eval()
    assert reference.load_state_dict(state, strict=False).missing_keys == ["lm_head.weight"]  # tied to wte
    reference.tie_weights()
    input_ids = torch.tensor([[1, 5, 9, 33, 63, 2]])
    assert torch.equal(logits(model, input_ids), logits(reference, input_ids))
