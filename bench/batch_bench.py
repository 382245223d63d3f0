#!/usr/bin/env python3
"""Batch benchmark: `amn batch remember` against GNU parallel running one `amn remember` per model,
with the same total threads and memory.

Two trees, made here: many small models (--small copies of samples/tiny-llama.gguf, a Q4_K/Q6_K
GGUF of 0.35 MB, each remembered to a 0.7 MB BF16 safetensors) and a few larger ones (--large
F32 safetensors of --large-mb MB each, numpy Gaussian values, remembered with --dtype bf16).

  batch:    amn batch remember TREE -o OUT --jobs J --threads T --memory-budget B
  parallel: parallel -j J amn remember {} -o OUT/{/.}-bf16.safetensors --threads T/J --memory-budget B/J

(J jobs; batch's J models share one pool of T threads and one budget B, each parallel job gets
T/J threads and B/J). Before each timed command the outputs are deleted, `sync` is run and the
page cache dropped (root; otherwise not, and the run says so). Wall time and peak RSS come from
GNU time (`/usr/bin/time -f "%e %M"`): for batch the one process's peak; for parallel the largest
child's peak (GNU time reports the maximum over waited-for children), so J concurrent children
can hold up to J times that. The two tools alternate (repetition 0: parallel first). Every output
of batch is compared byte for byte with parallel's; a difference exits 1.

usage: bench/batch_bench.py --dir /tmp/batch-bench [--small 200] [--large 4] [--large-mb 256]
           [--reps 3] [--jobs 2] [--threads 2] [--budget-mib 512] [--amn build/src/cli/amn]
"""
import argparse
import hashlib
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def make_trees(base, small, large, large_mb):
    import numpy as np
    import safetensors.numpy
    trees = {"small": base / "small", "large": base / "large"}
    if not trees["small"].exists():
        trees["small"].mkdir(parents=True)
        for idx in range(small):
            shutil.copy(ROOT / "samples" / "tiny-llama.gguf", trees["small"] / f"m{idx:04d}-Q4_K_M.gguf")
    if not trees["large"].exists():
        trees["large"].mkdir(parents=True)
        rng = np.random.default_rng(0)
        rows = large_mb * (1 << 20) // (4 * 4096 * 8)
        for idx in range(large):
            tensors = {f"w{t}": rng.standard_normal((rows, 4096), dtype=np.float32) for t in range(8)}
            safetensors.numpy.save_file(tensors, str(trees["large"] / f"big{idx}-f32.safetensors"))
    return trees


def drop_caches():
    subprocess.run(["sync"], check=True)
    try:
        pathlib.Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def timed(command):
    """(seconds, peak RSS bytes) of `command` under GNU time; raises on failure."""
    proc = subprocess.run(["/usr/bin/time", "-f", "%e %M", *command], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{proc.stderr[-2000:]}")
    seconds, kib = proc.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(kib) * 1024


def digests(folder):
    """The outputs' contents, whatever their names (batch names them by its default-name rule,
    parallel by its {/.} replacement string)."""
    return sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*.safetensors"))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", required=True, type=pathlib.Path)
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--large", type=int, default=4)
    parser.add_argument("--large-mb", type=int, default=256)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--budget-mib", type=int, default=512)
    parser.add_argument("--amn", default=str(ROOT / "build" / "src" / "cli" / "amn"))
    args = parser.parse_args()
    trees = make_trees(args.dir, args.small, args.large, args.large_mb)
    per_job_threads = max(1, args.threads // args.jobs)
    results = []
    status = 0
    for name, tree in trees.items():
        models = sorted(tree.iterdir())
        extra = ["--dtype", "bf16"] if name == "large" else []
        commands = {
            "batch": [args.amn, "batch", "remember", str(tree), "-o", str(args.dir / "out-batch"), "-q",
                      "--jobs", str(args.jobs), "--threads", str(args.threads),
                      "--memory-budget", f"{args.budget_mib}MiB", *extra],
            "parallel": ["parallel", "-j", str(args.jobs), args.amn, "remember", "{}", "-o",
                         str(args.dir / "out-parallel") + "/{/.}-bf16.safetensors", "-q", "--threads",
                         str(per_job_threads), "--memory-budget", f"{args.budget_mib // args.jobs}MiB", *extra,
                         ":::", *map(str, models)],
        }
        in_bytes = sum(p.stat().st_size for p in models)
        for rep in range(args.reps):
            order = ["parallel", "batch"] if rep % 2 == 0 else ["batch", "parallel"]
            for tool in order:
                out = args.dir / f"out-{tool}"
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
                dropped = drop_caches()
                seconds, rss = timed(commands[tool])
                out_bytes = sum(p.stat().st_size for p in out.rglob("*.safetensors"))
                row = {"tree": name, "tool": tool, "rep": rep, "models": len(models), "seconds": seconds,
                       "in_bytes": in_bytes, "out_bytes": out_bytes, "peak_rss": rss, "caches_dropped": dropped}
                print(json.dumps(row), file=sys.stderr, flush=True)
                results.append(row)
            if digests(args.dir / "out-batch") != digests(args.dir / "out-parallel"):
                print(f"FAILED: {name}: batch and parallel outputs differ", file=sys.stderr)
                status = 1
    print(f"| tree | tool | models | median s | models/s | output MB/s | peak RSS MB |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in trees:
        for tool in ("batch", "parallel"):
            rows = [row for row in results if row["tree"] == name and row["tool"] == tool]
            median = statistics.median(row["seconds"] for row in rows)
            out_mb = rows[0]["out_bytes"] / 1e6
            print(f"| {name} | {tool} | {rows[0]['models']} | {median:.2f} | {rows[0]['models'] / median:.1f} | "
                  f"{out_mb / median:.0f} | {max(row['peak_rss'] for row in rows) / 1e6:.0f} |")
    return status


if __name__ == "__main__":
    sys.exit(main())
