#!/usr/bin/env python3
"""Differential fuzzing against the parsers that define each format (hostile-inputs case 65).

Mutates the committed fixtures with a fixed seed (header bytes flipped, integers in the header
set to edge values (counts, lengths, offsets), dtype and flag tokens swapped, truncation,
appended bytes) and runs each mutant through amn (`amn parse --json`, then `amn convert` for
the bytes) and through the canonical parser:

  safetensors  safetensors.deserialize                 (the safetensors package)
  gguf         gguf.GGUFReader                          (gguf-py, llama.cpp's Python reader)
  ggml         ggml's gguf_init_from_file               (with --ggml-probe: test/fuzz/gguf_probe.cpp
                                                         built against llama.cpp's libggml-base.a)
  npy, npz     numpy.load(allow_pickle=False)
  pth          torch.load(weights_only=True)            (only with --formats pth; needs torch)

Both verdicts (accept/refuse) must agree and, when both accept, the tensors (names, dtypes,
shapes, bytes). A disagreement is either listed in KNOWN (a deliberate difference, with the
reason; docs/security.md repeats them) or a finding. Prints a summary; exits 1 on findings.

  python3 test/fuzz/differential.py [--seed 0] [--mutants 300] [--formats safetensors,gguf,npy,npz]
Used by test/cli/test_differential.py (default suite, fixed seed) and by hand for longer runs.
"""
import argparse
import collections
import json
import os
import pathlib
import random
import re
import signal
import struct
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "test" / "fixtures"
AMN = os.environ.get("AMN_BIN", str(ROOT / "build" / "src" / "cli" / "amn"))

SEEDS = {
    "safetensors": ["safetensors/dtypes.safetensors", "safetensors/numpy.safetensors"],
    "gguf": ["gguf/types.gguf", "gguf/v2.gguf", "gguf/align64.gguf", "gguf/meta_only.gguf"],
    "ggml": ["gguf/types.gguf", "gguf/v2.gguf", "gguf/align64.gguf", "gguf/meta_only.gguf"],
    "npy": ["npz/f4.npy", "npz/fortran_i2.npy", "npz/be_f4.npy", "npz/scalar_f8.npy", "npz/c8.npy", "npz/b1.npy"],
    "npz": ["npz/savez.npz", "npz/compressed.npz"],
    "pth": ["pth/dtypes.pth", "pth/layouts.pth", "pth/bigendian.pth"],
}

