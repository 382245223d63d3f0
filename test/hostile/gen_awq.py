#!/usr/bin/env python3
"""Writes test/hostile/awq/: AWQ GEMM checkpoints with broken companions or settings
(shared/docs/hostile-inputs.md case 60, the AWQ [in, out / 8] checks), and expect_remember.tsv
(file, error code, message fragment). open_model reads these files fine (they are valid
safetensors); the refusal comes from scheme recognition, so test/unit/test_awq.cpp checks them,
not test_hostile.cpp (which reads expect.tsv only).

Each file starts from one valid layer in AutoAWQ's GEMM layout (in 64, out 32, group 32:
qweight [64, 4] int32, qzeros [2, 4] int32, scales [2, 32] f16; random codes) with
quant_method "awq" in the safetensors __metadata__ (the folder has no config file), and changes
one thing.
Run from the repo root: python3 test/hostile/gen_awq.py
"""
import numpy as np

from remember_cases import write_cases

OUT = "test/hostile/awq"
L = "layer"
META = {"format": "pt", "quant_method": "awq"}


def layer():
    rng = np.random.default_rng(60)
    return {
        f"{L}.qweight": rng.integers(-2**31, 2**31, size=(64, 4), dtype=np.int64).astype(np.int32),
        f"{L}.qzeros": rng.integers(-2**31, 2**31, size=(2, 4), dtype=np.int64).astype(np.int32),
        f"{L}.scales": (rng.random((2, 32)) * 0.01).astype(np.float16),
    }


CASES = [
    # file, tensor changes (None removes), metadata, code, message fragment
    ("60-awq-qweight-columns", {f"{L}.qweight": np.zeros((64, 5), np.int32), f"{L}.qzeros": np.zeros((2, 5), np.int32)},
     META, "parse", "tensor 'layer.qweight' has shape [64, 5] but tensor 'layer.scales' [2, 32] needs 32 / 8 columns"),
    ("60-awq-qzeros-shape", {f"{L}.qzeros": np.zeros((2, 3), np.int32)}, META, "parse",
     "tensor 'layer.qzeros' has shape [2, 3] but tensor 'layer.qweight' [64, 4] and tensor 'layer.scales' [2, 32] need [2, 4]"),
    ("60-awq-groups-uneven", {f"{L}.scales": np.ones((3, 32), np.float16), f"{L}.qzeros": np.zeros((3, 4), np.int32)},
     META, "parse", "tensor 'layer.scales' has 3 groups but tensor 'layer.qweight' has 64 input features"),
    ("60-awq-group-size-lie", {}, dict(META, group_size="16"), "parse",
     "tensor 'layer.scales' has 2 groups but tensor 'layer.qweight' has 64 input features and group_size is 16"),
    ("60-awq-group-zero", {}, dict(META, group_size="0"), "parse", "group_size 0 in"),
    ("60-awq-bits-8", {}, dict(META, bits="8"), "unsupported", "8-bit AWQ"),
    ("60-awq-missing-qzeros", {f"{L}.qzeros": None}, META, "parse",
     "tensor 'layer.qzeros' is missing (companion of tensor 'layer.qweight')"),
    ("60-awq-scales-int", {f"{L}.scales": np.ones((2, 32), np.int16)}, META, "parse",
     "tensor 'layer.scales' is I16; expected a float type"),
    ("60-awq-qweight-i64", {f"{L}.qweight": np.zeros((64, 4), np.int64)}, META, "unsupported",
     "tensor 'layer.qweight' is packed in I64 words"),
    ("60-awq-qweight-f32", {f"{L}.qweight": np.zeros((64, 4), np.float32)}, META, "parse",
     "tensor 'layer.qweight' is F32; expected I32"),
    ("60-awq-qweight-3d", {f"{L}.qweight": np.zeros((64, 4, 1), np.int32)}, META, "parse",
     "tensor 'layer.qweight' has shape [64, 4, 1]; expected 2 dimensions"),
    ("60-awq-weight-and-qweight", {f"{L}.weight": np.ones((32, 64), np.float16)}, META, "parse",
     "both tensor 'layer.weight' and tensor 'layer.qweight' are present"),
]


def main():
    write_cases(OUT, "gen_awq.py", layer, CASES)


if __name__ == "__main__":
    main()
