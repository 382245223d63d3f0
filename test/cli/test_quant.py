"""`amn convert --quant` against llama-quantize: every type name llama-quantize accepts, with and
without --pure and --imatrix, on the tiny Llama of test/fixtures/llama (made by transformers and
convert_hf_to_gguf.py); each output tensor's type, shape and data bytes must equal what
llama-quantize wrote (expected.tsv, by test/fixtures/gen/gen_llama_quant.py), and the KV pairs
llama-quantize sets must be set alike (expected_kv.json)."""
import collections
import hashlib
import json

import gguf
import numpy as np
import pytest

from conftest import FIXTURES, SANITIZED, run

LLAMA = FIXTURES / "llama"
MODEL = LLAMA / "tiny-llama-f16.gguf"
IMATRIX = LLAMA / "imatrix.gguf"


def expected_runs():
    """{(ftype, pure, imatrix): [(tensor, type, shape, sha256-or-error)]} from expected.tsv."""
    runs = collections.OrderedDict()
    lines = (LLAMA / "expected.tsv").read_text().splitlines()[1:]
    for line in lines:
        ftype, pure, imatrix, _index, tensor, type_name, shape, digest = line.split("\t", 7)
        runs.setdefault((ftype, pure == "1", imatrix == "1"), []).append((tensor, type_name, shape, digest))
    return runs


RUNS = expected_runs()
if SANITIZED:  # under ASan every quantiser runs ~10x slower: one mixture per kernel family
    SUBSET = {"Q4_K_M", "Q5_K_M", "Q3_K_L", "Q2_K", "Q8_0", "Q5_1", "IQ4_XS", "IQ3_S", "IQ2_XXS", "IQ1_M", "TQ1_0",
              "MXFP4_MOE", "F16"}
    RUNS = {key: value for key, value in RUNS.items() if key[0] in SUBSET and not key[1]}
KNOWN_TYPES = {t.name for t in gguf.GGMLQuantizationType}


def quant_args(ftype, pure, imatrix):
    args = ["--quant", ftype]
    if pure:
        args.append("--pure")
    if imatrix:
        args += ["--imatrix", IMATRIX]
    return args


def read_tensors(path):
    """[(name, type name, shape as amn stores it, sha256 of the data)] in file order, by gguf-py."""
    reader = gguf.GGUFReader(path)
    return [(t.name, t.tensor_type.name, ",".join(str(int(d)) for d in reversed(t.shape.tolist())),
             hashlib.sha256(t.data.tobytes()).hexdigest()) for t in reader.tensors]


@pytest.mark.parametrize("key", list(RUNS), ids=lambda k: f"{k[0]}{'-pure' if k[1] else ''}{'-imatrix' if k[2] else ''}")
def test_quant_equals_llama_quantize(key, tmp_path):
    ftype, pure, imatrix = key
    want = RUNS[key]
    out = tmp_path / "out.gguf"
    proc = run("convert", MODEL, *quant_args(ftype, pure, imatrix), "-o", out, "-q")
    if want[0][1] == "ERROR":
        # llama-quantize refuses (the type needs an importance matrix): so must amn, writing nothing
        assert proc.returncode == 1, proc.stderr
        assert "imatrix" in proc.stderr and "tensor '" in proc.stderr, proc.stderr
        assert list(tmp_path.iterdir()) == []
        return
    assert proc.returncode == 0, proc.stderr
    if not {type_name for _, type_name, _, _ in want} <= KNOWN_TYPES:
        pytest.skip("the installed gguf-py cannot read every type of this output")
    got = read_tensors(out)
    assert [g[:3] for g in got] == [w[:3] for w in want]
    for (name, type_name, _, digest), (_, _, _, want_digest) in zip(got, want):
        assert digest == want_digest, f"{name} ({type_name}): data differs from llama-quantize's"


def kv_expectations():
    data = json.loads((LLAMA / "expected_kv.json").read_text())
    return {(f["ftype"], f["pure"], f["imatrix"]): f for f in data["files"]}


@pytest.mark.parametrize("ftype", ["Q4_K_M", "Q8_0", "IQ4_XS", "F16"])
def test_quant_sets_the_kv_llama_quantize_sets(ftype, tmp_path):
    want = kv_expectations()[(ftype, False, True)]
    out = tmp_path / "out.gguf"
    run("convert", MODEL, *quant_args(ftype, False, True), "-o", out, "-q", check=0)
    reader = gguf.GGUFReader(out)
    got = {name: field for name, field in reader.fields.items() if not name.startswith("GGUF.")}
    for change in want["changed"]:
        key = change["key"]
        assert key in got, f"{key} missing"
        assert got[key].types[0].name == change["type"].split("[")[0], key
        if key != "quantize.imatrix.file":  # llama-quantize records the path as given on its command line
            assert got[key].contents() == change["value"], key
    assert [k for k in got if k != "general.alignment"] == [k for k in want["key_order"] if k != "general.alignment"]


def test_unknown_quant_type_lists_the_valid_names(tmp_path):
    proc = run("convert", MODEL, "--quant", "Q4_K_XL", "-o", tmp_path / "out.gguf", check=2)
    assert "Q4_K_M" in proc.stderr and "IQ4_XS" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_help_lists_every_quant_name():
    proc = run("convert", "--help", check=0)
    for name in ("Q4_0", "Q4_K_M", "IQ2_XXS", "MXFP4_MOE", "F16", "COPY"):
        assert name in proc.stdout


