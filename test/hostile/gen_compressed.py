#!/usr/bin/env python3
"""Writes test/hostile/compressed/: compressed-tensors pack-quantized checkpoints with broken
companions (shared/docs/hostile-inputs.md cases 59-60 applied to this scheme: a missing
companion, scale / zero-point / packed shapes that disagree with `weight_shape`, wrong dtypes,
unsupported packings), the config.json of the int4 group-32 asymmetric fixture beside them, and
expect_remember.tsv (file, error code, message fragment). open_model reads these files fine (they
are valid safetensors); the refusal comes from scheme recognition, so
test/unit/test_compressed_tensors.cpp checks them through recognise_schemes and
test/cli/test_compressed_tensors.py through `amn remember`, not test_hostile.cpp.

Each file starts from module `model.layers.0.self_attn.q_proj` of
test/fixtures/compressed/int4-group32-asym (written by compressed-tensors 0.20.0, see
test/fixtures/gen/gen_compressed.py: weight [60, 64], two groups of 32, int4 asymmetric),
renamed `x.*`, and changes one thing. Run from the repo root: python3 test/hostile/gen_compressed.py
"""
import os
import shutil

import torch
from safetensors.torch import load_file, save_file

SOURCE = "test/fixtures/compressed/int4-group32-asym/"
OUT = "test/hostile/compressed"
MODULE = "model.layers.0.self_attn.q_proj."


def base():
    model = load_file(SOURCE + "model.safetensors")
    return {"x." + name[len(MODULE):]: tensor for name, tensor in model.items() if name.startswith(MODULE)}


def without(name):
    return lambda tensors: {key: value for key, value in tensors.items() if key != name}


def replaced(name, make):
    return lambda tensors: {**tensors, name: make(tensors[name])}


CASES = [
    # file, change, code, fragment
    ("60-ct-missing-shape", without("x.weight_shape"), "parse", "its companion 'x.weight_shape' is missing"),
    ("60-ct-missing-scale", without("x.weight_scale"), "parse", "its companion 'x.weight_scale' is missing"),
    ("60-ct-missing-zero-point", without("x.weight_zero_point"), "parse",
     "(weight [60, 64], 'x.weight_scale' [60, 2], no zero point) matches no pack-quantized config group of"),
    ("60-ct-scale-rows", replaced("x.weight_scale", lambda t: t[:59].contiguous()), "parse",
     "tensor 'x.weight_scale' [59, 2] (scale of 'x.weight_packed') does not fit the weight [60, 64]"),
    ("60-ct-scale-groups", replaced("x.weight_scale", lambda t: torch.cat([t, t[:, :1]], 1)), "parse",
     "tensor 'x.weight_scale' [60, 3] (scale of 'x.weight_packed') does not fit the weight [60, 64]"),
    ("60-ct-scale-int", replaced("x.weight_scale", lambda t: t.to(torch.int8)), "unsupported",
     "tensor 'x.weight_scale' [60, 2] (scale of 'x.weight_packed') is I8"),
    ("60-ct-zero-point-shape", replaced("x.weight_zero_point", lambda t: t[:7].contiguous()), "parse",
     "tensor 'x.weight_zero_point' is I32 [7, 2]; expected I32 [8, 2]"),
    ("60-ct-shape-in-lie", replaced("x.weight_shape", lambda t: torch.tensor([60, 48])), "parse",
     "tensor 'x.weight_packed' [60, 8] (weight [60, 48], 'x.weight_scale' [60, 2], a zero point) fits neither"),
    ("60-ct-shape-out-lie", replaced("x.weight_shape", lambda t: torch.tensor([61, 64])), "parse",
     "tensor 'x.weight_packed' [60, 8] does not fit 'x.weight_shape' = [61, 64]"),
    ("60-ct-shape-overflow", replaced("x.weight_shape", lambda t: torch.tensor([60, 1 << 62])), "parse",
     "does not fit 'x.weight_shape' = [60, 4611686018427387904]"),
    ("60-ct-shape-negative", replaced("x.weight_shape", lambda t: torch.tensor([60, -64])), "parse",
     "does not fit 'x.weight_shape' = [60, -64]"),
    ("60-ct-shape-f32", replaced("x.weight_shape", lambda t: t.to(torch.float32)), "parse",
     "tensor 'x.weight_shape' is F32 [2]; expected I64 or I32 [2]"),
    ("60-ct-packed-u8", replaced("x.weight_packed", lambda t: t.view(torch.uint8)), "unsupported",
     "tensor 'x.weight_packed': asymmetric NVFP4 (weight_zero_point) is not supported"),  # U8 packing is NVFP4's
    ("60-ct-g-idx", lambda t: {**t, "x.weight_g_idx": torch.zeros(64, dtype=torch.int32)}, "unsupported",
     "activation-ordered weights (weight_g_idx) are not supported"),
]


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    shutil.copyfile(SOURCE + "config.json", os.path.join(OUT, "config.json"))
    lines = []
    for name, change, code, fragment in CASES:
        save_file(change(base()), os.path.join(OUT, name + ".safetensors"))
        lines.append(f"{name}.safetensors\t{code}\t{fragment}\n")
    with open(os.path.join(OUT, "expect_remember.tsv"), "w") as out:
        out.writelines(lines)


if __name__ == "__main__":
    main()