# Deliberate differences: (format, who accepts, amn message or canonical error pattern, reason).
# "canonical" = the canonical parser accepts and amn refuses (amn is stricter); "amn" = the reverse.
KNOWN = [
    ("gguf", "canonical", r"data offset \d+, expected \d+",
     "tensor data offsets must be packed in order (ggml's gguf_init_from_file refuses others too; "
     "gguf-py reads any offset, so overlapping tensors would alias)"),
    ("gguf", "canonical", r"general\.alignment",
     "general.alignment must be a u32 power of two (ggml's rule; gguf-py takes any value)"),
    ("gguf", "canonical", r"data ends at \d+ but the data section holds|file truncated|past the end",
     "a tensor must lie inside the file (gguf-py maps the file and may give a short or empty array)"),
    ("gguf", "canonical", r"duplicate|also appears|used twice",
     "duplicate keys or tensor names are refused (gguf-py keeps both / the last)"),
    ("gguf", "canonical", r"not valid UTF-8|invalid UTF-8",
     "keys, names and strings must be UTF-8 (gguf-py decodes with errors replaced or keeps bytes)"),
    ("gguf", "canonical", r"n_dims|dims|dimension|ne\[|block size|not a multiple",
     "tensor shapes must be valid for ggml (n_dims <= 4, positive dims, whole blocks; gguf-py does not check)"),
    ("gguf", "canonical", r"unknown|type \d+|version",
     "unknown metadata or tensor types and GGUF versions other than 2 and 3 are refused"),
    ("gguf", "canonical", r"name.*(63|longer)|empty",
     "tensor names are at most 63 bytes and keys are non-empty (ggml's GGML_MAX_NAME)"),
    ("ggml", "canonical", r"byte size overflows",
     "a tensor's byte size must fit in a signed 64-bit integer (ggml accepts up to 2^64 with no_alloc; no file "
     "holds it)"),
    ("ggml", "canonical", r"data ends at \d+ but the data section holds|file truncated",
     "every tensor's data must lie inside the file at open time (gguf_init_from_file with no_alloc reads the header "
     "only; llama.cpp's model loader refuses such a file later, before it maps the data)"),
    ("safetensors", "canonical", r"not UTF-8|UTF-8",
     "the header must be valid UTF-8 JSON (serde_json agrees; deserialize may not reach the check)"),
    ("npy", "canonical", r"padded|header length|newline|not a multiple of",
     "the header must be padded as NEP 1 says (numpy reads any length)"),
    ("npy", "canonical", r"trailing|after the data|declares \d+ data bytes",
     "the data must match the header's size (numpy.load reads the prefix it needs)"),
    ("npy", "canonical", r"descr|dtype|type",
     "only the element types amn converts are read (numpy reads any non-object descr)"),
    ("gguf", "canonical", r"exceeds the \d+ bytes remaining|truncated",
     "every value must lie inside the file (ggml's reader fails on the short read; gguf-py's memory map returns a "
     "short slice without error)"),
    ("npz,pth", "canonical", r"end of central directory: not found|comment: truncated",
     "the end record's comment must end exactly at the end of the file: bytes appended after a ZIP are refused "
     "(Python's zipfile searches back and ignores them; a file that is two things at once is the polyglot trick)"),
    ("npz,pth", "canonical", r"local header: .*differ",
     "each local header must agree with the central directory (zipfile reads the directory and skips most local "
     "fields; a disagreement is the ZIP confusion trick, hostile-inputs case 44)"),
    ("npz,pth", "canonical", r"multi-disk",
     "disk numbers must be 0 (one-file archives only; zipfile ignores them)"),
    ("npz,pth", "canonical", r"stored member with compressed size",
     "a stored member's compressed and uncompressed sizes must be equal (zipfile reads the compressed size)"),
    ("npz,pth", "canonical", r"0xFFFFFFFF size or offset without a zip64|zip64",
     "ZIP64 sentinels need their ZIP64 extra field (case 42; zipfile treats the sentinel as a size)"),
    ("npz", "canonical", r"descr|dtype",
     "only the element types amn converts are read (numpy reads any non-object descr)"),
    ("npz,pth", "canonical", r"local header.*truncated",
     "every local header field (its extra field too) must lie inside the file (torch's reader skips what it does not use)"),
    ("npz,pth", "canonical", r"encrypted",
     "the encryption flags (bits 0, 6 and 13) are refused in the local header as in the central directory "
     "(zipfile reads only the central directory's)"),
    ("npz,pth", "canonical", r"central directory .*truncated",
     "every central directory field must lie inside the directory"),
    ("npz,pth", "canonical", r"inflates to more than",
     "a DEFLATE stream must end at its declared size (zipfile stops reading there)"),
    ("npz,pth", "canonical", r"contains NUL",
     "member names with a NUL byte are refused (case 46; zipfile and torch cut or keep them)"),
    ("npz,pth", "canonical", r"CRC-32 mismatch",
     "the CRC-32 of every member read whole (data.pkl, byteorder, deflated members) is checked; torch.load does not "
     "check it"),
    ("pth", "canonical", r"unsupported|not supported|amn reads",
     "only tensors, containers and plain values are read"),
]

# The reverse: amn accepts what the canonical parser refuses, matched on the canonical error.
KNOWN_LAXER = [
    ("gguf", "amn", r"UnicodeDecodeError",
     "keys and strings are bytes to ggml (gguf_init_from_file does not check UTF-8); amn reads them as ggml does and "
     "shows them escaped, gguf-py decodes them strictly"),
    ("pth", "amn", r"UnicodeDecodeError",
     "ZIP member names are bytes (shown escaped); torch decodes the names of the records it lists as UTF-8"),
    ("npz", "amn", r"Bad CRC-32",
     "a stored (uncompressed) member's bytes are read by range straight from the file, as safetensors and GGUF data "
     "are, so its CRC-32 is not checked (a deflated member's is, as it is inflated); numpy's zipfile reads each member "
     "whole and checks it"),
    ("npz,pth", "amn", r"zip file version",
     "the 'version needed to extract' field is ignored: only the method (stored or deflate) decides"),
]