def test_quant_refuses_safetensors_output(tmp_path):
    proc = run("convert", MODEL, "--quant", "Q8_0", "--to", "safetensors", "-o", tmp_path / "out", check=2)
    assert "GGUF" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def write_imatrix(path, cut=None, drop=None):
    """A copy of IMATRIX written by gguf-py, with tensor `cut`'s sums one column short or entry
    `drop` left out."""
    reader = gguf.GGUFReader(IMATRIX)
    writer = gguf.GGUFWriter(path, arch=None)
    for name, field in reader.fields.items():
        if name.startswith("imatrix."):
            kind = field.types[0]
            if kind == gguf.GGUFValueType.ARRAY:
                writer.add_array(name, field.contents())
            else:
                writer.add_key_value(name, field.contents(), kind)
    for tensor in reader.tensors:
        if drop and tensor.name.startswith(drop + "."):
            continue
        data = tensor.data.copy()
        if tensor.name == f"{cut}.in_sum2":
            data = data.reshape(-1)[:-1].copy()
        writer.add_tensor(tensor.name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_imatrix_of_another_shape_is_refused_naming_the_tensor(tmp_path):
    bad = tmp_path / "bad.imatrix.gguf"
    write_imatrix(bad, cut="blk.1.attn_q.weight")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = run("convert", MODEL, "--quant", "IQ4_XS", "--imatrix", bad, "-o", out_dir / "out.gguf", check=1)
    assert "bad.imatrix.gguf" in proc.stderr and "blk.1.attn_q.weight" in proc.stderr, proc.stderr
    assert list(out_dir.iterdir()) == []


def test_imatrix_without_an_entry_a_type_needs_is_refused(tmp_path):
    bad = tmp_path / "partial.imatrix.gguf"
    write_imatrix(bad, drop="blk.2.ffn_up.weight")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = run("convert", MODEL, "--quant", "IQ2_XXS", "--imatrix", bad, "-o", out_dir / "out.gguf", check=1)
    assert "blk.2.ffn_up.weight" in proc.stderr and "imatrix" in proc.stderr, proc.stderr
    assert list(out_dir.iterdir()) == []


def test_imatrix_that_is_not_one_is_refused(tmp_path):
    proc = run("convert", MODEL, "--quant", "IQ4_XS", "--imatrix", FIXTURES / "ggml" / "all_types.gguf",
               "-o", tmp_path / "out.gguf", check=1)
    assert "all_types.gguf" in proc.stderr and "imatrix" in proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_naming_the_tensor(bad, tmp_path):
    source = tmp_path / "bad.gguf"
    writer = gguf.GGUFWriter(source, arch="llama")
    writer.add_block_count(1)
    good = np.ones((4, 64), np.float32)
    broken = good.copy()
    broken[2, 17] = bad
    writer.add_tensor("blk.0.attn_q.weight", good)
    writer.add_tensor("blk.0.attn_k.weight", broken)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = run("convert", source, "--quant", "Q8_0", "--pure", "-o", out_dir / "out.gguf", check=1)
    assert "blk.0.attn_k.weight" in proc.stderr and "row 2" in proc.stderr, proc.stderr
    assert list(out_dir.iterdir()) == []


def test_quant_without_the_architecture_keys_is_refused_naming_the_file(tmp_path):
    source = tmp_path / "no-blocks.gguf"
    writer = gguf.GGUFWriter(source, arch="llama")
    writer.add_tensor("blk.0.attn_q.weight", np.ones((4, 64), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    proc = run("convert", source, "--quant", "Q8_0", "-o", tmp_path / "out.gguf", check=1)
    assert "no-blocks.gguf" in proc.stderr and "llama.block_count" in proc.stderr, proc.stderr
    assert not (tmp_path / "out.gguf").exists()


def test_gguf_kv_sets_typed_metadata_last(tmp_path):
    out = tmp_path / "out.gguf"
    run("convert", MODEL, "--quant", "Q8_0", "--gguf-kv", "general.name=str:Tiny llama", "--gguf-kv",
        "llama.context_length=u32:512", "--gguf-kv", "test.flag=bool:true", "-o", out, "-q", check=0)
    fields = gguf.GGUFReader(out).fields
    assert fields["general.name"].contents() == "Tiny llama"
    assert fields["llama.context_length"].types[0] == gguf.GGUFValueType.UINT32
    assert fields["llama.context_length"].contents() == 512
    assert fields["test.flag"].contents() is True
    assert list(fields)[-3:] == ["general.name", "llama.context_length", "test.flag"]


@pytest.mark.parametrize("bad", ["general.name", "general.name=str", "x=u8:300", "x=i32:1.5", "x=int:3", "x=bool:yes"])
def test_gguf_kv_refuses_what_it_cannot_type(bad, tmp_path):
    proc = run("convert", MODEL, "--quant", "Q8_0", "--gguf-kv", bad, "-o", tmp_path / "out.gguf", check=2)
    assert "--gguf-kv" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_safetensors_input_is_quantised_with_a_warning(tmp_path):
    """A Hugging Face checkpoint keeps its names: amn quantises it and says llama.cpp will not load it."""
    source = tmp_path / "model.safetensors"
    run("convert", MODEL, "--to", "safetensors", "-o", source, "-q", check=0)
    out = tmp_path / "out.gguf"
    proc = run("convert", source, "--quant", "Q8_0", "-o", out, check=0)
    assert "general.architecture" in proc.stderr and "llama.cpp" in proc.stderr
    assert gguf.GGUFReader(out).tensors


def test_quant_streams_in_small_windows(tmp_path):
    """Any window size gives the same bytes (rows cut at window edges are quantised whole)."""
    outs = []
    for chunk in ["4096", "1MiB"]:
        out = tmp_path / f"{chunk}.gguf"
        run("convert", MODEL, "--quant", "Q4_K_M", "--chunk-size", chunk, "--threads", "2", "-o", out, "-q", check=0)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
