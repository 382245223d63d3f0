#!/usr/bin/env python3
"""End-to-end benchmark of the streaming engine (`amn remember`), side by side in one run with
the disk: fio reading the input while writing as many bytes as amn's output (the I/O amn does,
at the disk's best), fio and dd writing alone (O_DIRECT, 8 and 1 writes in flight; compared with
amn on an input already in the page cache, so that only its writes meet the disk), `cp` of the
same output, the pwrite path, and the peer anamnesis (`cargo install anamnesis --features cli,gguf`).

Inputs are generated GGUF Q8_0 models (valid blocks: f16 scale + 32 int8) of the given sizes;
each is remembered to BF16 safetensors. Page cache is dropped before every timed run (root).
Peak RSS comes from the child's rusage. Results are printed as a Markdown table.

usage: bench/engine_bench.py --dir /big/scratch --sizes 1,4,16 [--peer-max 4] [--amn build/src/cli/amn]
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import time

import numpy as np

GiB = 1 << 30
ROW = 4096  # elements per row of every generated tensor


def write_gguf_q8_0(path, total_bytes):
    """A GGUF v3 file of Q8_0 tensors [rows, 4096] holding about `total_bytes` of blocks."""
    rng = np.random.default_rng(1)
    block = np.zeros(1 << 16, dtype=[("d", "<f2"), ("qs", "i1", 32)])
    block["d"] = (rng.random(block.size) * 0.01 + 1e-4).astype(np.float16)
    block["qs"] = rng.integers(-127, 128, size=(block.size, 32))
    pattern = block.tobytes()  # 2.2 MB of valid blocks, repeated
    tensor_rows = 8192
    tensor_bytes = tensor_rows * ROW // 32 * 34
    count = max(1, total_bytes // tensor_bytes)

    def gguf_string(text):
        data = text.encode()
        return struct.pack("<Q", len(data)) + data

    header = b"GGUF" + struct.pack("<IQQ", 3, count, 1)
    header += gguf_string("general.architecture") + struct.pack("<I", 8) + gguf_string("bench")
    for idx in range(count):
        header += gguf_string(f"blk.{idx}.weight") + struct.pack("<I", 2) + struct.pack("<QQ", ROW, tensor_rows)
        header += struct.pack("<IQ", 8, idx * tensor_bytes)
    header += b"\0" * (-len(header) % 32)
    with open(path, "wb") as out:
        out.write(header)
        tensor = (pattern * (tensor_bytes // len(pattern) + 1))[:tensor_bytes]
        for _ in range(count):
            out.write(tensor)
    return count * tensor_bytes


def drop_caches():
    subprocess.run(["sync"])
    try:
        with open("/proc/sys/vm/drop_caches", "w") as handle:
            handle.write("3\n")
    except OSError:
        pass


def timed(cmd, env=None, pre_read=False):
    """(seconds, peak RSS bytes, stdout) of one command, caches dropped first. The peak comes
    from GNU time (%M), whose own footprint is a few MB: rusage of a child forked from this
    Python process would carry over Python's peak. With pre_read the command runs GNU time
    itself (after reading its input) and the seconds include that read."""
    drop_caches()
    start = time.perf_counter()
    proc = subprocess.run(cmd if pre_read else ["/usr/bin/time", "-f", "%M", *cmd], capture_output=True, text=True,
                          env=env)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr}")
    peak_kib = int(proc.stderr.strip().splitlines()[-1])
    return seconds, peak_kib * 1024, proc.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--sizes", default="1,4,16", help="input sizes in GiB")
    parser.add_argument("--peer-max", type=float, default=4, help="largest input (GiB) given to anamnesis")
    parser.add_argument("--amn", default="build/src/cli/amn")
    parser.add_argument("--anamnesis", default=shutil.which("anamnesis") or os.path.expanduser("~/.cargo/bin/anamnesis"))
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    rows = []
    for size in [float(s) for s in args.sizes.split(",")]:
        source = os.path.join(args.dir, f"q8_0-{size:g}g.gguf")
        out = os.path.join(args.dir, "out.safetensors")
        data_bytes = write_gguf_q8_0(source, int(size * GiB))
        row = {"input_gib": size, "input_bytes": os.path.getsize(source)}

        def amn_run(label, env=None, warm=False):
            if os.path.exists(out):
                os.remove(out)  # never hold two outputs at once: disks here hold ~80 GB
            cmd = [args.amn, "remember", source, "-o", out, "--json"]
            if warm:  # the input read into the page cache first: only the writes meet the disk
                cmd = ["sh", "-c", f"cat {source} > /dev/null && exec /usr/bin/time -f %M {' '.join(cmd)}"]
            seconds, rss, stdout = timed(cmd, env, pre_read=warm)
            summary = json.loads(stdout)
            row[label] = {"s": summary["seconds"] if warm else seconds, "rss": rss, "io": summary["io"]}

        amn_run("amn_pwrite", dict(os.environ, AMN_IO="pwrite"))
        amn_run("amn")
        out_bytes = os.path.getsize(out)
        row["output_bytes"] = out_bytes
        os.remove(out)
        # The disk doing what amn asks of it: reading the input and writing as many bytes as amn's
        # output at the same time (fio, O_DIRECT, io_uring, 4 in flight each).
        seconds, _, _ = timed(["fio", "--output-format=terse", "--name=r", f"--filename={source}", "--rw=read",
                               "--bs=4M", "--direct=1", "--ioengine=io_uring", "--iodepth=4", "--name=w",
                               f"--filename={args.dir}/fio.bin", "--rw=write", "--bs=8M",
                               f"--size={out_bytes // (8 << 20) * (8 << 20)}", "--direct=1", "--ioengine=io_uring",
                               "--iodepth=4", "--end_fsync=1"])
        row["fio_mixed"] = {"s": seconds}
        os.remove(f"{args.dir}/fio.bin")
        amn_run("amn_warm", warm=True)
        run_peer = size <= args.peer_max and args.anamnesis and os.path.exists(args.anamnesis)
        if not run_peer:
            os.remove(source)  # room for the copy: disks here hold ~80 GB
        seconds, _, _ = timed(["sh", "-c", f"cp {out} {out}.copy && sync {out}.copy"])
        row["cp"] = {"s": seconds}
        os.remove(f"{out}.copy")
        os.remove(out)
        # The disk's O_DIRECT write bandwidth for the same number of bytes.
        seconds, _, _ = timed(["dd", "if=/dev/zero", f"of={args.dir}/dd.bin", "bs=4M", f"count={out_bytes // (4 << 20)}",
                               "oflag=direct", "conv=fsync", "status=none"])
        row["dd_direct"] = {"s": seconds}
        os.remove(f"{args.dir}/dd.bin")
        # The same with a queue of writes in flight, as amn keeps them (fio, io_uring, depth 8).
        seconds, _, _ = timed(["fio", "--name=w", f"--filename={args.dir}/fio.bin", "--rw=write", "--bs=4M",
                               f"--size={out_bytes // (4 << 20) * (4 << 20)}", "--direct=1", "--ioengine=io_uring",
                               "--iodepth=8", "--end_fsync=1", "--output-format=terse"])
        row["fio_direct"] = {"s": seconds}
        os.remove(f"{args.dir}/fio.bin")
        if run_peer:
            peer_out = os.path.join(args.dir, "peer.safetensors")
            seconds, rss, _ = timed([args.anamnesis, "remember", source, "-o", peer_out, "--force", "--threads", "2"])
            row["anamnesis"] = {"s": seconds, "rss": rss}
            os.remove(peer_out)
            os.remove(source)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)

    mb = lambda b: f"{b / 1e6:,.0f}"
    print("| input | output | amn s (GB/s out) | amn peak RSS | amn pwrite s | fio read+write s | amn / fio read+write "
          "| amn, input cached, s (GB/s) | fio write s (GB/s) | amn cached / fio write | dd write s | cp of output s "
          "| anamnesis s | anamnesis peak RSS |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        out_bytes = row["output_bytes"]
        amn, warm = row["amn"], row["amn_warm"]
        rate = lambda seconds: out_bytes / seconds / 1e9
        peer = row.get("anamnesis")
        peer_s = f"{peer['s']:.2f}" if peer else "not run"
        peer_rss = mb(peer["rss"]) + " MB" if peer else "-"
        print(f"| {mb(row['input_bytes'])} MB | {mb(out_bytes)} MB | {amn['s']:.2f} ({rate(amn['s']):.2f}) | "
              f"{mb(amn['rss'])} MB | {row['amn_pwrite']['s']:.2f} | {row['fio_mixed']['s']:.2f} | "
              f"{row['fio_mixed']['s'] / amn['s']:.0%} | {warm['s']:.2f} ({rate(warm['s']):.2f}) | "
              f"{row['fio_direct']['s']:.2f} ({rate(row['fio_direct']['s']):.2f}) | "
              f"{row['fio_direct']['s'] / warm['s']:.0%} | {row['dd_direct']['s']:.2f} | {row['cp']['s']:.2f} | "
              f"{peer_s} | {peer_rss} |")


if __name__ == "__main__":
    main()
