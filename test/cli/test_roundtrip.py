"""Round trips: amn's outputs loaded back by the libraries that define each format
(safetensors.deserialize, gguf-py's GGUFReader, numpy) and compared with the inputs as those
libraries (or torch, at fixture time) read them."""
import json

import gguf
import numpy as np
import pytest

from conftest import FIXTURES, ROOT, fixture_files, run, st_load, st_metadata

# dtype: (bit pattern width, exponent mask = +inf, quiet bit)
NAN_BITS = {"BF16": ("<u2", 0x7F80, 0x0040), "F16": ("<u2", 0x7C00, 0x0200), "F32": ("<u4", 0x7F800000, 0x00400000)}
GGUF_HOLDS = {"F32", "F16", "BF16", "F64", "I8", "I16", "I32", "I64"}


def gguf_load(path):
    """{name: (type name, row-major shape, raw bytes)} and {key: value} as gguf-py reads them."""
    reader = gguf.GGUFReader(str(path))
    raw = path.read_bytes()
    tensors = {}
    for tensor in reader.tensors:
        shape = [int(d) for d in reversed(tensor.shape)]
        start = int(tensor.data_offset)
        tensors[tensor.name] = (tensor.tensor_type.name, shape, raw[start:start + int(tensor.n_bytes)])
    return tensors, reader


def to_np_bytes(array):
    """numpy's C-order little-endian bytes of `array`."""
    array = np.ascontiguousarray(array)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return array.tobytes()


@pytest.mark.parametrize("source", fixture_files("safetensors", ".safetensors"), ids=lambda p: p.name)
def test_safetensors_to_safetensors_is_lossless(source, tmp_path):
    out = tmp_path / "out.safetensors"
    run("convert", source, "-o", out, "-q", check=0)
    assert st_load(out) == st_load(source)
    # the input's metadata, and "format": "pt" (transformers 4.x needs it)
    assert st_metadata(out) == {**st_metadata(source), "format": "pt"}


@pytest.mark.parametrize("source", fixture_files("safetensors", ".safetensors"), ids=lambda p: p.name)
def test_safetensors_to_gguf(source, tmp_path):
    tensors = st_load(source)
    out = tmp_path / "out.gguf"
    proc = run("convert", source, "--to", "gguf", "-o", out, "-q")
    if any(dtype not in GGUF_HOLDS for dtype, _, _ in tensors.values()):
        assert proc.returncode == 1 and "GGUF cannot hold" in proc.stderr
        assert not out.exists()
        return
    assert proc.returncode == 0, proc.stderr
    got, _ = gguf_load(out)
    assert list(got) == list(tensors)
    for name, (dtype, shape, data) in tensors.items():
        g_type, g_shape, g_data = got[name]
        assert g_type == dtype
        assert g_shape == (shape or [1])
        assert g_data == data


@pytest.mark.parametrize("name", ["bf16", "f16", "f32"])
def test_dtype_matches_torch_casts(name, tmp_path):
    out = tmp_path / "out.safetensors"
    run("convert", FIXTURES / "convert" / "source.safetensors", "--dtype", name, "-o", out, "-q", check=0)
    got = st_load(out)
    expected = st_load(FIXTURES / "convert" / f"expected_{name}.safetensors")
    assert got.keys() == expected.keys()
    for key in expected:
        g_dtype, g_shape, g_data = got[key]
        e_dtype, e_shape, e_data = expected[key]
        assert (g_dtype, g_shape) == (e_dtype, e_shape), key
        if e_dtype not in NAN_BITS:
            assert g_data == e_data, key
            continue
        # torch's NaN bit patterns vary by code path (0x7fc0, 0xffff for the same input), so
        # NaNs must stay NaN (quiet, as ggml narrows); every other value must match exactly.
        width, exponent, quiet = NAN_BITS[e_dtype]
        g_bits = np.frombuffer(g_data, width).astype(np.uint64)
        e_bits = np.frombuffer(e_data, width).astype(np.uint64)
        magnitude = (1 << (8 * np.dtype(width).itemsize - 1)) - 1
        e_nan = (e_bits & magnitude) > exponent
        g_nan = (g_bits & magnitude) > exponent
        assert np.array_equal(g_nan, e_nan), key
        assert np.all(g_bits[g_nan] & quiet), key
        assert np.array_equal(g_bits[~e_nan], e_bits[~e_nan]), key


def test_f16_narrowing_matches_numpy(tmp_path):
    source = FIXTURES / "convert" / "source.safetensors"
    out = tmp_path / "out.safetensors"
    run("convert", source, "--dtype", "f16", "-o", out, "-q", check=0)
    tensors = st_load(source)
    _, shape, data = tensors["f32"]
    with np.errstate(over="ignore"):  # values past 65504 become inf, as they must
        expected = np.frombuffer(data, "<f4").astype("<f2").tobytes()
    assert st_load(out)["f32"][2] == expected


