#!/usr/bin/env python3
"""Quantisation benchmark: `amn convert IN --quant TYPE` side by side with llama.cpp's llama-quantize.

Generates Llama-7B-shaped F16 GGUF models with gguf-py's GGUFWriter (llama metadata and a
32000-token tokenizer.ggml vocab as convert_hf_to_gguf writes them; token_embd, output_norm,
output and per layer attn_norm, attn_q/k/v/output [4096, 4096], ffn_norm, ffn_gate/up
[11008, 4096], ffn_down [4096, 11008]; Gaussian values, σ 0.02, written chunk by chunk so the
generator holds a few MB). Sizes: --layers (default 8, ≈ 3.8 GB) and --small-layers (default 2).

For every size, type (default Q8_0, Q4_0, Q4_K_M, Q6_K, IQ4_XS: none needs an imatrix) and
repetition, both tools quantise the same input with the same thread count, in alternating order
(repetition 0: llama-quantize first, 1: amn first, ...). Before each timed command the outputs are
deleted, `sync` is run and the page cache dropped (root; otherwise the input is read once with
`cat` before each command, and the run says so). Wall time and peak RSS come from GNU time
(`/usr/bin/time -f "%e %M"`); the `sync` after each command (flushing what it left in the page
cache) is timed separately. After each repetition every tensor of amn's output is compared with
llama-quantize's (name, type, shape and data bytes, gguf-py's GGUFReader); a difference is
printed as FAILED and makes the exit status 1.

Results: one JSON line per run on stderr, all of them in --json-out, a Markdown table on stdout.

usage: bench/quant_bench.py --dir /work/bench-data [--layers 8] [--small-layers 2] [--reps 3]
           [--types Q8_0,Q4_0,Q4_K_M,Q6_K,IQ4_XS] [--threads 2] [--amn build-bench/src/cli/amn]
           [--llama-quantize PATH] [--no-amn] [--reuse] [--keep] [--json-out FILE]
       bench/quant_bench.py --dir X --table-from FILE   (the table of a saved run)
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "test" / "fixtures" / "gen"))

import gguf  # noqa: E402

LLAMA_7B = {"embd": 4096, "ff": 11008, "vocab": 32000, "head": 32, "ctx": 4096}
TINY = {"embd": 256, "ff": 512, "vocab": 512, "head": 4, "ctx": 256}  # amn's readiness probe
SIGMA = 0.02
CHUNK = 1 << 22  # elements generated and written at a time (8 MB of F16)
TYPES = "Q8_0,Q4_0,Q4_K_M,Q6_K,IQ4_XS"


def model_tensors(layers, dims=LLAMA_7B):
    """(name, numpy shape (rows, columns), dtype) in the order convert_hf_to_gguf writes them."""
    N_EMBD, N_FF, N_VOCAB = dims["embd"], dims["ff"], dims["vocab"]
    out = [("token_embd.weight", (N_VOCAB, N_EMBD), np.float16)]
    for i in range(layers):
        out += [
            (f"blk.{i}.attn_norm.weight", (N_EMBD,), np.float32),
            (f"blk.{i}.attn_q.weight", (N_EMBD, N_EMBD), np.float16),
            (f"blk.{i}.attn_k.weight", (N_EMBD, N_EMBD), np.float16),
            (f"blk.{i}.attn_v.weight", (N_EMBD, N_EMBD), np.float16),
            (f"blk.{i}.attn_output.weight", (N_EMBD, N_EMBD), np.float16),
            (f"blk.{i}.ffn_norm.weight", (N_EMBD,), np.float32),
            (f"blk.{i}.ffn_gate.weight", (N_FF, N_EMBD), np.float16),
            (f"blk.{i}.ffn_up.weight", (N_FF, N_EMBD), np.float16),
            (f"blk.{i}.ffn_down.weight", (N_EMBD, N_FF), np.float16),
        ]
    out += [("output_norm.weight", (N_EMBD,), np.float32), ("output.weight", (N_VOCAB, N_EMBD), np.float16)]
    return out


def add_metadata(writer, layers, dims=LLAMA_7B):
    """The keys convert_hf_to_gguf writes for a Llama-2-7B (with a synthetic SentencePiece vocab)."""
    N_EMBD, N_FF, N_VOCAB, N_HEAD, N_CTX = dims["embd"], dims["ff"], dims["vocab"], dims["head"], dims["ctx"]
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(f"Bench Llama 7B-shaped {layers} layers")
    writer.add_size_label("7B-shaped")
    writer.add_block_count(layers)
    writer.add_context_length(N_CTX)
    writer.add_embedding_length(N_EMBD)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_vocab_size(N_VOCAB)
    writer.add_rope_dimension_count(N_EMBD // N_HEAD)
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    tokens, scores, types = ["<unk>", "<s>", "</s>"], [0.0, 0.0, 0.0], [
        gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    for byte in range(256):
        tokens.append(f"<0x{byte:02X}>")
        scores.append(0.0)
        types.append(gguf.TokenType.BYTE)
    while len(tokens) < N_VOCAB:
        tokens.append(f"\u2581tok{len(tokens)}")
        scores.append(-float(len(tokens)))
        types.append(gguf.TokenType.NORMAL)
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


def write_model(path, layers, seed=1, dims=LLAMA_7B):
    """Header and tensor infos through GGUFWriter, then each tensor's data CHUNK elements at a time."""
    writer = gguf.GGUFWriter(str(path), "llama")
    add_metadata(writer, layers, dims)
    tensors = model_tensors(layers, dims)
    for name, shape, dtype in tensors:
        writer.add_tensor_info(name, shape, np.dtype(dtype), int(np.prod(shape)) * np.dtype(dtype).itemsize)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    fout = writer.fout[0]
    rng = np.random.default_rng(seed)
    for name, shape, dtype in tensors:
        writer.write_padding(fout, fout.tell())
        count = int(np.prod(shape))
        for start in range(0, count, CHUNK):
            n = min(CHUNK, count - start)
            values = rng.standard_normal(n, dtype=np.float32) * np.float32(SIGMA)
            if len(shape) == 1:
                values += np.float32(1.0)  # norm weights: around 1, as trained RMSNorm weights are
            values.astype(dtype).tofile(fout)
        writer.write_padding(fout, count * np.dtype(dtype).itemsize)
    writer.close()
    return os.path.getsize(path)


