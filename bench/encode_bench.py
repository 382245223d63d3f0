#!/usr/bin/env python3
"""Encoder benchmark: `amn convert IN --to bnb-nf4 [--double-quant]|bnb-int8|fp8` side by side with the libraries'
own quantisers on the same tensors (bitsandbytes 0.50 CPU quantize_4bit / Int8Params' path,
compressed-tensors calculate_qparams + FloatQuantizationCompressor.compress).

Input: one safetensors file of Llama-7B-layer-shaped BF16 Linear weights (per layer q/k/v/o
[4096, 4096], gate/up [11008, 4096], down [4096, 11008]; Gaussian σ 0.02), --layers layers.

Each peer run is a Python process doing what a user would: safetensors.torch.load_file, quantise
every tensor with one torch thread per core (torch's default), safetensors.torch.save_file of the
result; the time spent in the quantise calls alone is printed too ("kernel"). amn runs
`convert --to ... -o OUT` (the whole pipeline: read, encode, write). Both with the same threads,
alternating order, outputs deleted before each run. Wall time and peak RSS from GNU time
(`/usr/bin/time -f "%e %M"`). After each pair, amn's output is compared with the peer's, tensor
by tensor (bytes); a difference fails the run.

usage: bench/encode_bench.py --dir /tmp/encode-bench [--layers 1] [--reps 2]
           [--cases bnb-nf4,bnb-nf4-dq,bnb-int8,fp8-channel,fp8-block] [--amn build/src/cli/amn]
"""
import argparse
import os
import pathlib
import subprocess
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
SHAPES = {"q_proj": (4096, 4096), "k_proj": (4096, 4096), "v_proj": (4096, 4096), "o_proj": (4096, 4096),
          "gate_proj": (11008, 4096), "up_proj": (11008, 4096), "down_proj": (4096, 11008)}

PEER = r'''
import sys, time, torch
from safetensors.torch import load_file, save_file
case, src, dst = sys.argv[1:4]
weights = load_file(src)
out = {}
spent = 0.0
if case.startswith("bnb-"):
    import bitsandbytes.functional as F
else:
    from compressed_tensors.compressors.naive_quantized.base import FloatQuantizationCompressor
    from compressed_tensors.quantization import QuantizationScheme
    from compressed_tensors.quantization.quant_scheme import FP8, FP8_DYNAMIC, FP8_BLOCK
    from compressed_tensors.quantization.utils.helpers import calculate_qparams
    preset = {"fp8-tensor": FP8, "fp8-channel": FP8_DYNAMIC, "fp8-block": FP8_BLOCK}[case]
    args = preset["weights"]
    scheme = QuantizationScheme(targets=["Linear"], weights=args)
for name, t in weights.items():
    start = time.perf_counter()
    if case.startswith("bnb-nf4"):
        packed, state = F.quantize_4bit(t, blocksize=64, quant_type="nf4", compress_statistics=case == "bnb-nf4-dq")
        out[name] = packed
        for key, value in state.as_dict(packed=True).items():
            out[name + "." + key] = value
    elif case == "bnb-int8":
        cb, scb, _ = F.int8_vectorwise_quant(t.contiguous().to(torch.float16))
        module = name[: -len(".weight")]
        out[name], out[module + ".SCB"] = cb, scb
        out[module + ".weight_format"] = torch.tensor(0, dtype=torch.uint8)
    else:
        if args.strategy == "tensor":
            lo, hi = torch.aminmax(t)
        elif args.strategy == "channel":
            lo, hi = t.amin(dim=1, keepdim=True), t.amax(dim=1, keepdim=True)
        else:
            r, c = t.shape
            blocks = t.reshape(r // 128, 128, c // 128, 128).transpose(1, 2)
            lo, hi = blocks.amin(dim=(2, 3)), blocks.amax(dim=(2, 3))
        scale, zp = calculate_qparams(lo, hi, args)
        state = FloatQuantizationCompressor.compress({"weight": t, "weight_scale": scale, "weight_zero_point": zp}, scheme)
        out[name], out[name + "_scale"] = state["weight"], state["weight_scale"]
    spent += time.perf_counter() - start
save_file({k: v.contiguous() for k, v in out.items()}, dst, metadata={"format": "pt"})
print(f"kernel {spent:.3f}", file=sys.stderr)
'''