# ---------------------------------------------------------------- mutation


def header_end(fmt, data):
    """Bytes of `data` that hold structure (mutations aim there)."""
    try:
        if fmt == "safetensors":
            return min(len(data), 8 + struct.unpack_from("<Q", data)[0])
        if fmt == "npy":
            return min(len(data), 10 + struct.unpack_from("<H", data, 8)[0])
        if fmt in ("gguf", "ggml"):
            import gguf
            with tempfile.NamedTemporaryFile(suffix=".gguf") as tmp:
                tmp.write(data)
                tmp.flush()
                reader = gguf.GGUFReader(tmp.name)
                return min([t.data_offset for t in reader.tensors] or [len(data)])
    except Exception:
        pass
    return len(data)


TOKENS = {
    "safetensors": [b'"F32"', b'"F16"', b'"BF16"', b'"I64"', b'"U8"', b'"BOOL"', b'"F64"', b'"F8_E4M3"', b'"shape"',
                    b'"dtype"', b'"data_offsets"', b'[', b']', b',', b'0', b'1', b'2', b'4', b'"__metadata__"'],
    "npy": [b"'<f4'", b"'<f8'", b"'>f4'", b"'|u1'", b"'<i2'", b"'|b1'", b"'<c8'", b"'|O'", b"True", b"False", b"(", b")",
            b",", b"0", b"1", b"2", b"3", b"'shape'", b"'descr'"],
}
EDGE = [0, 1, 2, 3, 4, 7, 8, 31, 32, 63, 64, 255, 256, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 2**63 - 1, 2**64 - 1]


ST_DTYPES = ["F32", "F16", "BF16", "F64", "I8", "I16", "I32", "I64", "U8", "U16", "U32", "U64", "BOOL", "F8_E4M3",
             "F8_E5M2", "C64", "F4", "X9"]


def mutate_safetensors_header(data, rng):
    """The header decoded, one tensor field changed (dtype, a dim, an offset), encoded again."""
    size = struct.unpack_from("<Q", data)[0]
    header = json.loads(data[8:8 + size])
    names = [name for name in header if name != "__metadata__"]
    if not names:
        return None
    name = rng.choice(names)
    entry = header[name]
    field = rng.choice(["dtype", "shape", "offsets", "offsets", "metadata"])
    if field == "dtype":
        entry["dtype"] = rng.choice(ST_DTYPES)
    elif field == "shape":
        shape = entry["shape"]
        op = rng.choice(["dim", "add", "drop"])
        if op == "dim" and shape:
            shape[rng.randrange(len(shape))] = rng.choice([0, 1, 2, 3, -1, 2**31, 2**63 - 1])
        elif op == "add":
            shape.insert(rng.randrange(len(shape) + 1), rng.choice([1, 2]))
        elif shape:
            shape.pop(rng.randrange(len(shape)))
    elif field == "offsets":
        which = rng.randrange(2)
        entry["data_offsets"][which] = max(0, entry["data_offsets"][which] + rng.choice([-8, -2, -1, 1, 2, 8, 2**40]))
    else:
        header["__metadata__"] = rng.choice([{"k": "v"}, {"k": 1}, {"k": None}, [], "x", {"k": {"n": "v"}}])
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data[8 + size:], f"{name}: {field} changed"