def can_drop_caches():
    try:
        with open("/proc/sys/vm/drop_caches", "w") as handle:
            handle.write("3\n")
        return True
    except OSError:
        return False


def prepare_cache(source, drop):
    """Same page cache state for every command: dropped (root), else the input read in full."""
    subprocess.run(["sync"], check=True)
    if drop:
        with open("/proc/sys/vm/drop_caches", "w") as handle:
            handle.write("3\n")
    else:
        subprocess.run(["cat", source], stdout=subprocess.DEVNULL, check=True)


def timed(cmd, source, drop):
    """(wall s, peak RSS KiB, CPU s (user + system), sync s after it, load before) of one command under
    GNU time. The CPU seconds are shown beside the wall time because other work on a shared machine
    stretches wall time but barely CPU time."""
    prepare_cache(source, drop)
    load = os.getloadavg()
    proc = subprocess.run(["/usr/bin/time", "-f", "%e %M %U %S", *cmd], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"FAILED: {' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    seconds, peak_kib, user, system = proc.stderr.strip().splitlines()[-1].split()
    start = time.perf_counter()
    subprocess.run(["sync"], check=True)
    return float(seconds), int(peak_kib), float(user) + float(system), time.perf_counter() - start, load


def compare(reference, candidate):
    """'' if every tensor (name, type, shape, data bytes) of candidate equals reference's, else what differs."""
    ref, cand = gguf.GGUFReader(reference), gguf.GGUFReader(candidate)
    if len(ref.tensors) != len(cand.tensors):
        return f"{len(cand.tensors)} tensors, llama-quantize wrote {len(ref.tensors)}"
    problems = []
    by_name = {t.name: t for t in cand.tensors}
    for t in ref.tensors:
        c = by_name.get(t.name)
        if c is None:
            problems.append(f"{t.name}: missing")
            continue
        if c.tensor_type != t.tensor_type or list(c.shape) != list(t.shape):
            problems.append(f"{t.name}: {c.tensor_type.name} {list(c.shape)}, llama-quantize "
                            f"{t.tensor_type.name} {list(t.shape)}")
            continue
        a, b = t.data.reshape(-1).view(np.uint8), c.data.reshape(-1).view(np.uint8)
        if a.size != b.size:
            problems.append(f"{t.name}: {b.size} bytes, llama-quantize {a.size}")
            continue
        step = 1 << 26
        for start in range(0, a.size, step):
            if not np.array_equal(a[start:start + step], b[start:start + step]):
                first = start + int(np.argmax(a[start:start + step] != b[start:start + step]))
                problems.append(f"{t.name}: data differs from byte {first}")
                break
    return "; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")