GGUF_SOURCES = [p for p in fixture_files("gguf", ".gguf") if "-of-" not in p.name or "-00001-of-" in p.name]


@pytest.mark.parametrize("source", GGUF_SOURCES, ids=lambda p: p.name)
def test_gguf_to_gguf_is_lossless(source, tmp_path):
    """Every GGUF fixture (a split set through its first part) converts to one GGUF whose
    tensors gguf-py reads back byte for byte, without split keys."""
    out = tmp_path / "out.gguf"
    run("convert", source, "--to", "gguf", "-o", out, "-q", check=0)
    got, reader = gguf_load(out)
    parts = sorted(source.parent.glob(source.name.replace("-00001-of-", "-*-of-"))) if "-of-" in source.name else [source]
    expected = {}
    for part in parts:
        expected.update(gguf_load(part)[0])
    assert got == expected
    keys = [field.name for field in reader.fields.values()]
    assert not any(key.startswith("split.") for key in keys)


def test_ggml_all_types_to_gguf_is_lossless(tmp_path):
    source = ROOT / "test" / "fixtures" / "ggml" / "all_types.gguf"
    out = tmp_path / "out.gguf"
    run("convert", source, "--to", "gguf", "-o", out, "-q", check=0)
    assert out.read_bytes()[-3456:] == source.read_bytes()[-3456:]  # the Q2_0 tensor, last in both
    report = json.loads(run("parse", out, "--json", check=0).stdout)
    original = json.loads(run("parse", source, "--json", check=0).stdout)
    assert report["tensors"] == original["tensors"]


@pytest.mark.parametrize("source", fixture_files("npz", ".npz", ".npy"), ids=lambda p: p.name)
def test_numpy_to_safetensors(source, tmp_path):
    out = tmp_path / "out.safetensors"
    proc = run("convert", source, "-o", out, "-q")
    try:
        loaded = np.load(source, allow_pickle=False)
        arrays = {source.stem: loaded} if source.suffix == ".npy" else {k: loaded[k] for k in loaded.files}
        arrays = {k: a for k, a in arrays.items() if isinstance(a, np.ndarray)}
    except Exception:  # numpy refuses it (bad CRC, ...): so must amn
        assert proc.returncode == 1 and proc.stderr.startswith("amn: error: ")
        assert not out.exists()
        return
    assert proc.returncode == 0, proc.stderr
    got = st_load(out)
    assert sorted(got) == sorted(arrays)
    for key, array in arrays.items():
        dtype, shape, data = got[key]
        assert shape == list(array.shape), key
        assert data == to_np_bytes(array), key


@pytest.mark.parametrize("source", fixture_files("pth", ".pth", ".pt"), ids=lambda p: p.name)
def test_pth_to_safetensors_matches_torch(source, tmp_path):
    """torch's own tensors (X.expect.tsv/.bin, written by gen_pth.py with t.contiguous()) must
    come out of `amn convert X` unchanged; legacy and TorchScript files are refused."""
    table = source.with_name(source.stem + ".expect.tsv")
    out = tmp_path / "out.safetensors"
    proc = run("convert", source, "-o", out, "-q")
    if not table.exists():
        assert proc.returncode == 1 and ("legacy" in proc.stderr or "TorchScript" in proc.stderr), proc.stderr
        assert not out.exists()
        return
    assert proc.returncode == 0, proc.stderr
    blob = source.with_name(source.stem + ".expect.bin").read_bytes()
    expected = {}
    for line in table.read_text().splitlines():
        name, dtype, shape, offset, count = line.split("\t")
        dims = [int(d) for d in shape.split(",")] if shape else []
        expected[name] = (dtype, dims, blob[int(offset):int(offset) + int(count)])
    got = st_load(out)
    assert got == expected


@pytest.mark.parametrize("entry", ["dir", "index"])
def test_sharded_safetensors_input_is_one_model(entry, tmp_path):
    """A transformers-style sharded checkpoint (directory or its index.json) converts to one
    file holding every shard's tensors as the safetensors package reads them."""
    folder = FIXTURES / "safetensors" / "sharded"
    source = folder if entry == "dir" else folder / "model.safetensors.index.json"
    out = tmp_path / "merged.safetensors"
    run("convert", source, "-o", out, "-q", check=0)
    expected = {}
    for shard in sorted(folder.glob("*.safetensors")):
        expected.update(st_load(shard))
    assert st_load(out) == expected
