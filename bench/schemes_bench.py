#!/usr/bin/env python3
"""End-to-end benchmark of `remember` (dequantise to BF16 safetensors) on the quantised-checkpoint
schemes, amn against the peer anamnesis (`cargo install anamnesis --features cli`), time and peak
RSS, and a bit-for-bit check that the two outputs agree.

Inputs are synthetic but valid checkpoints of Llama-7B-sized linear layers (--layers of
`model.layers.N.mlp.up_proj`, in 4096, out 11008), with random packed codes and random positive
scales, beside unquantised bystanders (a bias per layer where the scheme has them, an
input_layernorm per layer, model.norm). Tensor names, dtypes, shapes and the config files
follow the committed fixtures (test/fixtures/<scheme>/...; config.json / quantize_config.json
and the fixed BnB code tables are copied from there):
  gptq-4bit-g128   GPTQ v1, 4 bits, group 128, sym: qweight [in/8, out], qzeros, scales f16, g_idx
  awq-4bit-g128    AWQ GEMM, 4 bits, group 128: qweight [in, out/8], qzeros, scales f16
  bnb-nf4          BitsAndBytes NF4, blocksize 64: uint8 [n/2, 1], absmax f32, quant_map, quant_state
  bnb-nf4-dq       the same with double quantisation: uint8 absmax codes, nested_absmax/quant_map
  bnb-int8         LLM.int8: int8 [out, in], SCB f32, weight_format
  fp8-block-128    FP8 E4M3 with DeepSeek-V3 weight_scale_inv [out/128, in/128] f32
  ct-int4-g128     compressed-tensors pack-quantized, 4 bits, group 128, sym, bf16 scales

Method, per scheme: the model is generated, `amn inspect` names its scheme, and both tools
remember it once (an error or a model the peer does not dequantise is recorded instead of a
time). The two outputs are compared: per dequantised tensor, the number of BF16 elements whose
bits differ. Then, once the 1-minute load average is at most --max-load (polled every 30 s, at
most 10 min; our own previous runs count too), the input is read once into the page cache (not
dropped: these runs are compute-bound) and --reps interleaved runs of each tool are timed:
  amn remember IN -o OUT -f --json               (threads: the default, all cores)
  anamnesis remember IN -o OUT --force --threads 2
each under GNU time (-f %M: peak RSS), the output deleted and `sync` run before every run. The
table gives the median wall time, output GB/s at that median and the highest peak RSS. The raw
rows (every run, the load average, the CPU time other processes used during each run, read from
/proc/stat) go to stderr as JSON. Models and outputs are deleted afterwards unless --keep.

usage: bench/schemes_bench.py [--dir /work/bench-scratch/schemes] [--schemes gptq-4bit-g128,...]
                              [--layers 8] [--reps 3] [--amn build/src/cli/amn]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np
import safetensors

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures")
IN, OUT = 4096, 11008  # Llama-7B up_proj
GROUP = 128


def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: (dtype, shape, bytes)}, written as raw safetensors (header, then data)."""
    header, offset = {}, 0
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as out:
        out.write(len(text).to_bytes(8, "little") + text)
        for _, _, data in tensors.values():
            out.write(data)


def read_safetensors(path):
    """{name: (dtype, shape, bytes)} via safetensors.deserialize."""
    with open(path, "rb") as handle:
        return {name: (t["dtype"], t["shape"], bytes(t["data"])) for name, t in safetensors.deserialize(handle.read())}


def fixture_tensor(case, name):
    return read_safetensors(os.path.join(FIXTURES, case, "model.safetensors"))[name][2]


def copy_config(case, folder, name="config.json", edit=None):
    with open(os.path.join(FIXTURES, case, name)) as handle:
        config = json.load(handle)
    if edit:
        edit(config)
    with open(os.path.join(folder, name), "w") as out:
        json.dump(config, out, indent=2)


def bf16(values):
    return (np.asarray(values, "<f4").view("<u4") >> 16).astype("<u2").tobytes()


