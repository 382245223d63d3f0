"""Typed GGUF metadata outside GGUF (src/formats/typed_metadata.hpp): GGUF -> safetensors -> GGUF
keeps every KV pair with its type and value, as gguf-py reads them (the `gguf:TYPE:VALUE` and
`gguf:array:N:BASE64` values of the safetensors `__metadata__`), a 128k-entry vocabulary stays
smaller than its JSON text, a value that is not the encoding stays a string, a typed array
above the heap budget is refused; and
`convert --gguf-metadata FILE.json` stamps typed KV pairs by the `--gguf-kv` rule, refusing what it
cannot type. (That llama.cpp loads the round-tripped file is checked in test/clients.)"""
import json
import random
import string

import gguf
import numpy as np
import pytest

from conftest import FIXTURES, run, st_metadata

SOURCE = FIXTURES / "llama" / "tiny-llama-f16.gguf"


def kv_pairs(path):
    """{key: (types, contents)} of every KV pair but the reader's own GGUF.* fields."""
    reader = gguf.GGUFReader(path)
    return {key: (field.types, field.contents()) for key, field in reader.fields.items() if not key.startswith("GGUF.")}


def every_type_gguf(path, vocab):
    """A GGUF written by gguf-py holding a value of every type, arrays of each, and `vocab`."""
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_uint8("t.u8", 255)
    writer.add_int8("t.i8", -128)
    writer.add_uint16("t.u16", 65535)
    writer.add_int16("t.i16", -32768)
    writer.add_uint32("t.u32", 4294967295)
    writer.add_int32("t.i32", -2147483648)
    writer.add_uint64("t.u64", 18446744073709551615)
    writer.add_int64("t.i64", -9223372036854775808)
    writer.add_float32("t.f32", 0.1)
    writer.add_float32("t.f32_inf", float("-inf"))
    writer.add_float64("t.f64", 1 / 3)
    writer.add_bool("t.bool", False)
    writer.add_string("t.str_like_typed", "gguf:u32:7")
    writer.add_string("t.str", "caf\u00e9 \u202e")
    writer.add_array("t.arr_i32", [1, -2, 3])
    writer.add_array("t.arr_f32", [0.5, -1.25, 3.0e38])
    writer.add_array("t.arr_bool", [True, False])
    writer.add_array("t.arr_empty", [])
    writer.add_token_list(vocab)
    writer.add_token_scores([-float(idx) for idx in range(len(vocab))])
    writer.add_tensor("w", np.arange(8, dtype=np.float32).reshape(2, 4))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def vocabulary(count):
    rng = random.Random(5)
    return ["".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(2, 9))) for _ in range(count)]


@pytest.mark.parametrize("source", ["tiny-llama", "every-type"])
def test_gguf_to_safetensors_to_gguf_keeps_every_kv_with_its_type(source, tmp_path):
    path = SOURCE if source == "tiny-llama" else every_type_gguf(tmp_path / "in.gguf", vocabulary(1000))
    middle, out = tmp_path / "model.safetensors", tmp_path / "out.gguf"
    run("convert", path, "--to", "safetensors", "-o", middle, "-q", check=0)
    run("convert", middle, "--to", "gguf", "-o", out, "-q", check=0)
    want, got = kv_pairs(path), kv_pairs(out)
    assert list(got) == list(want)  # same keys, same order; `format` (safetensors' tag) is not added
    for key, (types, contents) in want.items():
        assert got[key][0] == types, key
        assert got[key][1] == contents, key
    metadata = st_metadata(middle)
    assert metadata["format"] == "pt" and metadata["general.architecture"] == "llama"
    if source == "every-type":
        assert metadata["t.u32"] == "gguf:u32:4294967295" and metadata["t.f32"] == "gguf:f32:0.1"
        assert metadata["t.str"] == "caf\u00e9 \u202e" and metadata["t.str_like_typed"] == "gguf:str:gguf:u32:7"
        assert metadata["t.arr_i32"].startswith("gguf:array:")


@pytest.mark.parametrize("dtype, ftype", [(None, gguf.LlamaFileType.MOSTLY_BF16), ("f16", gguf.LlamaFileType.MOSTLY_F16),
                                          ("f32", gguf.LlamaFileType.ALL_F32)])
def test_a_remembered_quantised_gguf_names_the_type_written(dtype, ftype, tmp_path):
    """general.file_type describes the tensors written, in a GGUF output and in the GGUF metadata a
    safetensors output carries: a remembered Q4_K_M model is BF16 (or --dtype), so the GGUF made
    back from it is not labelled Q4_K_M (llama.cpp prints the label)."""
    quantised = tmp_path / "q4km.gguf"
    run("convert", SOURCE, "--quant", "Q4_K_M", "-o", quantised, "-q", check=0)
    assert kv_pairs(quantised)["general.file_type"][1] == gguf.LlamaFileType.MOSTLY_Q4_K_M
    middle, direct, back = tmp_path / "model.safetensors", tmp_path / "direct.gguf", tmp_path / "back.gguf"
    for out in (middle, direct):
        run("remember", quantised, "-o", out, "-q", *(["--dtype", dtype] if dtype else []), check=0)
    assert st_metadata(middle)["general.file_type"] == f"gguf:u32:{int(ftype)}"
    run("convert", middle, "-o", back, "-q", check=0)
    for out in (direct, back):
        pairs = kv_pairs(out)
        assert pairs["general.file_type"] == ([gguf.GGUFValueType.UINT32], ftype), out.name
        assert pairs["general.quantization_version"][1] == gguf.GGML_QUANT_VERSION