def mutate(fmt, data, rng):
    """One mutant of `data` and a short description."""
    end = max(1, header_end(fmt, data))
    kind = rng.choice(["flip", "int", "int", "token", "truncate", "append"] + (["json"] * 3 if fmt == "safetensors" else []))
    if kind == "json":
        mutant = mutate_safetensors_header(data, rng)
        if mutant is not None:
            return mutant
    buf = bytearray(data)
    if kind == "flip":
        pos = rng.randrange(end)
        buf[pos] ^= 1 << rng.randrange(8)
        return bytes(buf), f"flip byte {pos}"
    if kind == "int":
        width = rng.choice([1, 2, 4, 8])
        pos = rng.randrange(max(1, end - width + 1))
        value = rng.choice(EDGE + [len(data), len(data) + 1, rng.randrange(1 << 16)]) % (1 << (8 * width))
        buf[pos:pos + width] = value.to_bytes(width, "little")[: len(buf) - pos]
        return bytes(buf), f"u{8 * width} {value} at {pos}"
    if kind == "token" and fmt in TOKENS:
        tokens = TOKENS[fmt]
        old = rng.choice(tokens)
        spots = [m.start() for m in re.finditer(re.escape(old), bytes(buf[:end]))]
        if spots:
            pos = rng.choice(spots)
            new = rng.choice(tokens)
            buf[pos:pos + len(old)] = new
            return bytes(buf), f"{old.decode()} -> {new.decode()} at {pos}"
    if kind in ("token", "truncate"):
        cut = rng.randrange(len(data))
        return data[:cut], f"truncate to {cut}"
    tail = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 65)))
    return data + tail, f"append {len(tail)} bytes"


# ---------------------------------------------------------------- canonical parsers

NUMPY_NAMES = {("f", 2): "F16", ("f", 4): "F32", ("f", 8): "F64", ("i", 1): "I8", ("i", 2): "I16", ("i", 4): "I32",
               ("i", 8): "I64", ("u", 1): "U8", ("u", 2): "U16", ("u", 4): "U32", ("u", 8): "U64", ("b", 1): "BOOL",
               ("c", 8): "C64"}


def numpy_tensor(array):
    import numpy as np
    name = NUMPY_NAMES.get((array.dtype.kind, array.dtype.itemsize), f"numpy {array.dtype.str}")
    contiguous = np.ascontiguousarray(array)
    if contiguous.dtype.byteorder == ">":
        contiguous = contiguous.astype(contiguous.dtype.newbyteorder("<"))
    return name, list(array.shape), contiguous.tobytes()


GGML_PROBE = os.environ.get("GGML_PROBE")


def canonical(fmt, path):
    """{name: (dtype, shape, bytes)} as the canonical parser reads `path`; raises if it refuses."""
    if fmt == "ggml":
        proc = subprocess.run([GGML_PROBE, str(path)], capture_output=True, text=True, errors="replace", timeout=60,
                              preexec_fn=CAP.restore_in_child)
        if proc.returncode != 0:
            raise ValueError("gguf_init_from_file refused: " + proc.stderr.strip().splitlines()[-1:][0][:200]
                             if proc.stderr.strip() else "gguf_init_from_file refused")
        data = pathlib.Path(path).read_bytes()
        out = {}
        for line in proc.stdout.splitlines()[1:]:
            name, dtype, ne, offset, size = line.split("\t")
            dims = [int(d) for d in ne.split(",")]
            while len(dims) > 1 and dims[-1] == 1:
                dims.pop()
            out[name] = (dtype.upper(), list(reversed(dims)), data[int(offset):int(offset) + int(size)])
        return out
    if fmt == "safetensors":
        import safetensors
        return {name: (t["dtype"], list(t["shape"]), bytes(t["data"]))
                for name, t in safetensors.deserialize(pathlib.Path(path).read_bytes())}
    if fmt == "gguf":
        import gguf
        import numpy as np
        reader = gguf.GGUFReader(path)
        out = {}
        for t in reader.tensors:
            raw = np.asarray(t.data).tobytes()
            if len(raw) != t.n_bytes:
                raise ValueError(f"tensor {t.name}: {len(raw)} bytes present, {t.n_bytes} declared")
            out[t.name] = (t.tensor_type.name, [int(d) for d in reversed(t.shape)], raw)
        return out
    if fmt == "npy":
        import numpy as np
        with open(path, "rb") as f:
            array = np.load(f, allow_pickle=False)
        return {pathlib.Path(path).stem: numpy_tensor(array)}
    if fmt == "npz":
        import numpy as np
        with np.load(path, allow_pickle=False) as archive:
            return {name: numpy_tensor(archive[name]) for name in archive.files}
    if fmt == "pth":
        import torch
        state = torch.load(path, weights_only=True, map_location="cpu")
        out = {}
        for name, value in state.items():
            if not isinstance(value, torch.Tensor):
                continue
            contiguous = value.contiguous()
            dtype = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
                     torch.int8: "I8", torch.int16: "I16", torch.int32: "I32", torch.int64: "I64", torch.uint8: "U8",
                     torch.bool: "BOOL", torch.float8_e4m3fn: "F8_E4M3", torch.float8_e5m2: "F8_E5M2",
                     torch.complex64: "C64", torch.uint16: "U16", torch.uint32: "U32", torch.uint64: "U64"}.get(value.dtype, str(value.dtype))
            raw = contiguous.reshape(-1).view(torch.uint8).numpy().tobytes() if contiguous.numel() else b""
            out[name] = (dtype, list(value.shape), raw)
        return out
    raise ValueError(fmt)


