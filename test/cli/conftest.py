"""Shared helpers for the CLI tests: run the built `amn` binary, find fixtures, and read
safetensors files raw (dtype string, shape, bytes) with safetensors.deserialize, so that any
dtype (BF16, F8, ...) compares bit for bit without torch."""
import json
import os
import pathlib
import struct
import subprocess
from typing import NamedTuple

import numpy as np
import pytest
import safetensors

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "test" / "fixtures"
AMN = os.environ.get("AMN_BIN", str(ROOT / "build" / "src" / "cli" / "amn"))
# Set by `scripts/test.sh --sanitize`: amn is an ASan/UBSan build, slower and with a large RSS.
SANITIZED = bool(os.environ.get("AMN_SANITIZE"))


def run(*args, check=None):
    """Runs amn with `args`; `check` = expected exit status (None: don't check)."""
    proc = subprocess.run([AMN, *map(str, args)], capture_output=True, text=True, timeout=120)
    if check is not None:
        assert proc.returncode == check, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return proc


@pytest.fixture
def amn():
    return run


def fixture_files(folder, *suffixes):
    """Sorted fixture files in test/fixtures/<folder> ending in one of `suffixes`."""
    base = FIXTURES / folder
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if p.is_file() and p.name.endswith(suffixes))


# --- safetensors, read raw -------------------------------------------------------------------

class Tensor(NamedTuple):
    """One tensor as a safetensors file stores it (a tuple, so it also unpacks and compares as one)."""
    dtype: str   # the safetensors dtype string: "BF16", "F32", "F8_E4M3", "I64", ...
    shape: list
    data: bytes  # little-endian, row-major, as stored


def st_load(path):
    """{name: Tensor(dtype, shape, bytes)} as the safetensors package reads the file."""
    raw = pathlib.Path(path).read_bytes()
    return {name: Tensor(t["dtype"], list(t["shape"]), bytes(t["data"])) for name, t in safetensors.deserialize(raw)}


def st_write(path, tensors):
    """Writes {name: Tensor} as a safetensors file (names sorted, data packed in order)."""
    header, data = {}, b""
    for name in sorted(tensors):
        tensor = tensors[name]
        header[name] = {"dtype": tensor.dtype, "shape": tensor.shape, "data_offsets": [len(data), len(data) + len(tensor.data)]}
        data += tensor.data
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def st_metadata(path):
    """The file's __metadata__ ({} if none), as the safetensors package reads it."""
    with safetensors.safe_open(str(path), "numpy") as handle:
        return handle.metadata() or {}


NUMPY_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
                "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}


def values(tensor):
    """The tensor's elements as a numpy array of its shape; BF16 is widened to float32 exactly (a
    BF16 is the high half of a float32). Dtypes numpy has no floats for (F8_*, ...) raise KeyError:
    compare their bytes instead."""
    if tensor.dtype == "BF16":
        high = np.frombuffer(tensor.data, "<u2").astype("<u4") << 16
        return high.view("<f4").reshape(tensor.shape)
    return np.frombuffer(tensor.data, NUMPY_DTYPES[tensor.dtype]).reshape(tensor.shape)


def assert_same_tensor(got, want, what):
    """`got` is `want` bit for bit: same dtype string, same shape, same bytes."""
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, expected {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    assert got.data == want.data, f"{what}: bytes differ, first at byte " + str(
        next(i for i, (a, b) in enumerate(zip(got.data, want.data)) if a != b))


def assert_holds(out, expected, what=""):
    """Every tensor of `expected` is in `out` bit for bit (dtype and shape included)."""
    for name, want in expected.items():
        assert name in out, f"{name}{what}: missing"
        assert_same_tensor(out[name], want, f"{name}{what}")


# --- `amn remember` on the quantisation-scheme fixtures ----------------------------------------

def remember(source, folder, *args):
    """Runs `amn remember SOURCE -o FOLDER/<SOURCE's folder name>.safetensors -q ARGS`, which must
    succeed, and returns the output's tensors (st_load)."""
    out = folder / f"{source.parent.name}.safetensors"
    run("remember", source, "-o", out, "-q", *args, check=0)
    return st_load(out)


def refused(source, folder):
    """Runs `amn remember SOURCE -o FOLDER/out.safetensors`, which must exit 1 and leave FOLDER
    empty; returns its stderr."""
    proc = run("remember", source, "-o", folder / "out.safetensors", check=1)
    assert list(folder.iterdir()) == []
    return proc.stderr


def assert_any_chunking_gives(expected, source, tmp_path):
    """`amn remember SOURCE --dtype f32` holds `expected` bit for bit whatever the chunk size (2 threads)."""
    for chunk in ["7", "1000"]:
        folder = tmp_path / chunk
        folder.mkdir()
        out = remember(source, folder, "--dtype", "f32", "--chunk-size", chunk, "--threads", "2")
        assert_holds(out, expected, what=f" with chunks of {chunk}")