def test_a_large_vocabulary_stays_compact(tmp_path):
    vocab = vocabulary(128 * 1024)
    path = every_type_gguf(tmp_path / "in.gguf", vocab)
    middle = tmp_path / "model.safetensors"
    run("convert", path, "--to", "safetensors", "-o", middle, "-q", check=0)
    header = int.from_bytes(middle.read_bytes()[:8], "little")
    as_text = len(json.dumps(vocab)) + len(json.dumps([-float(idx) for idx in range(len(vocab))]))
    assert header < 0.75 * as_text, (header, as_text)  # measured: 0.41


@pytest.mark.parametrize("value", ["gguf:u32:-1", "gguf:u8:256", "gguf:float:1", "gguf:novalue", "gguf:array:3:@@@@",
                                   "gguf:array:x:AAAA", "gguf:array:99:AAAA", "gguf:array:4294967296000:AAAA"])
def test_a_value_that_is_not_the_typed_encoding_stays_a_string(value, tmp_path):
    """Another tool's string that begins with `gguf:` is kept as it is (nothing allocated for a
    declared size above the cap), not refused: the file is valid safetensors."""
    header = json.dumps({"__metadata__": {"bad.key": value}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})
    header += " " * (-len(header) % 8)
    path = tmp_path / "bad.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header.encode() + b"\0" * 4)
    report = json.loads(run("parse", path, "--json", check=0).stdout)
    assert report["metadata"]["bad.key"] == value
    out = tmp_path / "out.safetensors"
    run("convert", path, "-o", out, "-q", check=0)
    assert st_metadata(out)["bad.key"] == "gguf:str:" + value  # written unambiguously, read back as the string
    assert json.loads(run("parse", out, "--json", check=0).stdout)["metadata"]["bad.key"] == value


def test_a_typed_array_above_the_budget_is_refused(tmp_path):
    middle = tmp_path / "model.safetensors"
    run("convert", every_type_gguf(tmp_path / "in.gguf", vocabulary(50_000)), "--to", "safetensors", "-o", middle, "-q",
        check=0)
    proc = run("inspect", middle, "--max-total", "1MiB", check=1)
    assert "tokenizer.ggml.tokens" in proc.stderr and "model.safetensors" in proc.stderr, proc.stderr


def test_gguf_metadata_stamps_typed_pairs_before_gguf_kv(tmp_path):
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"general.name": "str:From json", "llama.context_length": "u32:512",
                                "test.scores": ["f32", "0.5", "-1.25"], "test.words": ["str", "a", "b:c"],
                                "test.flag": "bool:true", "test.empty": ["i64"]}))
    out = tmp_path / "out.gguf"
    run("convert", SOURCE, "--to", "gguf", "-o", out, "-q", "--gguf-metadata", meta, "--gguf-kv", "test.flag=bool:false",
        check=0)
    reader = gguf.GGUFReader(out)
    assert reader.fields["general.name"].contents() == "From json"
    assert reader.fields["llama.context_length"].types == [gguf.GGUFValueType.UINT32]
    assert reader.fields["llama.context_length"].contents() == 512
    assert reader.fields["test.scores"].types == [gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.FLOAT32]
    assert reader.fields["test.scores"].contents() == [0.5, -1.25]
    assert reader.fields["test.words"].contents() == ["a", "b:c"]
    assert reader.fields["test.flag"].contents() is False  # --gguf-kv comes after and wins
    assert reader.fields["test.empty"].types[0] == gguf.GGUFValueType.ARRAY and reader.fields["test.empty"].contents() == []
    assert list(reader.fields)[-1] == "test.flag"


@pytest.mark.parametrize("text,message", [
    ('["u32:1"]', "expected a JSON object"),
    ('{"k": 5}', "expected a string"),
    ('{"k": "5"}', "is not TYPE:VALUE"),
    ('{"k": "u128:5"}', "is not TYPE:VALUE"),
    ('{"k": "u8:300"}', "'300' is not a u8"),
    ('{"k": "bool:yes"}', "'yes' is not a bool"),
    ('{"k": ["1", "2"]}', "an array starts with its element type"),
    ('{"k": []}', "an array starts with its element type"),
    ('{"k": ["i32", 1]}', "expected a string"),
    ('{"k": "u8:1", "k": "u8:2"}', "given twice"),
    ('{"": "u8:1"}', "an empty key"),
    ('{"k": "u8:1"', "meta.json"),
])
def test_gguf_metadata_refuses_what_it_cannot_type(text, message, tmp_path):
    meta = tmp_path / "meta.json"
    meta.write_text(text)
    out = tmp_path / "out.gguf"
    proc = run("convert", SOURCE, "--to", "gguf", "-o", out, "--gguf-metadata", meta, check=1)
    assert message in proc.stderr and "meta.json" in proc.stderr, proc.stderr
    assert not out.exists()


def test_gguf_metadata_needs_a_gguf_output(tmp_path):
    meta = tmp_path / "meta.json"
    meta.write_text('{"k": "u8:1"}')
    proc = run("convert", SOURCE, "-o", tmp_path / "out.safetensors", "--gguf-metadata", meta, check=2)
    assert "--gguf-metadata" in proc.stderr