# ---------------------------------------------------------------- amn


def amn_read(fmt, path, workdir):
    """(True, {name: (dtype, shape, bytes)}) or (False, error line) as amn reads `path`."""
    proc = subprocess.run([AMN, "parse", "--json", str(path)], capture_output=True, text=True, timeout=60,
                          preexec_fn=CAP.restore_in_child)
    if proc.returncode != 0:
        return False, proc.stderr.strip()
    report = json.loads(proc.stdout)
    tensors = {t["name"]: (t["dtype"], t["shape"], None) for t in report["tensors"]}
    if not tensors:
        return True, tensors
    gguf_like = fmt in ("gguf", "ggml")
    out = pathlib.Path(workdir) / ("out.gguf" if gguf_like else "out.safetensors")
    args = [AMN, "convert", str(path), "-o", str(out), "--force"] + (["--to", "gguf"] if gguf_like else [])
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60, preexec_fn=CAP.restore_in_child)
    if proc.returncode != 0:
        return False, proc.stderr.strip()
    try:
        written = canonical(fmt if gguf_like else "safetensors", out)
    except Exception as error:  # noqa: BLE001
        written = {name: (None, None, f"amn's output unreadable: {type(error).__name__}") for name in tensors}
    return True, {name: (dtype, shape, written[name][2] if name in written else b"?") for name, (dtype, shape, _) in tensors.items()}


def known(fmt, accepted_by, message):
    for known_fmt, who, pattern, reason in KNOWN + KNOWN_LAXER:
        if fmt in known_fmt.split(",") and who == accepted_by and re.search(pattern, message):
            return reason
    return None


def compare(canon, mine, fmt=None):
    if fmt == "ggml":  # ggml keeps ne[0..3], not the declared n_dims: compare without outer size-1 dims
        def strip(shape):
            shape = list(shape)
            while shape and shape[0] == 1:
                shape.pop(0)
            return shape
        canon = {k: (d, strip(sh), b) for k, (d, sh, b) in canon.items()}
        mine = {k: (d, strip(sh), b) for k, (d, sh, b) in mine.items()}
    if set(canon) != set(mine):
        return f"names differ: {sorted(set(canon) ^ set(mine))[:4]}"
    for name in canon:
        c_dtype, c_shape, c_bytes = canon[name]
        a_dtype, a_shape, a_bytes = mine[name]
        if not c_dtype.startswith("numpy ") and c_dtype != a_dtype:
            return f"{name}: dtype {a_dtype} vs {c_dtype}"
        if c_shape != a_shape:
            return f"{name}: shape {a_shape} vs {c_shape}"
        if isinstance(a_bytes, str):
            return f"{name}: {a_bytes}"
        if c_bytes != a_bytes:
            return f"{name}: bytes differ"
    return None


class MemoryCap:
    """The canonical parsers allocate what a header declares (numpy.fromfile, gguf-py arrays):
    while fuzzing, this process may map at most 1 GiB more than it had (a MemoryError is the
    canonical parser's refusal); amn runs with the limit it had before (ASan builds need theirs)."""

    def __enter__(self):
        import resource
        self.saved = resource.getrlimit(resource.RLIMIT_AS)
        with open("/proc/self/statm") as statm:
            mapped = int(statm.read().split()[0]) * resource.getpagesize()
        cap = mapped + (1 << 30)
        if self.saved[0] == resource.RLIM_INFINITY or self.saved[0] > cap:
            resource.setrlimit(resource.RLIMIT_AS, (cap, self.saved[1]))
        return self

    def __exit__(self, *exc):
        import resource
        resource.setrlimit(resource.RLIMIT_AS, self.saved)

    def restore_in_child(self):
        import resource
        resource.setrlimit(resource.RLIMIT_AS, self.saved)


