#!/usr/bin/env python3
"""gpt-oss MXFP4 experts: `amn remember` side by side with transformers' own dequantisation
(transformers.integrations.mxfp4.convert_moe_packed_tensors, what from_pretrained runs to
dequantise gpt-oss on a machine without MXFP4 kernels).

Input: one safetensors file holding one gpt-oss-120b-shaped expert stack, `--experts` experts of
U8 blocks [E, 5760, 90, 16] and E8M0 scales [E, 5760, 90] (random codes, exponents 118..129).
Peer: a Python process that loads the file (safetensors.torch.load_file), calls
convert_moe_packed_tensors(blocks, scales, dtype=bfloat16) and saves the result (the time inside
that call alone is printed as "kernel"); amn: `remember IN -o OUT -q` (BF16 output, 2 threads).
Wall time and peak RSS from GNU time, alternating order; the outputs are compared tensor by tensor
(torch.equal) after each pair.

usage: bench/mxfp4_bench.py --dir /tmp/mxfp4-bench [--experts 4] [--reps 2] [--amn build/src/cli/amn]
"""
import argparse
import pathlib
import sys

import numpy as np

from encode_bench import timed  # wall time, peak RSS and the peer's "kernel" time, from GNU time

HERE = pathlib.Path(__file__).resolve().parent
NAME = "model.layers.0.mlp.experts.gate_up_proj"
OUT, IN = 5760, 2880

PEER = r'''
import sys, time, torch
from safetensors.torch import load_file, save_file
from transformers.integrations.mxfp4 import convert_moe_packed_tensors
src, dst, name = sys.argv[1:4]
weights = load_file(src)
start = time.perf_counter()
out = convert_moe_packed_tensors(weights[name + "_blocks"], weights[name + "_scales"], dtype=torch.bfloat16)
print(f"kernel {time.perf_counter() - start:.3f}", file=sys.stderr)
save_file({name: out.contiguous()}, dst)
'''


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--experts", type=int, default=4)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--amn", default=str(HERE.parent / "build" / "src" / "cli" / "amn"))
    opts = parser.parse_args()
    work = pathlib.Path(opts.dir)
    work.mkdir(parents=True, exist_ok=True)
    src = work / f"experts-{opts.experts}.safetensors"
    if not src.exists():
        from safetensors.numpy import save_file
        rng = np.random.default_rng(0)
        blocks = rng.integers(0, 256, size=(opts.experts, OUT, IN // 32, 16), dtype=np.uint8)
        scales = rng.integers(118, 130, size=(opts.experts, OUT, IN // 32), dtype=np.uint8)
        save_file({NAME + "_blocks": blocks, NAME + "_scales": scales}, str(src), metadata={"format": "pt"})
    import torch
    from safetensors.torch import load_file
    print(f"input: {src.stat().st_size / 1e6:.0f} MB, {opts.experts} experts")
    print("| rep | amn s | amn peak MB | peer s (kernel) | peer peak MB | peer / amn time | identical |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for rep in range(opts.reps):
        runs = {}
        for who in (["amn", "peer"] if rep % 2 else ["peer", "amn"]):
            dst = work / f"{who}.safetensors"
            dst.unlink(missing_ok=True)
            cmd = [opts.amn, "remember", src, "-o", dst, "-q"] if who == "amn" else [sys.executable, "-c", PEER, src, dst, NAME]
            runs[who] = timed([str(part) for part in cmd])
        same = torch.equal(load_file(work / "amn.safetensors")[NAME], load_file(work / "peer.safetensors")[NAME])
        (a_s, a_rss, _), (p_s, p_rss, p_k) = runs["amn"], runs["peer"]
        print(f"| {rep} | {a_s:.2f} | {a_rss / 1e6:.0f} | {p_s:.2f} ({p_k:.2f}) | {p_rss / 1e6:.0f} | {p_s / a_s:.2f}x | "
              f"{'yes' if same else 'FAILED'} |", flush=True)
        if not same:
            sys.exit(1)


if __name__ == "__main__":
    main()
