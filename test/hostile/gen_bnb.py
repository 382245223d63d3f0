#!/usr/bin/env python3
"""Writes test/hostile/bnb/: BitsAndBytes checkpoints with broken companions (shared/docs/
hostile-inputs.md case 60: odd block size, absmax count != blocks, quant_state JSON malformed or
lying about shape, and the other companion checks), and expect_remember.tsv (file, error code,
message fragment). open_model reads these files fine (they are valid safetensors); the refusal
comes from scheme recognition, so test/unit/test_bnb.cpp checks them through
recognise_schemes, not test_hostile.cpp (which reads expect.tsv only).

Each file starts from a small, valid state_dict made by bitsandbytes 0.50.2 (Linear4bit NF4
blocksize 64, with and without double quant; Linear8bitLt) and changes one thing.
Run from the repo root: python3 test/hostile/gen_bnb.py
"""
import json
import os

import torch
import bitsandbytes as bnb
from safetensors.torch import save_file

OUT = "test/hostile/bnb"
W = "layer.weight"
STATE = W + ".quant_state.bitsandbytes__nf4"


def linear4bit(double_quant):
    layer = bnb.nn.Linear4bit(64, 8, bias=False, compress_statistics=double_quant, quant_type="nf4")
    source = torch.randn(8, 64, generator=torch.Generator().manual_seed(1)).to(torch.bfloat16)
    layer.weight = bnb.nn.Params4bit(source, requires_grad=False, blocksize=64, compress_statistics=double_quant,
                                     quant_type="nf4")
    layer = layer.to("cpu")
    return {"layer." + k: v.detach().contiguous() for k, v in layer.state_dict().items()}


def linear8bit():
    layer = bnb.nn.Linear8bitLt(64, 8, bias=False, has_fp16_weights=False)
    source = torch.randn(8, 64, generator=torch.Generator().manual_seed(2)).to(torch.float16)
    layer.weight = bnb.nn.Int8Params(source, requires_grad=False, has_fp16_weights=False)
    layer = layer.to("cpu")
    return {"layer." + k: v.detach().contiguous() for k, v in layer.state_dict().items()}


def json_bytes(text):
    return torch.tensor(list(text.encode()), dtype=torch.uint8)


def with_state(tensors, **changes):
    """`tensors` with the quant_state JSON's keys changed (None removes a key)."""
    state = json.loads(bytes(tensors[STATE].tolist()))
    for key, value in changes.items():
        if value is None:
            state.pop(key)
        else:
            state[key] = value
    return {**tensors, STATE: json_bytes(json.dumps(state))}


def without(tensors, *names):
    return {k: v for k, v in tensors.items() if k not in names}