CAP = MemoryCap()


def run(formats, seed, mutants, verbose=False):
    """Returns {fmt: Counter of outcomes}, [findings], [deliberate differences]."""
    modules = {"safetensors": "safetensors", "gguf": "gguf", "ggml": "gguf", "npy": "numpy", "npz": "numpy", "pth": "torch"}
    for fmt in formats:
        __import__(modules[fmt])  # before the memory cap: torch maps gigabytes of address space on import
    __import__("safetensors")  # reads amn's outputs

    def too_slow(signum, frame):
        raise TimeoutError("the canonical parser took more than 20 s")

    previous = signal.signal(signal.SIGALRM, too_slow)
    try:
        return run_all(formats, seed, mutants, verbose)
    finally:
        signal.signal(signal.SIGALRM, previous)


def run_all(formats, seed, mutants, verbose):
    stats = {}
    findings = []
    deliberate = []
    with tempfile.TemporaryDirectory() as workdir, CAP:
        for fmt in formats:
            counts = collections.Counter()
            rng = random.Random(f"{seed}:{fmt}")
            seeds = [(FIXTURES / p).read_bytes() for p in SEEDS[fmt]]
            suffix = pathlib.Path(SEEDS[fmt][0]).suffix
            for index in range(mutants):
                source = rng.randrange(len(seeds))
                data, how = mutate(fmt, seeds[source], rng)
                stem = "f" if fmt == "npy" else "mutant"
                path = pathlib.Path(workdir) / f"{stem}{suffix}"
                path.write_bytes(data)
                try:
                    signal.alarm(20)  # gguf-py loops in Python over a declared count of 2^31 values
                    canon, canon_error = canonical(fmt, path), None
                except Exception as error:  # noqa: BLE001 - any refusal of the canonical parser
                    canon, canon_error = None, f"{type(error).__name__}: {error}"
                finally:
                    signal.alarm(0)
                ok, mine = amn_read(fmt, path, workdir)
                where = f"{fmt} #{index} ({SEEDS[fmt][source]}: {how})"
                if canon is None and not ok:
                    counts["both refuse"] += 1
                elif canon is not None and ok:
                    difference = compare(canon, mine, fmt)
                    counts["both accept, equal" if difference is None else "both accept, DIFFERENT"] += 1
                    if difference:
                        findings.append(f"{where}: {difference}")
                elif canon is not None:
                    reason = known(fmt, "canonical", mine)
                    counts["amn stricter (known)" if reason else "amn refuses, canonical accepts"] += 1
                    (deliberate if reason else findings).append(f"{where}: amn: {mine[:300]}" + (f" [{reason}]" if reason else ""))
                else:
                    reason = known(fmt, "amn", canon_error)
                    counts["amn laxer (known)" if reason else "amn accepts, canonical refuses"] += 1
                    (deliberate if reason else findings).append(f"{where}: canonical: {canon_error[:300]}" +
                                                                (f" [{reason}]" if reason else ""))
                if verbose:
                    print(where, dict(counts), flush=True)
            stats[fmt] = counts
    return stats, findings, deliberate


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", default="0")
    parser.add_argument("--mutants", type=int, default=300, help="mutants per format")
    parser.add_argument("--formats", default="safetensors,gguf,npy,npz")
    parser.add_argument("--ggml-probe", help="gguf_probe built from test/fuzz/gguf_probe.cpp: adds format ggml")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    global GGML_PROBE
    GGML_PROBE = args.ggml_probe or GGML_PROBE
    stats, findings, deliberate = run(args.formats.split(","), args.seed, args.mutants, args.verbose)
    for fmt, counts in stats.items():
        print(f"{fmt}: {sum(counts.values())} mutants: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for line in deliberate:
        print("deliberate:", line)
    for line in findings:
        print("FINDING:", line)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