def gen_scheme(scheme, folder, layers, rng):
    """Writes folder/model.safetensors (+ configs); returns the names of the dequantised weights."""
    scales = lambda n, low=0.002, high=0.02: rng.uniform(low, high, n)
    tensors, weights = {}, []
    norm_dtype = "F16" if scheme in ("gptq-4bit-g128", "awq-4bit-g128") else "BF16"
    norm = lambda: (1 + 0.1 * rng.standard_normal(IN)).astype("<f2").tobytes() if norm_dtype == "F16" else \
        bf16(1 + 0.1 * rng.standard_normal(IN))
    for layer in range(layers):
        x = f"model.layers.{layer}.mlp.up_proj"
        weights.append(f"{x}.weight")
        if scheme == "gptq-4bit-g128":  # test/fixtures/gptq/4bit-g128-sym
            tensors[f"{x}.qweight"] = ("I32", [IN // 8, OUT], rng.bytes(IN * OUT // 2))
            tensors[f"{x}.qzeros"] = ("I32", [IN // GROUP, OUT // 8], b"\x77" * (IN // GROUP * OUT // 2))  # v1: 8 - 1
            tensors[f"{x}.scales"] = ("F16", [IN // GROUP, OUT], scales(IN // GROUP * OUT).astype("<f2").tobytes())
            tensors[f"{x}.g_idx"] = ("I32", [IN], (np.arange(IN) // GROUP).astype("<i4").tobytes())
            tensors[f"{x}.bias"] = ("F16", [OUT], rng.standard_normal(OUT).astype("<f2").tobytes())
        elif scheme == "awq-4bit-g128":  # test/fixtures/awq/gemm-g128
            tensors[f"{x}.qweight"] = ("I32", [IN, OUT // 8], rng.bytes(IN * OUT // 2))
            tensors[f"{x}.qzeros"] = ("I32", [IN // GROUP, OUT // 8], rng.bytes(IN // GROUP * OUT // 2))
            tensors[f"{x}.scales"] = ("F16", [IN // GROUP, OUT], scales(IN // GROUP * OUT).astype("<f2").tobytes())
            tensors[f"{x}.bias"] = ("F16", [OUT], rng.standard_normal(OUT).astype("<f2").tobytes())
        elif scheme in ("bnb-nf4", "bnb-nf4-dq"):  # test/fixtures/bnb/nf4, nf4-dq (blocksize 64 here)
            case, blocks = "bnb/" + scheme[4:], IN * OUT // 64
            state = {"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [OUT, IN]}
            tensors[f"{x}.weight"] = ("U8", [IN * OUT // 2, 1], rng.bytes(IN * OUT // 2))
            if scheme == "bnb-nf4":
                tensors[f"{x}.weight.absmax"] = ("F32", [blocks], scales(blocks, 0.01, 0.2).astype("<f4").tobytes())
            else:
                nested = -(-blocks // 256)
                tensors[f"{x}.weight.absmax"] = ("U8", [blocks], rng.bytes(blocks))
                tensors[f"{x}.weight.nested_absmax"] = ("F32", [nested], scales(nested, 0.05, 0.1).astype("<f4").tobytes())
                tensors[f"{x}.weight.nested_quant_map"] = (
                    "F32", [256], fixture_tensor(case, "model.layers.0.mlp.down_proj.weight.nested_quant_map"))
                state.update(nested_blocksize=256, nested_dtype="float32", nested_offset=0.1)
            tensors[f"{x}.weight.quant_map"] = ("F32", [16], fixture_tensor(case, "model.layers.0.mlp.down_proj.weight.quant_map"))
            blob = json.dumps(state).encode()
            tensors[f"{x}.weight.quant_state.bitsandbytes__nf4"] = ("U8", [len(blob)], blob)
            tensors[f"{x}.bias"] = ("BF16", [OUT], bf16(rng.standard_normal(OUT)))
        elif scheme == "bnb-int8":  # test/fixtures/bnb/int8
            tensors[f"{x}.weight"] = ("I8", [OUT, IN], rng.bytes(IN * OUT))
            tensors[f"{x}.SCB"] = ("F32", [OUT], scales(OUT, 0.05, 0.5).astype("<f4").tobytes())
            tensors[f"{x}.weight_format"] = ("U8", [], b"\x00")
            tensors[f"{x}.bias"] = ("F32", [OUT], rng.standard_normal(OUT).astype("<f4").tobytes())
        elif scheme == "fp8-block-128":  # test/fixtures/fp8/block-128
            codes = np.frombuffer(rng.bytes(IN * OUT), np.uint8).copy()
            codes[(codes & 0x7F) == 0x7F] -= 1  # E4M3 has no infinities; 0x7F/0xFF are NaN
            tensors[f"{x}.weight"] = ("F8_E4M3", [OUT, IN], codes.tobytes())
            grid = [OUT // 128, IN // 128]
            tensors[f"{x}.weight_scale_inv"] = ("F32", grid, scales(grid[0] * grid[1], 1e-4, 1e-3).astype("<f4").tobytes())
        elif scheme == "ct-int4-g128":  # test/fixtures/compressed/int4-group32-asym, made group 128 sym
            tensors[f"{x}.weight_packed"] = ("I32", [OUT, IN // 8], rng.bytes(IN * OUT // 2))
            tensors[f"{x}.weight_scale"] = ("BF16", [OUT, IN // GROUP], bf16(scales(OUT * IN // GROUP)))
            tensors[f"{x}.weight_shape"] = ("I64", [2], np.array([OUT, IN], "<i8").tobytes())
        else:
            raise SystemExit(f"unknown scheme {scheme}")
        tensors[f"model.layers.{layer}.input_layernorm.weight"] = (norm_dtype, [IN], norm())
    tensors["model.norm.weight"] = (norm_dtype, [IN], norm())
    metadata = None if scheme in ("fp8-block-128", "ct-int4-g128") else {"format": "pt"}
    write_safetensors(os.path.join(folder, "model.safetensors"), tensors, metadata)
    if scheme == "gptq-4bit-g128":
        copy_config("gptq/4bit-g128-sym", folder, "quantize_config.json")
    elif scheme == "awq-4bit-g128":
        copy_config("awq/gemm-g128", folder)
    elif scheme.startswith("bnb-"):
        copy_config("bnb/" + scheme[4:], folder)
    elif scheme == "fp8-block-128":
        copy_config("fp8/block-128", folder)
    else:
        def sym_g128(config):
            config["quantization_config"]["config_groups"]["group_0"]["weights"].update(group_size=GROUP, symmetric=True)
            config["torch_dtype"] = "bfloat16"
        copy_config("compressed/int4-group32-asym", folder, edit=sym_g128)
    return weights


def busy_seconds():
    """CPU seconds all processors spent busy (not idle or iowait) since boot."""
    with open("/proc/stat") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def timed(cmd):
    """(wall seconds, peak RSS bytes, CPU seconds used by other processes meanwhile, stdout)."""
    busy = busy_seconds()
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", *cmd], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip()[-2000:])
    peak_kib, user, system = proc.stderr.strip().splitlines()[-1].split()
    other = busy_seconds() - busy - float(user) - float(system)
    return seconds, int(peak_kib) * 1024, round(other, 2), proc.stdout


def wait_quiet(max_load, limit=600):
    """The 1-minute load average once it is at most max_load (or after `limit` seconds)."""
    deadline = time.time() + limit
    while os.getloadavg()[0] > max_load and time.time() < deadline:
        time.sleep(30)
    return os.getloadavg()


def differing(path_a, path_b, names):
    """{name: BF16 elements whose bits differ (or a reason they cannot be compared)}."""
    a, b = read_safetensors(path_a), read_safetensors(path_b)
    result = {}
    for name in names:
        if name not in a or name not in b or a[name][:2] != b[name][:2] or a[name][0] != "BF16":
            result[name] = f"amn {a.get(name, ('missing',))[:2]}, anamnesis {b.get(name, ('missing',))[:2]}"
            continue
        result[name] = int(np.count_nonzero(np.frombuffer(a[name][2], "<u2") != np.frombuffer(b[name][2], "<u2")))
    return result


SCHEMES = "gptq-4bit-g128,awq-4bit-g128,bnb-nf4,bnb-nf4-dq,bnb-int8,fp8-block-128,ct-int4-g128"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default="/work/bench-scratch/schemes")
    parser.add_argument("--schemes", default=SCHEMES)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--max-load", type=float, default=0.7)
    parser.add_argument("--keep", action="store_true", help="keep the models and outputs")
    parser.add_argument("--amn", default="build/src/cli/amn")
    parser.add_argument("--anamnesis", default=os.path.expanduser("~/.cargo/bin/anamnesis"))
    args = parser.parse_args()
    rows = []
    for scheme in args.schemes.split(","):
        folder = os.path.join(args.dir, scheme)
        os.makedirs(folder, exist_ok=True)
        source = os.path.join(folder, "model.safetensors")
        outs = {"amn": os.path.join(args.dir, "amn.safetensors"), "anamnesis": os.path.join(args.dir, "peer.safetensors")}
        weights = gen_scheme(scheme, folder, args.layers, np.random.default_rng(7))
        cmds = {"amn": [args.amn, "remember", source, "-o", outs["amn"], "-f", "--json"],
                "anamnesis": [args.anamnesis, "remember", source, "-o", outs["anamnesis"], "--force", "--threads", "2"]}
        inspect = subprocess.run([args.amn, "inspect", source], capture_output=True, text=True).stdout
        row = {"scheme": scheme, "input_bytes": os.path.getsize(source),
               "amn_inspect": next((l.split(":", 1)[1].strip() for l in inspect.splitlines() if l.startswith("Scheme:")), None)}
        tools = []
        for tool, cmd in cmds.items():  # acceptance: one untimed run each
            try:
                timed(cmd)
            except RuntimeError as error:
                row[f"{tool}_error"] = str(error)
                continue
            present = read_safetensors(outs[tool]).keys()
            if not all(name in present for name in weights):
                row[f"{tool}_error"] = "output lacks the dequantised weights (scheme not recognised)"
                continue
            tools.append(tool)
            row[f"{tool}_output_bytes"] = os.path.getsize(outs[tool])
        if tools == ["amn", "anamnesis"]:
            row["differing"] = differing(outs["amn"], outs["anamnesis"], weights)
        row["load_before"] = wait_quiet(args.max_load)
        with open(source, "rb") as handle:  # into the page cache
            while handle.read(1 << 24):
                pass
        for _ in range(args.reps):
            for tool in tools:
                os.remove(outs[tool])
                subprocess.run(["sync"])
                seconds, rss, other, stdout = timed(cmds[tool])
                run = {"s": round(seconds, 3), "rss": rss, "other_cpu_s": other}
                if tool == "amn":
                    run["amn_s"] = json.loads(stdout)["seconds"]
                row.setdefault(tool, []).append(run)
        row["load_after"] = os.getloadavg()
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
        for path in outs.values():
            if os.path.exists(path) and not args.keep:
                os.remove(path)
        if not args.keep:
            shutil.rmtree(folder)

    mb = lambda b: f"{b / 1e6:,.0f} MB"
    print("| scheme | amn inspect | input | output | amn s (GB/s out) | amn peak RSS | anamnesis s (GB/s out) "
          "| anamnesis peak RSS | anamnesis / amn time | BF16 elements differing | load 1/5 min before |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        cells, median = {}, {}
        for tool in ("amn", "anamnesis"):
            if tool in row:
                median[tool] = statistics.median(run["s"] for run in row[tool])
                rate = row[f"{tool}_output_bytes"] / median[tool] / 1e9
                cells[tool] = f"{median[tool]:.2f} ({rate:.2f}) | {mb(max(run['rss'] for run in row[tool]))}"
            else:
                cells[tool] = f"error: {row.get(f'{tool}_error', '?')[:80]} | -"
        ratio = f"{median['anamnesis'] / median['amn']:.1f}×" if len(median) == 2 else "-"
        diff = row.get("differing")
        diff = f"{sum(v for v in diff.values() if isinstance(v, int)):,}" + \
            ("" if all(isinstance(v, int) for v in diff.values()) else " (some not comparable)") if diff else "-"
        out_bytes = row.get("amn_output_bytes", 0)
        print(f"| {row['scheme']} | {row['amn_inspect']} | {mb(row['input_bytes'])} | {mb(out_bytes)} | {cells['amn']} | "
              f"{cells['anamnesis']} | {ratio} | {diff} | {row['load_before'][0]:.2f} / {row['load_before'][1]:.2f} |")


if __name__ == "__main__":
    main()
