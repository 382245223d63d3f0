#!/usr/bin/env python3
"""Writes test/hostile/fp8/: FP8 checkpoints whose scales fit no layout (shared/docs/
hostile-inputs.md case 60: block scales not [ceil(out/128), ceil(in/128)], and the other scale
checks), a config.json with `weight_block_size` [16, 16] beside them, and expect_remember.tsv
(file, error code, message fragment). open_model reads these files fine (they are valid
safetensors); the refusal comes from scheme recognition, so test/unit/test_fp8.cpp checks them
through recognise_schemes and test/cli/test_fp8.py through `amn remember`, not test_hostile.cpp
(which reads expect.tsv only).

Each file holds a 20×40 E4M3 weight (a [2, 3] grid of 16×16 blocks) `x.weight` (torch's float8_e4m3fn cast) and one broken
scale. Run from the repo root: python3 test/hostile/gen_fp8.py
"""
import json
import os

import torch
from safetensors.torch import save_file

OUT = "test/hostile/fp8"

WEIGHT = (torch.randn(20, 40, generator=torch.Generator().manual_seed(60)) * 100).to(torch.float8_e4m3fn)
CASES = [
    # file, extra tensors, code, fragment
    ("60-fp8-block-grid", {"x.weight_scale_inv": torch.ones(2, 2)}, "parse",
     "tensor 'x.weight_scale_inv' [2, 2] (scale of 'x.weight' [20, 40]) matches no FP8 scale layout"),
    ("60-fp8-block-grid-transposed", {"x.weight_scale_inv": torch.ones(3, 2)}, "parse",
     "expected [] or [1] (per tensor), [20] or [20, 1] (per channel), or [2, 3] (blocks of 16×16)"),
    ("60-fp8-channel-count", {"x.weight_scale": torch.ones(19, 1, dtype=torch.bfloat16)}, "parse",
     "tensor 'x.weight_scale' [19, 1] (scale of 'x.weight' [20, 40]) matches no FP8 scale layout"),
    ("60-fp8-scale-int", {"x.weight_scale": torch.ones(20, dtype=torch.int32)}, "unsupported",
     "tensor 'x.weight_scale' [20] (scale of 'x.weight' [20, 40]) is I32"),
    ("60-fp8-scale-e8m0", {"x.weight_scale_inv": torch.ones(2, 3).to(torch.float8_e8m0fnu)}, "unsupported",
     "is F8_E8M0; FP8 scales must be F32, BF16 or F16"),
    ("60-fp8-two-scales", {"x.weight_scale": torch.ones(()), "x.weight_scale_inv": torch.ones(2, 3)}, "parse",
     "tensor 'x.weight' has two scales, 'x.weight_scale' and 'x.weight_scale_inv'"),
]


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "config.json"), "w") as out:
        json.dump({"quantization_config": {"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [16, 16]}}, out)
    lines = []
    for name, extra, code, fragment in CASES:
        save_file({"x.weight": WEIGHT, **extra}, os.path.join(OUT, name + ".safetensors"))
        lines.append(f"{name}.safetensors\t{code}\t{fragment}\n")
    with open(os.path.join(OUT, "expect_remember.tsv"), "w") as out:
        out.writelines(lines)


if __name__ == "__main__":
    main()