ARGS = {"bnb-nf4": ["--to", "bnb-nf4"], "bnb-nf4-dq": ["--to", "bnb-nf4", "--double-quant"], "bnb-int8": ["--to", "bnb-int8"], "fp8-tensor": ["--to", "fp8", "--scheme", "tensor"],
        "fp8-channel": ["--to", "fp8", "--scheme", "channel"], "fp8-block": ["--to", "fp8", "--scheme", "block"]}


def make_input(path, layers):
    import torch
    from safetensors.torch import save_file
    gen = torch.Generator().manual_seed(0)
    tensors = {}
    for layer in range(layers):
        for name, shape in SHAPES.items():
            part = "self_attn" if name.endswith(("q_proj", "k_proj", "v_proj", "o_proj")) else "mlp"
            tensors[f"model.layers.{layer}.{part}.{name}.weight"] = (torch.randn(shape, generator=gen) * 0.02).to(torch.bfloat16)
    save_file(tensors, path, metadata={"format": "pt"})


def timed(cmd):
    proc = subprocess.run(["/usr/bin/time", "-f", "TIME %e %M", *cmd], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr}")
    line = [l for l in proc.stderr.splitlines() if l.startswith("TIME ")][-1].split()
    kernel = [l.split()[1] for l in proc.stderr.splitlines() if l.startswith("kernel ")]
    return float(line[1]), int(line[2]) * 1024, float(kernel[0]) if kernel else None


def same(a, b):
    import torch
    from safetensors import safe_open
    with safe_open(a, "pt") as fa, safe_open(b, "pt") as fb:
        if set(fa.keys()) != set(fb.keys()):
            return False
        for key in fa.keys():
            x, y = fa.get_tensor(key), fb.get_tensor(key)
            if x.dtype != y.dtype or x.shape != y.shape or not torch.equal(x.reshape(-1).view(torch.uint8), y.reshape(-1).view(torch.uint8)):
                return False
    return True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--cases", default="bnb-nf4,bnb-int8,fp8-channel,fp8-block")
    parser.add_argument("--amn", default=str(HERE.parent / "build" / "src" / "cli" / "amn"))
    opts = parser.parse_args()
    work = pathlib.Path(opts.dir)
    work.mkdir(parents=True, exist_ok=True)
    src = work / f"input-{opts.layers}.safetensors"
    if not src.exists():
        make_input(src, opts.layers)
    print(f"input: {src.stat().st_size / 1e6:.0f} MB BF16, {opts.layers} layer(s)")
    print("| case | rep | amn s | amn peak MB | peer s (quantise only) | peer peak MB | time ratio | identical |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    failed = False
    for case in opts.cases.split(","):
        for rep in range(opts.reps):
            amn_out, peer_out = work / "amn.safetensors", work / "peer.safetensors"
            runs = {}
            order = ["amn", "peer"] if rep % 2 else ["peer", "amn"]
            for who in order:
                for path in (amn_out, peer_out):
                    path.unlink(missing_ok=True)
                if who == "amn":
                    runs[who] = timed([opts.amn, "convert", str(src), *ARGS[case], "-o", str(amn_out), "-q"])
                else:
                    runs[who] = timed([sys.executable, "-c", PEER, case, str(src), str(peer_out)])
                (amn_out if who == "amn" else peer_out).rename(work / f"{who}-kept.safetensors")
            identical = same(work / "amn-kept.safetensors", work / "peer-kept.safetensors")
            failed |= not identical
            (a_s, a_rss, _), (p_s, p_rss, p_k) = runs["amn"], runs["peer"]
            print(f"| {case} | {rep} | {a_s:.2f} | {a_rss / 1e6:.0f} | {p_s:.2f} ({p_k:.2f}) | {p_rss / 1e6:.0f} | "
                  f"{p_s / a_s:.2f}x | {'yes' if identical else 'FAILED'} |", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
