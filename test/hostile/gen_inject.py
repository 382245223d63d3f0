#!/usr/bin/env python3
"""Writes test/hostile/inject/: files whose strings would drive a terminal or a log viewer if amn
printed them raw (shared/docs/hostile-inputs.md case 62): ESC sequences (clear screen, colours,
window titles, OSC 8 links), CR, C1 controls, bidi overrides and isolates, zero-width and tag
characters, DEL, and bytes that are not UTF-8, in safetensors tensor names and __metadata__, GGUF
keys, values and tensor names, ZIP member names, index shard names and tensor names, and pickle
strings. Two manifests:

- expect_display.tsv (file, a fragment `amn parse` must print): files amn reads; their strings
  must reach `inspect`/`parse` output (human and --json) escaped (test/cli/test_display.py);
- expect.tsv (file, code, message fragment): files amn refuses with a message that quotes a
  hostile string, checked like every expect.tsv (test_hostile.cpp, test_hostile_cli.py); the
  fragments are in amn's display notation (src/io/display.hpp).

Run from the repo root: python3 test/hostile/gen_inject.py
"""
import json
import os
import shutil
import struct

import gen_gguf as gg
import gen_npz as gz
import gen_pth as gp
from gen_safetensors import header_file

OUT = "test/hostile/inject"
ESC_NAMES = [
    "evil\x1b[2J\x1b[31mred",      # clear screen, red
    "cr\rover",                     # carriage return: rewrites the line
    "bidi\u202egnp.exe",            # right-to-left override
    "iso\u2066late\u2069",          # left-to-right isolate
    "c1\u0085next\u009b31m",        # NEL and the 8-bit CSI
    "zw\u200bsp\ufeffbom",          # zero-width space, BOM
    "tag\U000e0041\U000e007f",      # tag characters (invisible ASCII)
    "del\x7fete",
    "back\\slash",
    "plain é ×",                    # printable non-ASCII stays as it is
]


def safetensors_names():
    header = {}
    offset = 0
    for name in ESC_NAMES:
        header[name] = {"dtype": "U8", "shape": [1], "data_offsets": [offset, offset + 1]}
        offset += 1
    header["__metadata__"] = {"title\x1b]0;pwned\x07": "value\u202e\u2067txt.exe\nline two",
                              "link": "\x1b]8;;https://example.invalid\x07click\x1b]8;;\x07"}
    return header_file(json.dumps(header, ensure_ascii=False), bytes(offset))


def gguf_strings():
    kvs = [
        gg.kv_string("general.architecture", "llama\x1b[31m\u202e"),
        gg.kv(b"bad\xff\xfekey", gg.STRING, gg.gstr(b"val\x1b]8;;http://x\x07\x9b31m\xc0\xaf")),
        gg.kv("tokens\x1b[1m", gg.ARRAY, gg.u32(gg.STRING) + gg.u64(2) + gg.gstr(b"a\x1b[5m") + gg.gstr("b\u202e")),
    ]
    infos = [gg.tensor_info(b"t\x1b[1m", [8], gg.GGML_F32, 0), gg.tensor_info(b"u\xc0\xaf\xff", [8], gg.GGML_F32, 32)]
    return gg.gguf(kvs, infos, b"\1" * 64)


def npz_names():
    return gz.archive([gz.member(b"a\x1b[31m.npy"), gz.member("b\u202e.npy".encode()), gz.member(b"c\xff\x1b[8m.npy"),
                       gz.member(b"note\x1b[5m.txt", content=b"hi")])


def pth_strings():
    model = b"}" + gp.MARK + gp.uni("w\x1b[1m") + gp.rebuild() + gp.uni("v\u202e") + gp.rebuild() + b"u"
    pickle = (gp.PROTO2 + b"}" + gp.MARK + gp.uni("model") + model + gp.uni("opt\u2066") + gp.uni("adam\x1b[0m\r") +
              b"u" + gp.STOP)
    return gp.archive(pickle)