def amn_runnable(amn, quantize, workdir):
    """True when `amn convert X --quant Q8_0 -o Y` works and equals llama-quantize on a tiny llama model."""
    if not amn or not os.path.exists(amn):
        print(f"amn not found at {amn}", file=sys.stderr)
        return False
    helptext = subprocess.run([amn, "convert", "--help"], capture_output=True, text=True).stdout
    if "--quant" not in helptext:
        print("amn convert has no --quant yet", file=sys.stderr)
        return False
    tiny = os.path.join(workdir, "tiny-f16.gguf")
    out, ref = os.path.join(workdir, "tiny-q8_0-amn.gguf"), os.path.join(workdir, "tiny-q8_0-llama.gguf")
    write_model(tiny, 1, dims=TINY)
    proc = subprocess.run([amn, "convert", tiny, "--quant", "Q8_0", "-o", out, "--force"], capture_output=True,
                          text=True)
    ok = proc.returncode == 0 and os.path.exists(out)
    if not ok:
        print(f"amn convert --quant not runnable yet: {proc.stderr.strip()}", file=sys.stderr)
    else:
        subprocess.run([quantize, tiny, ref, "Q8_0", "1"], capture_output=True, check=True)
        problem = compare(ref, out)
        print(f"amn probe (tiny llama, Q8_0): {'identical to llama-quantize' if not problem else problem}",
              file=sys.stderr)
    for path in (tiny, out, ref):
        if os.path.exists(path):
            os.remove(path)
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", required=True, help="scratch directory for models and outputs (not the repo)")
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--small-layers", type=int, default=2, help="second, smaller size (0: none)")
    parser.add_argument("--types", default=TYPES)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--amn", default="build-bench/src/cli/amn")
    parser.add_argument("--amn-args", default="", help="extra arguments for amn convert, e.g. '--memory-budget 256MiB'")
    parser.add_argument("--llama-quantize", default=None,
                        help="default: test/fixtures/gen/llama_cpp.py's (honours LLAMA_CPP_DIR), built if missing")
    parser.add_argument("--no-amn", action="store_true", help="llama-quantize only")
    parser.add_argument("--reuse", action="store_true", help="keep generated models that already exist")
    parser.add_argument("--keep", action="store_true", help="leave the generated models in --dir")
    parser.add_argument("--json-out", default=None, help="all runs as JSON (default DIR/quant_bench.json)")
    parser.add_argument("--table-from", default=None, help="print the table of a saved --json-out and exit")
    args = parser.parse_args()
    if args.table_from:
        with open(args.table_from) as handle:
            saved = json.load(handle)["runs"]
        print_table(saved, any(r["tool"] == "amn" for r in saved))
        return
    os.makedirs(args.dir, exist_ok=True)
    if not os.path.exists("/usr/bin/time"):
        raise SystemExit("GNU time is missing: apt-get install time")
    quantize = args.llama_quantize
    if quantize is None:
        import llama_cpp
        quantize = str(llama_cpp.tool("llama-quantize"))
    use_amn = not args.no_amn and amn_runnable(args.amn, quantize, args.dir)
    drop = can_drop_caches()
    print(f"nproc {os.cpu_count()}, threads {args.threads}, page cache "
          f"{'dropped before each command' if drop else 'warmed by reading the input before each command'}, "
          f"amn {'on' if use_amn else 'off'}", file=sys.stderr)

    sizes = [args.layers] + ([args.small_layers] if args.small_layers else [])
    models = {}
    for layers in sizes:
        path = os.path.join(args.dir, f"llama7b-shape-{layers}l-f16.gguf")
        expected = sum(int(np.prod(s)) * np.dtype(d).itemsize for _, s, d in model_tensors(layers))
        if not (args.reuse and os.path.exists(path) and os.path.getsize(path) > expected):
            start = time.perf_counter()
            write_model(path, layers)
            print(f"generated {path}: {os.path.getsize(path) / 1e6:,.0f} MB in {time.perf_counter() - start:.1f} s",
                  file=sys.stderr)
        models[layers] = path

    # llama-quantize must accept the generated file (smallest model, Q8_0) before anything is timed.
    probe_in = models[sizes[-1]]
    probe_out = os.path.join(args.dir, "probe-q8_0.gguf")
    proc = subprocess.run([quantize, probe_in, probe_out, "Q8_0", str(args.threads)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"llama-quantize refuses {probe_in}:\n{proc.stderr[-4000:]}")
    n_tensors = len(gguf.GGUFReader(probe_out).tensors)
    os.remove(probe_out)
    print(f"llama-quantize accepts {probe_in} ({n_tensors} tensors)", file=sys.stderr)

    runs, failures = [], []
    json_out = args.json_out or os.path.join(args.dir, "quant_bench.json")
    # Repetition-major order: a run cut short still has every (size, type) cell, with fewer repetitions.
    for rep in range(args.reps):
        for layers in sizes:
            source = models[layers]
            for qtype in args.types.split(","):
                out_llama = os.path.join(args.dir, f"out-llama-{qtype}.gguf")
                out_amn = os.path.join(args.dir, f"out-amn-{qtype}.gguf")
                tools = ["llama-quantize", "amn"] if use_amn else ["llama-quantize"]
                if rep % 2:
                    tools.reverse()
                for path in (out_llama, out_amn):
                    if os.path.exists(path):
                        os.remove(path)
                for tool in tools:
                    if tool == "llama-quantize":
                        cmd = [quantize, source, out_llama, qtype, str(args.threads)]
                    else:
                        cmd = [args.amn, "convert", source, "--quant", qtype, "-o", out_amn, "--threads",
                               str(args.threads), *args.amn_args.split()]
                    seconds, peak_kib, cpu_s, sync_s, load = timed(cmd, source, drop)
                    run = {"layers": layers, "input_bytes": os.path.getsize(source), "type": qtype, "rep": rep,
                           "tool": tool, "seconds": seconds, "peak_kib": peak_kib, "cpu_seconds": round(cpu_s, 2),
                           "sync_seconds": round(sync_s, 3),
                           "load_before": [round(x, 2) for x in load], "order": tools.index(tool),
                           "output_bytes": os.path.getsize(out_llama if tool == "llama-quantize" else out_amn),
                           "command": " ".join(cmd)}
                    runs.append(run)
                    print(json.dumps(run), file=sys.stderr)
                if use_amn:
                    start = time.perf_counter()
                    problem = compare(out_llama, out_amn)
                    same_file = subprocess.run(["cmp", "-s", out_llama, out_amn]).returncode == 0
                    for run in runs[-2:]:
                        run["identical"] = not problem
                        run["whole_file_identical"] = same_file
                    verdict = "identical" if not problem else f"FAILED: {problem}"
                    print(f"{layers} layers {qtype} rep {rep}: tensor data {verdict}; whole file "
                          f"{'identical' if same_file else 'differs'} ({time.perf_counter() - start:.1f} s to check)",
                          file=sys.stderr)
                    if problem:
                        failures.append(f"{layers} layers {qtype} rep {rep}: {problem}")
                with open(json_out, "w") as handle:
                    json.dump({"nproc": os.cpu_count(), "threads": args.threads, "drop_caches": drop, "runs": runs},
                              handle, indent=1)
                for path in (out_llama, out_amn):
                    if os.path.exists(path):
                        os.remove(path)
    if not args.keep:
        for path in models.values():
            os.remove(path)

    print_table(runs, use_amn)
    if failures:
        print("FAILED: amn's output differs from llama-quantize's:\n  " + "\n  ".join(failures), file=sys.stderr)
        sys.exit(1)


def print_table(runs, use_amn):
    """One row per (size, type): wall s min / median, CPU s median, highest peak RSS, ratios of the medians."""
    print("| type | layers (input MB) | output MB | llama-quantize s min / median (CPU s) | llama-quantize peak MB "
          "| amn s min / median (CPU s) | amn peak MB | speed: llama-quantize / amn (median wall) "
          "| memory: amn / llama-quantize | tensor data identical | load 1 min |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    keys = []
    for run in runs:
        if (run["layers"], run["type"]) not in keys:
            keys.append((run["layers"], run["type"]))
    for layers, qtype in keys:
        cell = {tool: [r for r in runs if r["layers"] == layers and r["type"] == qtype and r["tool"] == tool]
                for tool in ("llama-quantize", "amn")}
        llama, amn = cell["llama-quantize"], cell["amn"]
        med = lambda rs, key: statistics.median(r[key] for r in rs)
        wall = lambda rs: f"{min(r['seconds'] for r in rs):.2f} / {med(rs, 'seconds'):.2f} ({med(rs, 'cpu_seconds'):.1f})"
        peak = lambda rs: max(r["peak_kib"] for r in rs) * 1024 / 1e6
        loads = [r["load_before"][0] for r in llama + amn]
        row = (f"| {qtype} | {layers} ({llama[0]['input_bytes'] / 1e6:,.0f}) | {llama[0]['output_bytes'] / 1e6:,.0f} "
               f"| {wall(llama)} | {peak(llama):,.0f} ")
        if use_amn and amn:
            same = sum(1 for r in amn if r.get("identical"))
            identical = "yes" if same == len(amn) else "**no**"
            row += (f"| {wall(amn)} | {peak(amn):,.0f} | {med(llama, 'seconds') / med(amn, 'seconds'):.2f}× "
                    f"| {peak(amn) / peak(llama):.3f} | {identical} ({same}/{len(amn)} runs) ")
        else:
            row += "| not run | - | - | - | - "
        print(row + f"| {min(loads):.1f}–{max(loads):.1f} |")


if __name__ == "__main__":
    main()