def main():
    os.makedirs(OUT, exist_ok=True)
    plain, nested, int8 = linear4bit(False), linear4bit(True), linear8bit()
    text = bytes(plain[STATE].tolist()).decode()
    cases = [
        ("60-bnb-blocksize-odd", with_state(plain, blocksize=48), "parse",
         f"tensor '{STATE}': quant_state blocksize must be a power of two"),
        ("60-bnb-blocksize-zero", with_state(plain, blocksize=0), "parse", "blocksize must be a power of two"),
        ("60-bnb-absmax-count", {**plain, W + ".absmax": plain[W + ".absmax"][:-1].clone()}, "parse",
         f"tensor '{W}.absmax': has shape [7], expected [8]"),
        ("60-bnb-json-malformed", {**plain, STATE: json_bytes(text[:-5])}, "parse", "quant_state JSON: invalid JSON"),
        ("60-bnb-json-not-object", {**plain, STATE: json_bytes("[64]")}, "parse", "quant_state JSON is not an object"),
        ("60-bnb-json-duplicate-key", {**plain, STATE: json_bytes(text[:-1] + ', "blocksize": 128}')}, "parse",
         "repeats the key 'blocksize'"),
        ("60-bnb-json-unknown-key", with_state(plain, scale=2), "parse", "unknown key 'scale'"),
        ("60-bnb-json-no-shape", with_state(plain, shape=None), "parse", "quant_state JSON has no 'shape'"),
        ("60-bnb-json-too-big", {**plain, STATE: json_bytes(text[:-1] + "," + " " * 17000 + "}")}, "limit",
         "quant_state JSON larger than 16 KiB"),
        ("60-bnb-shape-lie-bigger", with_state(plain, shape=[8, 128]), "parse",
         f"tensor '{W}': holds 256 bytes but '{STATE}' (shape [8, 128], blocksize 64) needs 512"),
        ("60-bnb-shape-lie-negative", with_state(plain, shape=[8, -64]), "parse", "not a non-negative integer"),
        ("60-bnb-quant-type-lie", with_state(plain, quant_type="fp4"), "parse", "quant_type does not match"),
        ("60-bnb-dtype-int8", with_state(plain, dtype="int8"), "unsupported", "quant_state dtype 'int8'"),
        ("60-bnb-unknown-type", {**without(plain, STATE), W + ".quant_state.bitsandbytes__int4": plain[STATE]},
         "unsupported", "BitsAndBytes quant type 'int4'"),
        ("60-bnb-two-quant-states", {**plain, W + ".quant_state.bitsandbytes__fp4": json_bytes(
            text.replace('"nf4"', '"fp4"'))}, "parse", f"'{W}' has a second quant_state"),
        ("60-bnb-missing-absmax", without(plain, W + ".absmax"), "parse",
         f"tensor '{STATE}': its companion '{W}.absmax' is missing"),
        ("60-bnb-missing-weight", without(plain, W), "parse", f"its companion '{W}' is missing"),
        ("60-bnb-absmax-f16", {**plain, W + ".absmax": plain[W + ".absmax"].half()}, "unsupported",
         f"tensor '{W}.absmax': is F16"),
        ("60-bnb-quant-map-wrong", {**plain, W + ".quant_map": plain[W + ".quant_map"] * 2}, "unsupported",
         "differs from bitsandbytes' NF4 code book"),
        ("60-bnb-orphan-absmax", without(plain, STATE), "parse", "looks like a BitsAndBytes 4-bit companion"),
        ("60-bnb-nested-missing", without(nested, W + ".nested_absmax"), "parse",
         f"its companion '{W}.nested_absmax' is missing"),
        ("60-bnb-nested-count", {**nested, W + ".nested_absmax": torch.ones(2)}, "parse",
         f"tensor '{W}.nested_absmax': has shape [2], expected [1]"),
        ("60-bnb-nested-blocksize-odd", {**nested, STATE: json_bytes(
            bytes(nested[STATE].tolist()).decode().replace('"nested_blocksize": 256', '"nested_blocksize": 100'))},
         "parse", "nested_blocksize must be a power of two"),
        ("60-bnb-nested-without-state", {**plain, W + ".nested_absmax": torch.ones(1)}, "parse",
         "double-quantisation companion"),
        ("60-bnb-int8-scb-count", {**int8, "layer.SCB": int8["layer.SCB"][:-1].clone()}, "parse",
         "tensor 'layer.SCB': has shape [7], expected [8]"),
        ("60-bnb-int8-weight-f16", {**int8, "layer.weight": int8["layer.weight"].half()}, "parse",
         "tensor 'layer.weight': is F16 [8, 64]; LLM.int8 weights beside 'layer.SCB' are 2-d I8"),
        ("60-bnb-int8-col32", {**int8, "layer.weight_format": torch.tensor(1, dtype=torch.uint8)}, "unsupported",
         "tensor 'layer.weight_format': weight_format 1"),
        ("60-bnb-int8-missing-weight", without(int8, "layer.weight"), "parse",
         "tensor 'layer.SCB': its companion 'layer.weight' is missing"),
    ]
    with open(os.path.join(OUT, "expect_remember.tsv"), "w") as manifest:
        manifest.write("# file\tcode\tmessage fragment (made by test/hostile/gen_bnb.py; checked by test_bnb.cpp)\n")
        for name, tensors, code, fragment in cases:
            save_file(tensors, os.path.join(OUT, name + ".safetensors"), metadata={"format": "pt"})
            manifest.write(f"{name}.safetensors\t{code}\t{fragment}\n")


if __name__ == "__main__":
    main()