def index_folder(folder):
    """An index and its shard, both naming a tensor with an ESC sequence."""
    name = "w\x1b[31m\u202e"
    os.makedirs(folder)
    with open(os.path.join(folder, "model.safetensors"), "wb") as out:
        out.write(header_file(json.dumps({name: {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}), b"\0"))
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as out:
        json.dump({"metadata": {}, "weight_map": {name: "model.safetensors"}}, out)


def duplicate_header(name):
    entry = json.dumps({"dtype": "U8", "shape": [1], "data_offsets": [0, 1]})
    return header_file("{" + json.dumps(name) + ":" + entry + "," + json.dumps(name) + ":" + entry + "}", b"\0")


LONG_KEY = b"\x1b[2J" + b"A" * 100_000
LONG_SHARD = "\u202e" + "s" * 300

DISPLAY_CASES = [
    # file, content, a fragment of `amn parse` (human)
    ("62-st-names.safetensors", safetensors_names(), "evil\\x1b[2J\\x1b[31mred"),
    ("62-gguf-strings.gguf", gguf_strings(), "architecture llama\\x1b[31m\\u202e"),
    ("62-npz-names.npz", npz_names(), "c\\xff\\x1b[8m"),
    ("62-pth-strings.pth", pth_strings(), "opt\\u2066 = str 'adam\\x1b[0m\\r'"),
]

REFUSED_CASES = [
    # file, content, code, message fragment (display notation)
    ("62-st-duplicate-name.safetensors", duplicate_header("a\x1b[31m\u202e"), "parse",
     "duplicate tensor name 'a\\x1b[31m\\u202e'"),
    ("62-gguf-duplicate-key.gguf", gg.base(kvs=gg.BASE_KVS + [gg.kv_string(b"k\x1b]0;pwn\x07\xff", "x")] * 2), "parse",
     "key 'k\\x1b]0;pwn\\x07\\xff': duplicate key"),
    ("62-gguf-long-key.gguf", gg.base(kvs=gg.BASE_KVS + [gg.kv_string(LONG_KEY, "x")] * 2), "parse",
     f"AAA\u2026({len(LONG_KEY)} bytes)': duplicate key"),
    ("62-gguf-duplicate-tensor.gguf", gg.base(infos=[gg.tensor_info(b"t\r\x1b[K", [8], gg.GGML_F32, 0)] * 2), "parse",
     "tensor 't\\r\\x1b[K': duplicate tensor name"),
    ("62-npz-backslash.npz", gz.archive([gz.member(b"x\x1b[2J\\y.npy")]), "parse",
     "member name 'x\\x1b[2J\\\\y.npy': contains a backslash"),
    ("62-index-shard-slash.index.json", json.dumps({"weight_map": {"w": "sub/\x1b[31mm.safetensors"}}), "parse",
     "shard 'sub/\\x1b[31mm.safetensors' is not a plain file name"),
    ("62-index-shard-long.index.json", json.dumps({"weight_map": {"w": LONG_SHARD}}), "parse",
     f"s\u2026({len(LONG_SHARD.encode())} bytes)' is not a plain file name"),
    ("62-pth-global.pth", gp.archive(gp.PROTO2 + gp.glob("os\x1b[31m", "system") + gp.STOP), "unsupported",
     "global 'os\\x1b[31m.system' is not allowed"),
    ("62-pth-prefix.pth", gp.archive(gp.PROTO2 + gp.glob("posix", "system") + gp.STOP, prefix="arch\x1b]0;x\x07ive"),
     "unsupported", "arch\\x1b]0;x\\x07ive/data.pkl: "),
]


def write(name, content):
    mode = "w" if isinstance(content, str) else "wb"
    with open(os.path.join(OUT, name), mode) as out:
        out.write(content)


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    display = ["# file\tfragment of `amn parse` (made by test/hostile/gen_inject.py; checked by test_display.py)"]
    for name, content, fragment in DISPLAY_CASES:
        write(name, content)
        display.append(f"{name}\t{fragment}")
    index_folder(os.path.join(OUT, "62-index-names"))
    display.append("62-index-names\tw\\x1b[31m\\u202e")
    with open(os.path.join(OUT, "expect_display.tsv"), "w", encoding="utf-8") as manifest:
        manifest.write("\n".join(display) + "\n")
    refused = ["# file\tcode\tmessage fragment (made by test/hostile/gen_inject.py)"]
    for name, content, code, fragment in REFUSED_CASES:
        write(name, content)
        refused.append(f"{name}\t{code}\t{fragment}")
    with open(os.path.join(OUT, "expect.tsv"), "w", encoding="utf-8") as manifest:
        manifest.write("\n".join(refused) + "\n")


if __name__ == "__main__":
    main()
