#!/usr/bin/env python3
"""GGUF dequantisation kernels side by side in one run: amn (amn-bench-kernels, once per ISA
level), the peer anamnesis (bench/peer-anamnesis, its kernels from crates.io) and gguf-py
(`gguf.quants.dequantize`, numpy, F32 only), all on the same tiled ggml blocks at the same shape.

One-thread runs are timed by the thread's CPU time by default (--clock cpu), which leaves out
the time other processes hold the core; all-thread runs by the wall clock. gguf-py is timed by
the wall clock. Runs one tool after the other and prints the load average before each; with --rounds N the amn
and anamnesis runs are repeated N times, interleaved, and each cell takes the median of its
rounds. Then prints one Markdown table of medians in Gelem/s (1 thread and all threads) with
amn's ratio to anamnesis and to the memcpy bound. amn-bench-kernels must be built (meson, -Dbenchmarks=enabled or auto); the peer is built
here with `cargo build --release --offline` (its crates come from the local cargo registry).

usage: bench/kernels_peers.py [--build build] [--isa scalar,avx2,avx512,avx512bf16] [--rounds 3]
                              [--clock cpu|wall] [--reps 7] [--gguf-py-reps 3] [--elems N]
                              [--only Q8_0,Q4_K]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(ROOT, "..", "shared", "fixtures", "ggml", "all_types.gguf")
PEER_DIR = os.path.join(ROOT, "bench", "peer-anamnesis")
ROW = re.compile(r"^\|\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|")


def load():
    return os.getloadavg()[0]


def table_rows(text):
    """(kernel, out) → (1 thread, all threads) from a Markdown table printed by a bench."""
    rows = {}
    for line in text.splitlines():
        match = ROW.match(line)
        if match:
            rows[(match[1], match[2])] = (float(match[3]), float(match[4]))
    return rows


def run(command, env=None):
    print(f"$ {' '.join(command)}   (load {load():.2f})", file=sys.stderr)
    result = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    print(result.stdout, file=sys.stderr)
    return result.stdout


def bench_amn(args, isa):
    command = [os.path.join(args.build, "bench", "amn-bench-kernels"), "--reps", str(args.reps),
               "--elems", str(args.elems), "--clock", args.clock]
    if args.only:
        command += ["--only", args.only + ",narrow"]
    return table_rows(run(command, dict(os.environ, AMN_FORCE_ISA=isa)))


def bench_anamnesis(args):
    subprocess.run(["cargo", "build", "--release", "--offline", "--quiet"], cwd=PEER_DIR, check=True)
    command = [os.path.join(PEER_DIR, "target", "release", "peer-anamnesis"), FIXTURE, "--reps", str(args.reps),
               "--elems", str(args.elems), "--clock", args.clock]
    if args.only:
        command += ["--only", args.only]
    return table_rows(run(command))


def bench_gguf_py(args):
    """Median Gelem/s of gguf.quants.dequantize per type gguf-py knows (one thread, F32)."""
    import gguf
    import numpy as np

    class KnownTypesReader(gguf.GGUFReader):
        """gguf-py's reader, skipping tensors of types this gguf-py version does not know."""

        def _build_tensors(self, start_offs, fields):
            known = {member.value for member in gguf.GGMLQuantizationType}
            super()._build_tensors(start_offs, [field for field in fields if int(field.parts[4][0]) in known])

    print(f"gguf-py {gguf.__name__} (load {load():.2f})", file=sys.stderr)
    rows = {}
    for tensor in KnownTypesReader(FIXTURE).tensors:
        qtype = tensor.tensor_type
        name = qtype.name
        block_elems, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
        if block_elems == 1 or (args.only and name not in args.only.split(",")):
            continue
        blocks = args.elems // block_elems
        data = np.resize(np.asarray(tensor.data).reshape(-1), blocks * block_bytes).reshape(blocks, block_bytes)
        times = []
        try:
            for _ in range(args.gguf_py_reps):
                start = time.perf_counter()
                gguf.quants.dequantize(data, qtype)
                times.append(time.perf_counter() - start)
        except NotImplementedError:  # a type gguf-py names but cannot dequantise
            continue
        rows[(name, "F32")] = blocks * block_elems / statistics.median(times) / 1e9
        print(f"  {name}: {rows[(name, 'F32')]:.3f} Gelem/s", file=sys.stderr)
    return rows


def median_of(runs):
    """Per cell, the median of several runs' (1 thread, all threads) medians."""
    cells = {}
    for rows in runs:
        for key, values in rows.items():
            cells.setdefault(key, []).append(values)
    return {key: tuple(statistics.median(column) for column in zip(*values)) for key, values in cells.items()}


def ratio(numerator, denominator):
    return f"{numerator / denominator:.1f}×" if numerator and denominator else "–"


def number(value):
    return f"{value:.2f}" if value else "–"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--isa", default="scalar,avx2,avx512,avx512bf16",
                        help="amn levels to run (AMN_FORCE_ISA), best last")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="one-thread runs timed by the thread's CPU time (robust to other load) or the wall clock")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--gguf-py-reps", type=int, default=3)
    parser.add_argument("--elems", type=int, default=4096 * 11008)
    parser.add_argument("--only", default="", help="comma-separated block types (ggml spelling)")
    args = parser.parse_args()

    levels = args.isa.split(",")
    amn_runs = {isa: [] for isa in levels}
    peer_runs = []
    for _ in range(args.rounds):
        for isa in levels:
            amn_runs[isa].append(bench_amn(args, isa))
        peer_runs.append(bench_anamnesis(args))
    amn = {isa: median_of(runs) for isa, runs in amn_runs.items()}
    peer = median_of(peer_runs)
    python = bench_gguf_py(args)
    print(f"load average at the end: {load():.2f}", file=sys.stderr)

    best = amn[levels[-1]]
    threads = "all threads"
    head = (["kernel", "out"] + [f"amn {isa} 1T" for isa in levels] +
            ["anamnesis 1T", "gguf-py 1T", "amn / anamnesis 1T", f"amn {levels[-1]} {threads}",
             f"anamnesis {threads}", f"amn / anamnesis {threads}", "amn 1T % of memcpy"])
    print("| " + " | ".join(head) + " |")
    print("| --- | --- |" + " ---: |" * (len(head) - 2))
    for (kernel, out), (single, all_threads) in best.items():
        if kernel in ("memcpy", "memset"):
            continue
        bound = best.get(("memcpy", "2 B" if out in ("BF16", "F16") else "4 B"), (0, 0))[0]
        peer_single, peer_all = peer.get((kernel, out), (0, 0))
        cells = [kernel, out] + [number(amn[isa].get((kernel, out), (0, 0))[0]) for isa in levels]
        cells += [number(peer_single), number(python.get((kernel, out))), ratio(single, peer_single),
                  number(all_threads), number(peer_all), ratio(all_threads, peer_all),
                  f"{100 * single / bound:.0f}%" if bound else "–"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
