#!/usr/bin/env python3
"""Writes test/hostile/safetensors/: malformed safetensors files for shared/docs/hostile-inputs.md
cases 1-12, and expect.tsv (file, error code, message fragment) that test/unit/test_hostile.cpp
checks through amn::open_model. Every file is built by hand: no library writes these.
Run from the repo root: python3 test/hostile/gen_safetensors.py
"""
import json
import os
import struct

OUT = "test/hostile/safetensors"
F32_16 = {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}


def header_file(header, data=b"", pad=b" ", length=None):
    """8-byte length + header text padded to 8 bytes with `pad` + data."""
    raw = header.encode("utf-8") if isinstance(header, str) else header
    raw += pad * ((8 - len(raw) % 8) % 8)
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


def json_file(obj, data=b""):
    return header_file(json.dumps(obj, separators=(",", ":")), data)


def one(info, data_len=16):
    return json_file({"a": info}, bytes(data_len))


CASES = [
    # 1. shorter than the length field
    ("01-short-file.safetensors", b"\x10\x00\x00", "parse", "header length: the file is 3 bytes"),
    # 2. absurd header lengths
    ("02-header-len-max.safetensors", header_file("{}", length=2**64 - 1), "limit", "header length 18446744073709551615 is above the cap"),
    ("02-header-len-over-cap.safetensors", header_file("{}", length=100_000_001), "limit", "header length 100000001 is above the cap"),
    # 3. header longer than the file
    ("03-header-len-past-eof.safetensors", header_file("{}", length=4096), "parse", "header length 4096 runs past the end of the file"),
    # 4. not UTF-8 / not '{' / bad padding / not JSON
    ("04-not-utf8.safetensors", header_file(b'{"a\xff\xfe":' + json.dumps(F32_16).encode() + b"}", bytes(16)), "parse",
     "header: invalid JSON: Invalid encoding"),
    ("04-not-brace.safetensors", header_file(" " + json.dumps({"a": F32_16}), bytes(16)), "parse", "header: does not start with '{'"),
    ("04-array-header.safetensors", header_file("[1, 2]"), "parse", "header: does not start with '{'"),
    ("04-nul-padding.safetensors", header_file('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"\x00", pad=b"\x00"), "parse",
     "header: padding after the JSON must be spaces, found byte 0"),
    ("04-trailing-garbage.safetensors", header_file("{} x"), "parse", "header: padding after the JSON must be spaces"),
    ("04-truncated-json.safetensors", header_file('{"a": {"dtype": "F32"'), "parse", "header: invalid JSON"),
    ("04-deep-nesting.safetensors", header_file('{"a":' + "[" * 1000 + "]" * 1000 + "}"), "parse",
     "header: tensor 'a': must be an object, found an array"),
    # 5. duplicate keys (a JSON DOM would keep the last one)
    ("05-duplicate-tensor.safetensors", header_file('{"a":' + json.dumps(F32_16) + ',"a":' + json.dumps(F32_16) + "}", bytes(16)),
     "parse", "header: duplicate tensor name 'a'"),
    ("05-duplicate-metadata-key.safetensors", header_file('{"__metadata__":{"k":"1","k":"2"}}'), "parse",
     "__metadata__: duplicate key 'k'"),
    ("05-duplicate-metadata.safetensors", header_file('{"__metadata__":{},"__metadata__":{}}'), "parse", "duplicate key __metadata__"),
    ("05-duplicate-field.safetensors", header_file('{"a":{"dtype":"F32","dtype":"F16","shape":[2,2],"data_offsets":[0,16]}}', bytes(16)),
     "parse", "tensor 'a': dtype: duplicate field"),
    # 6. unknown or wrongly cased dtype
    ("06-dtype-lowercase.safetensors", one({**F32_16, "dtype": "f32"}), "unsupported", "tensor 'a': dtype: unknown dtype 'f32'"),
    ("06-dtype-f128.safetensors", one({**F32_16, "dtype": "F128"}), "unsupported", "dtype: unknown dtype 'F128'"),
    ("06-dtype-gguf-block.safetensors", one({**F32_16, "dtype": "Q4_K"}), "unsupported", "dtype: unknown dtype 'Q4_K'"),
    ("06-dtype-not-string.safetensors", one({**F32_16, "dtype": 4}), "parse", "dtype: must be a string"),
    # 7. shape products that overflow
    ("07-shape-overflow.safetensors", one({**F32_16, "shape": [2**32, 2**32, 16]}), "parse", "tensor 'a': shape: element count"),
    ("07-byte-size-overflow.safetensors", one({**F32_16, "shape": [2**62]}), "parse", "tensor 'a': shape: byte size"),
    ("07-dim-above-u64.safetensors", one({**F32_16, "shape": [2**64]}), "parse", "shape: must hold non-negative integers"),
    ("07-dim-above-i64.safetensors", one({**F32_16, "shape": [2**63]}), "parse", "shape: dim 9223372036854775808 is too large"),
    # 8. range length disagrees with dtype and shape
    ("08-size-mismatch.safetensors", one({**F32_16, "data_offsets": [0, 12]}, 12), "parse",
     "tensor 'a': data_offsets: [0, 12] holds 12 bytes but F32 [2, 2] needs 16"),
    # 9. overlapping ranges, begin > end
    ("09-overlap.safetensors", json_file({"a": F32_16, "b": {**F32_16, "data_offsets": [8, 24]}}, bytes(24)), "parse",
     "tensor 'b': data_offsets: begins at 8, overlapping tensor 'a'"),
    ("09-same-range.safetensors", json_file({"a": F32_16, "b": F32_16}, bytes(16)), "parse", "data_offsets: begins at 0, overlapping"),
    ("09-begin-after-end.safetensors", one({**F32_16, "data_offsets": [16, 0]}), "parse", "tensor 'a': data_offsets: begin > end"),
    # 10. holes and trailing bytes
    ("10-hole.safetensors", json_file({"a": F32_16, "b": {**F32_16, "data_offsets": [24, 40]}}, bytes(40)), "parse",
     "tensor 'b': data_offsets: hole of 8 bytes"),
    ("10-not-from-zero.safetensors", one({**F32_16, "data_offsets": [8, 24]}, 24), "parse", "tensor 'a': data_offsets: hole of 8 bytes"),
    ("10-trailing-bytes.safetensors", one(F32_16, 20), "parse", "data section: 4 bytes after the last tensor"),
    ("10-past-end.safetensors", one(F32_16, 8), "parse", "data section: tensors need 16 bytes but the file holds 8"),
    # 11. __metadata__ values, dims and offsets of the wrong kind
    ("11-metadata-number.safetensors", json_file({"__metadata__": {"epoch": 3}}), "parse", "__metadata__: value of 'epoch' must be a string"),
    ("11-metadata-nested.safetensors", json_file({"__metadata__": {"cfg": {"a": "b"}}}), "parse", "__metadata__: value of 'cfg' must be a string"),
    ("11-metadata-null.safetensors", json_file({"__metadata__": {"x": None}}), "parse", "__metadata__: value of 'x' must be a string"),
    ("11-metadata-not-object.safetensors", json_file({"__metadata__": "pt"}), "parse", "__metadata__: must be an object"),
    # Found by fuzz_safetensors: a negative or fractional number where no tensor entry exists yet
    # made the message name tensors.back() of an empty list (a crash).
    ("11-metadata-negative.safetensors", json_file({"__metadata__": -1}), "parse", "__metadata__: must be an object, found a number"),
    ("11-metadata-fraction.safetensors", json_file({"__metadata__": 1.5}), "parse", "__metadata__: must be an object, found a number"),
    ("11-metadata-value-negative.safetensors", json_file({"__metadata__": {"k": -1}}), "parse",
     "__metadata__: value of 'k' must be a string, found a number"),
    ("11-tensor-negative.safetensors", json_file({"a": -5}), "parse", "tensor 'a': must be an object, found a number"),
    ("11-tensor-fraction.safetensors", json_file({"b": 2.5}), "parse", "tensor 'b': must be an object, found a number"),
    ("11-negative-dim.safetensors", one({**F32_16, "shape": [-2, -2]}), "parse", "tensor 'a': shape: must hold non-negative integers"),
    ("11-fractional-dim.safetensors", one({**F32_16, "shape": [2.5, 2]}), "parse", "tensor 'a': shape: must hold non-negative integers"),
    ("11-float-dim.safetensors", header_file('{"a":{"dtype":"F32","shape":[2.0,2],"data_offsets":[0,16]}}', bytes(16)), "parse",
     "shape: must hold non-negative integers"),
    ("11-shape-not-array.safetensors", one({**F32_16, "shape": 4}), "parse", "tensor 'a': shape: must be an array"),
    ("11-negative-offset.safetensors", one({**F32_16, "data_offsets": [-16, 0]}), "parse", "data_offsets: must hold non-negative integers"),
    ("11-one-offset.safetensors", one({**F32_16, "data_offsets": [16]}), "parse", "data_offsets: must hold exactly 2 integers"),
    ("11-three-offsets.safetensors", one({**F32_16, "data_offsets": [0, 16, 16]}), "parse", "data_offsets: must hold exactly 2 integers"),
    ("11-missing-shape.safetensors", one({"dtype": "F32", "data_offsets": [0, 16]}), "parse", "tensor 'a': shape: missing"),
    ("11-unknown-field.safetensors", one({**F32_16, "offsets": [0, 16]}), "parse", "tensor 'a': unknown field 'offsets'"),
    ("11-tensor-not-object.safetensors", json_file({"a": [0, 16]}), "parse", "tensor 'a': must be an object"),
    ("11-too-many-dims.safetensors", one({**F32_16, "shape": [1] * 17}), "limit", "tensor 'a': shape: more than 16 dims"),
    ("11-long-name.safetensors", json_file({"n" * 5000: {"dtype": "U8", "shape": [0], "data_offsets": [0, 0]}}), "limit",
     "tensor name of 5000 bytes is above the cap"),
    # 12. sub-byte dtypes whose bits do not fill whole bytes
    ("12-f4-odd-count.safetensors", one({"dtype": "F4", "shape": [3], "data_offsets": [0, 2]}, 2), "parse",
     "tensor 'a': dtype: 3 elements of F4 (4 bits each) do not fill whole bytes"),
    ("12-f6-partial.safetensors", one({"dtype": "F6_E2M3", "shape": [2, 3], "data_offsets": [0, 5]}, 5), "parse",
     "tensor 'a': dtype: 6 elements of F6_E2M3 (6 bits each) do not fill whole bytes"),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "expect.tsv"), "w") as manifest:
        manifest.write("# file\tcode\tmessage fragment (made by test/hostile/gen_safetensors.py)\n")
        for name, content, code, fragment in CASES:
            with open(os.path.join(OUT, name), "wb") as out:
                out.write(content)
            manifest.write(f"{name}\t{code}\t{fragment}\n")


if __name__ == "__main__":
    main()
