#!/usr/bin/env python3
"""Writes test/hostile/gptq/: GPTQ checkpoints with broken companions or settings
(shared/docs/hostile-inputs.md case 59: shape mismatches, g_idx >= groups, bits not in
{2, 3, 4, 8}, group size 0, missing companion, non-float scales, and the other checks), and
expect_remember.tsv (file, error code, message fragment). open_model reads these files fine
(they are valid safetensors); the refusal comes from scheme recognition or, for g_idx values,
from the row source, so test/unit/test_gptq.cpp checks them, not test_hostile.cpp (which reads
expect.tsv only).

Each file starts from one valid layer in GPTQ's layout (4 bits, group 32, in 64, out 32:
qweight [8, 32] int32, qzeros [2, 4] int32, scales [2, 32] f16, g_idx [64] int32; random
codes) with its settings in the safetensors __metadata__ (the folder has no config file), and
changes one thing.
Run from the repo root: python3 test/hostile/gen_gptq.py
"""
import numpy as np

from remember_cases import write_cases

OUT = "test/hostile/gptq"
L = "layer"
META = {"format": "pt", "quant_method": "gptq", "bits": "4", "group_size": "32", "checkpoint_format": "gptq"}


def layer():
    rng = np.random.default_rng(59)
    return {
        f"{L}.qweight": rng.integers(-2**31, 2**31, size=(8, 32), dtype=np.int64).astype(np.int32),
        f"{L}.qzeros": rng.integers(-2**31, 2**31, size=(2, 4), dtype=np.int64).astype(np.int32),
        f"{L}.scales": (rng.random((2, 32)) * 0.01).astype(np.float16),
        f"{L}.g_idx": (np.arange(64) // 32).astype(np.int32),
    }


def with_meta(**changes):
    meta = dict(META)
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    return meta


def g_idx_with(position, value):
    g_idx = (np.arange(64) // 32).astype(np.int32)
    g_idx[position] = value
    return g_idx


CASES = [
    # file, tensor changes (None removes), metadata, code, message fragment
    ("59-gptq-qweight-rows", {f"{L}.qweight": np.zeros((9, 32), np.int32)}, META, "parse",
     "tensor 'layer.qweight' has shape [9, 32] but tensor 'layer.g_idx' [64] with 4 bits needs 8 rows"),
    ("59-gptq-qzeros-shape", {f"{L}.qzeros": np.zeros((2, 3), np.int32)}, META, "parse",
     "tensor 'layer.qzeros' has shape [2, 3] but tensor 'layer.qweight' [8, 32] with 4 bits needs [2, 4]"),
    ("59-gptq-scales-columns", {f"{L}.scales": np.ones((2, 31), np.float16)}, META, "parse",
     "tensor 'layer.scales' has shape [2, 31] but tensor 'layer.qweight' [8, 32] needs [2, 32]"),
    ("59-gptq-scales-groups", {f"{L}.scales": np.ones((3, 32), np.float16), f"{L}.qzeros": np.zeros((3, 4), np.int32)},
     META, "parse", "tensor 'layer.scales' has shape [3, 32] but tensor 'layer.qweight' [8, 32] needs [2, 32]"),
    ("59-gptq-gidx-range", {f"{L}.g_idx": g_idx_with(40, 2)}, META, "parse",
     "tensor 'layer.g_idx' entry 40 is 2, outside the 2 groups of 'layer.scales'"),
    ("59-gptq-gidx-negative", {f"{L}.g_idx": g_idx_with(3, -1)}, META, "parse",
     "tensor 'layer.g_idx' entry 3 is -1, outside the 2 groups of 'layer.scales'"),
    ("59-gptq-gidx-2d", {f"{L}.g_idx": np.zeros((8, 8), np.int32)}, META, "parse",
     "tensor 'layer.g_idx' has shape [8, 8]; expected [in]"),
    ("59-gptq-gidx-float", {f"{L}.g_idx": np.zeros(64, np.float32)}, META, "parse",
     "tensor 'layer.g_idx' is F32; expected I32 or I64"),
    ("59-gptq-bits-5", {}, with_meta(bits="5"), "unsupported", "5-bit GPTQ (GPTQModel's planar layout)"),
    ("59-gptq-bits-16", {}, with_meta(bits="16"), "parse", "bits 16 in"),
    ("59-gptq-bits-text", {}, with_meta(bits="four"), "parse", "__metadata__ bits: 'four' is not an integer"),
    ("59-gptq-group-zero", {}, with_meta(group_size="0"), "parse", "group_size 0 in"),
    ("59-gptq-missing-qzeros", {f"{L}.qzeros": None}, META, "parse",
     "tensor 'layer.qzeros' is missing (companion of tensor 'layer.qweight')"),
    ("59-gptq-missing-scales", {f"{L}.scales": None}, META, "parse",
     "tensor 'layer.scales' is missing (companion of tensor 'layer.qweight')"),
    ("59-gptq-scales-int", {f"{L}.scales": np.ones((2, 32), np.int32)}, META, "parse",
     "tensor 'layer.scales' is I32; expected a float type"),
    ("59-gptq-scales-f64", {f"{L}.scales": np.ones((2, 32), np.float64)}, META, "unsupported",
     "tensor 'layer.scales' is F64; amn reads F16, BF16 and F32 scales"),
    ("59-gptq-qweight-f16", {f"{L}.qweight": np.zeros((8, 32), np.float16)}, META, "parse",
     "tensor 'layer.qweight' is F16; expected I32"),
    ("59-gptq-qweight-i16", {f"{L}.qweight": np.zeros((16, 32), np.int16)}, META, "unsupported",
     "tensor 'layer.qweight' is packed in I16 words"),
    ("59-gptq-qweight-empty", {f"{L}.qweight": np.zeros((0, 32), np.int32)}, META, "parse",
     "tensor 'layer.qweight' is empty"),
    ("59-gptq-format-marlin", {}, with_meta(checkpoint_format="marlin"), "unsupported",
     "checkpoint format 'marlin'"),
    ("59-gptq-method-unknown", {}, with_meta(quant_method="hqq"), "unsupported", "quant_method 'hqq'"),
    ("59-gptq-desc-act-no-gidx", {f"{L}.g_idx": None}, with_meta(desc_act="true"), "parse",
     "desc_act is set in"),
    ("59-gptq-group-unknown", {f"{L}.g_idx": None}, {"format": "pt"}, "parse",
     "tensor 'layer.scales' has 2 groups and there is no tensor 'layer.g_idx': the group size is unknown"),
    ("59-gptq-bits-unfit", {f"{L}.qzeros": np.zeros((2, 5), np.int32)}, {"format": "pt"}, "parse",
     "tensor 'layer.qweight' [8, 32] and tensor 'layer.qzeros' [2, 5] fit no GPTQ bit width"),
    ("59-gptq-weight-and-qweight", {f"{L}.weight": np.ones((32, 64), np.float16)}, META, "parse",
     "both tensor 'layer.weight' and tensor 'layer.qweight' are present"),
]


def main():
    write_cases(OUT, "gen_gptq.py", layer, CASES)


if __name__ == "__main__":
    main()
