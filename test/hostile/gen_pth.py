#!/usr/bin/env python3
"""Writes test/hostile/pth/: PyTorch archives for shared/docs/hostile-inputs.md cases 47-58 and 61, and
expect.tsv (file, error code, message fragment) that test/unit/test_hostile.cpp checks.

Each pickle is assembled opcode by opcode (Lib/pickletools.py layouts) from the stream
torch.save writes for {"w": 4 float32}, with one thing broken, and stored as archive/data.pkl
in a ZIP (Python's zipfile) beside archive/data/0 and archive/byteorder. Accept cases
(LONG_BINPUT 2^32-1, byteorder "big") are unit tests (test_pickle.cpp, test_pth.cpp).
Run from the repo root: python3 test/hostile/gen_pth.py
"""
import io
import os
import struct
import tarfile
import zipfile

OUT = "test/hostile/pth"
CASES = []

# ------------------------------------------------------------------ pickle assembly

PROTO2 = b"\x80\x02"
STOP = b"."
MARK = b"("


def uni(text):
    data = text.encode("utf-8")
    return b"X" + struct.pack("<I", len(data)) + data


def glob(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def integer(value):
    if -(1 << 31) <= value < (1 << 31):
        return b"J" + struct.pack("<i", value)
    return b"\x8a\x08" + struct.pack("<q", value)  # LONG1, 8 bytes


def tup(*items):
    return MARK + b"".join(items) + b"t"


def pid(fields=None, storage="FloatStorage", key="0", numel=4):
    if fields is None:
        fields = [uni("storage"), glob("torch", storage), uni(key), uni("cpu"), integer(numel)]
    return tup(*fields) + b"Q"


def rebuild(storage_pid=None, offset=0, size=(4,), stride=(1,)):
    args = tup(
        storage_pid if storage_pid is not None else pid(),
        integer(offset),
        tup(*[integer(d) for d in size]),
        tup(*[integer(d) for d in stride]),
        b"\x89",
        glob("collections", "OrderedDict") + b")R",
    )
    return glob("torch._utils", "_rebuild_tensor_v2") + args + b"R"


def state_dict(*pairs):
    return PROTO2 + b"}" + MARK + b"".join(uni(k) + v for k, v in pairs) + b"u" + STOP


VALID = state_dict(("w", rebuild()))
FOUR_FLOATS = struct.pack("<4f", 1.0, 2.0, 3.0, 4.0)

# ------------------------------------------------------------------ archives


def archive(pickle_bytes=VALID, members=None, prefix="archive", byteorder=b"little", deflate=False):
    if members is None:
        members = {"data/0": FOUR_FLOATS}
    buffer = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(buffer, "w", method) as zf:
        zf.writestr(f"{prefix}/data.pkl", pickle_bytes)
        if byteorder is not None:
            zf.writestr(f"{prefix}/byteorder", byteorder)
        for name, data in members.items():
            zf.writestr(f"{prefix}/{name}" if not name.startswith("/") else name[1:], data)
        zf.writestr(f"{prefix}/version", b"3\n")
    return buffer.getvalue()


def case(name, code, fragment, data):
    with open(os.path.join(OUT, name), "wb") as out:
        out.write(data)
    CASES.append((name, code, fragment))


def pickle_case(name, code, fragment, pickle_bytes, **kwargs):
    case(name, code, fragment, archive(pickle_bytes, **kwargs))


# ------------------------------------------------------------------ cases


def globals_and_opcodes():
    pickle_case("47-global-posix-system.pth", "unsupported", "global 'posix.system' is not allowed",
                PROTO2 + glob("posix", "system") + uni("echo pwned") + b"\x85R" + STOP)
    pickle_case("47-global-builtins-eval.pth", "unsupported", "global 'builtins.eval' is not allowed",
                b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93" + uni("1") + b"\x85R" + STOP)
    pickle_case("47-global-torch-load.pth", "unsupported", "global 'torch.load' is not allowed",
                PROTO2 + glob("torch", "load") + STOP)
    pickle_case("47-global-inside-state-dict.pth", "unsupported", "global 'os.system' is not allowed",
                state_dict(("w", rebuild()), ("x", glob("os", "system"))))
    pickle_case("48-opcode-inst.pth", "unsupported", "opcode INST (0x69) is not supported",
                PROTO2 + MARK + b"iposix\nsystem\n" + STOP)
    pickle_case("48-opcode-obj.pth", "unsupported", "opcode OBJ (0x6f) is not supported",
                PROTO2 + MARK + glob("collections", "OrderedDict") + b"o" + STOP)
    pickle_case("48-opcode-ext1.pth", "unsupported", "opcode EXT1 (0x82) is not supported", PROTO2 + b"\x82\x01" + STOP)
    pickle_case("48-opcode-newobj-ex.pth", "unsupported", "opcode NEWOBJ_EX (0x92) is not supported",
                b"\x80\x04" + glob("collections", "OrderedDict") + b")}\x92" + STOP)
    pickle_case("48-opcode-persid-text.pth", "unsupported", "opcode PERSID (0x50) is not supported",
                PROTO2 + b"P0\n" + STOP)


def structure():
    pickle_case("49-setitem-on-list.pth", "parse", "SETITEM (0x73) on a list", PROTO2 + b"]" + uni("k") + integer(1) + b"s" + STOP)
    pickle_case("49-append-on-dict.pth", "parse", "APPEND (0x61) on a dict", PROTO2 + b"}" + integer(1) + b"a" + STOP)
    pickle_case("49-setitems-on-tensor.pth", "parse", "SETITEMS (0x75) on a call",
                PROTO2 + rebuild() + MARK + uni("k") + integer(1) + b"u" + STOP)
    pickle_case("49-duplicate-tensor-name.pth", "parse", "the name 'a.b' appears twice",
                state_dict(("a.b", rebuild()), ("a", b"}" + MARK + uni("b") + rebuild() + b"u")))
    pickle_case("49-tuple-key.pth", "parse", "a dict key under '' is a tuple (names need str or int keys)",
                PROTO2 + b"}" + tup(integer(1)) + rebuild() + b"s" + STOP)
    pickle_case("49-top-level-tensor.pth", "unsupported", "the top-level object is a tensor", PROTO2 + rebuild() + STOP)
    pickle_case("50-stack-underflow.pth", "parse", "REDUCE (0x52) needs 1 stack item(s), found 0 (stack underflow)",
                PROTO2 + b"R" + STOP)
    pickle_case("50-unbalanced-mark.pth", "parse", "STOP with an unclosed MARK", PROTO2 + MARK + b"}" + STOP)
    pickle_case("50-tuple-without-mark.pth", "parse", "TUPLE (0x74) without a MARK", PROTO2 + integer(1) + b"t" + STOP)
    pickle_case("50-empty-stack-at-stop.pth", "parse", "STOP with 0 stack items", PROTO2 + STOP)
    pickle_case("51-binget-unset.pth", "parse", "BINGET (0x68) of memo slot 7, which was never set",
                PROTO2 + b"}q\x06h\x07" + STOP)
    pickle_case("51-long-binget-unset.pth", "parse", "LONG_BINGET (0x6a) of memo slot 4294967294",
                PROTO2 + b"}r" + struct.pack("<I", 2**32 - 1) + b"j" + struct.pack("<I", 2**32 - 2) + STOP)


def expansion_and_depth():
    # Billion laughs: level k is a list holding level k-1 ten times through BINGET.
    laughs = PROTO2 + b"]q\x000"
    for level in range(1, 12):
        laughs += b"]" + MARK + b"".join(b"h" + bytes([level - 1]) for _ in range(10)) + b"eq" + bytes([level]) + b"0"
    laughs += b"}" + MARK + uni("w") + b"h\x0b" + b"u" + STOP
    pickle_case("52-memo-expansion.pth", "limit", "pickle expands to more than", laughs)
    depth = 100_000
    nested = PROTO2 + b"]" * depth + b"a" * (depth - 1) + STOP
    pickle_case("53-nested-lists-100k.pth", "limit", "objects nested deeper than 1000 levels", nested, deflate=True)
    # Dicts made empty first and filled afterwards look shallow while they are built; the walk
    # over the finished structure must still stop at the depth cap.
    count = 1100
    late = PROTO2 + b"".join(b"}r" + struct.pack("<I", idx) + b"0" for idx in range(count))
    for idx in range(count - 1):
        late += b"j" + struct.pack("<I", idx) + uni("k") + b"j" + struct.pack("<I", idx + 1) + b"s0"
    late += b"j" + struct.pack("<I", 0) + STOP
    pickle_case("53-nested-dicts-filled-late.pth", "limit", "objects nested deeper than 1000 levels at 'k.k.k", late,
                deflate=True)
    pickle_case("53-name-over-4096.pth", "limit", "name of 5000 bytes exceeds the cap of 4096",
                state_dict(("x" * 5000, rebuild())))
    marks = PROTO2 + MARK * depth + STOP
    pickle_case("53-open-marks-100k.pth", "limit", "more than 1000 open MARKs", marks, deflate=True)


def strings_and_stop():
    pickle_case("54-binunicode-length-4g.pth", "parse", "BINUNICODE (0x58) length 4294967295 exceeds",
                PROTO2 + b"X" + struct.pack("<I", 2**32 - 1) + b"abc" + STOP)
    pickle_case("54-binunicode8-length-2pow63.pth", "parse", "BINUNICODE8 (0x8d) length 9223372036854775808 exceeds",
                b"\x80\x04\x8d" + struct.pack("<Q", 2**63) + b"abc" + STOP)
    pickle_case("54-invalid-utf8.pth", "parse", "BINUNICODE (0x58) string is not valid UTF-8",
                PROTO2 + b"}" + MARK + b"X\x02\x00\x00\x00\xc0\xaf" + rebuild() + b"u" + STOP)
    pickle_case("55-no-stop.pth", "parse", "no STOP opcode", VALID[:-1])
    pickle_case("55-data-after-stop.pth", "parse", "2 bytes of data after STOP", VALID + b"N.")
    pickle_case("55-proto-6.pth", "unsupported", "pickle protocol 6 is not supported", b"\x80\x06" + VALID[2:])


def storages():
    pickle_case("56-pid-not-storage.pth", "parse", "persistent id is not ('storage'",
                state_dict(("w", rebuild(pid([uni("module"), glob("torch", "FloatStorage"), uni("0"), uni("cpu"), integer(4)])))))
    pickle_case("56-pid-short-tuple.pth", "parse", "persistent id is not ('storage'",
                state_dict(("w", rebuild(pid([uni("storage"), glob("torch", "FloatStorage"), uni("0"), uni("cpu")])))))
    pickle_case("56-pid-not-a-tuple.pth", "parse", "persistent id is not ('storage'",
                state_dict(("w", rebuild(uni("0") + b"Q"))))
    pickle_case("56-storage-arg-not-pid.pth", "parse", "storage argument is a int, expected a persistent id",
                state_dict(("w", rebuild(integer(0)))))
    pickle_case("56-missing-data-file.pth", "parse", "member 'archive/data/0' is missing", VALID, members={})
    pickle_case("56-storage-size-mismatch.pth", "parse", "member holds 12 bytes, but numel 4 of F32 needs 16", VALID,
                members={"data/0": FOUR_FLOATS[:12]})
    pickle_case("56-offset-outside-storage.pth", "parse", "beyond the storage's 16",
                state_dict(("w", rebuild(offset=3))))
    pickle_case("56-stride-outside-storage.pth", "parse", "reaches 20 bytes, beyond the storage's 16",
                state_dict(("w", rebuild(size=(2, 2), stride=(3, 1)))))
    pickle_case("56-negative-stride.pth", "parse", "stride is a int -1, expected a non-negative int",
                state_dict(("w", rebuild(size=(4,), stride=(-1,)))))
    pickle_case("56-storage-two-types.pth", "parse", "storage '0' is named again with another type or size",
                state_dict(("w", rebuild()), ("v", rebuild(pid(storage="IntStorage")))))
    neg_metadata = b"}" + uni("neg") + b"\x88s"
    neg = glob("torch._utils", "_rebuild_tensor_v2") + tup(
        pid(), integer(0), tup(integer(4)), tup(integer(1)), b"\x89", glob("collections", "OrderedDict") + b")R",
        neg_metadata) + b"R"
    pickle_case("56-neg-bit-metadata.pth", "unsupported", "metadata str 'neg' (conjugate/negative view bits) is not supported",
                state_dict(("w", neg)))
    pickle_case("56-quantized-storage.pth", "unsupported", "'torch.QInt8Storage' is a torch type amn does not read",
                state_dict(("w", rebuild(pid(storage="QInt8Storage")))))


def containers():
    # The oldest torch.save wrote a tar; 1.0-1.5 a bare pickle stream starting with a magic number.
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for member in ("sys_info", "pickle", "storages", "tensors"):
            info = tarfile.TarInfo(member)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"\x00"))
    case("57-legacy-tar.pth", "unsupported", "pre-1.6 legacy format (tar archive", tar_buffer.getvalue())
    legacy = PROTO2 + b"\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little") + STOP + VALID
    case("57-legacy-raw-pickle.pth", "unsupported", "pre-1.6 legacy format (bare pickle stream", legacy)
    case("57-torchscript.pth", "unsupported", "a TorchScript archive (torch.jit.save",
         archive(members={"data/0": FOUR_FLOATS, "constants.pkl": PROTO2 + b")" + STOP, "code/__torch__.py": b"x = 1\n"}))
    case("57-two-prefixes.pth", "parse", "two top-level prefixes ('archive' and 'other')",
         archive(members={"data/0": FOUR_FLOATS, "/other/data/0": FOUR_FLOATS}))
    case("57-two-data-pkl.pth", "parse", "two data.pkl members ('archive/data.pkl' and 'other/data.pkl')",
         archive(members={"data/0": FOUR_FLOATS, "/other/data.pkl": VALID}))
    case("57-member-outside-prefix.pth", "parse", "member 'stray' is not inside a top-level folder",
         archive(members={"data/0": FOUR_FLOATS, "/stray": b"x"}))
    case("57-not-an-archive.pth", "parse", "not a PyTorch ZIP archive", b"GARBAGE" * 10)
    case("58-byteorder-unknown.pth", "parse", "archive/byteorder: 'middle' is neither 'little' nor 'big'",
         archive(byteorder=b"middle"))


def views():
    # Case 61: a zero stride repeats a 16-byte storage over 2^40 x 4 floats (16 TiB planned, the
    # bounds check passes: every element read lies in the storage), an expand of a real-sized
    # storage past 1 MiB, and 100 names over one 256 KiB storage (tied weights taken to the extreme).
    pickle_case("61-zero-stride-terabytes.pth", "limit", "a view of 17592186044416 bytes over a storage of 16 bytes",
                state_dict(("w", rebuild(size=(1 << 40, 4), stride=(0, 1)))))
    pickle_case("61-expand-past-storage.pth", "limit", "a view of 2097152 bytes over a storage of 16 bytes",
                state_dict(("w", rebuild(size=(131072, 4), stride=(0, 1)))))
    big = 65536
    shared = rebuild(pid(numel=big), size=(big,), stride=(1,))
    memo = b"q\x01"  # BINPUT 1 after the first rebuild, BINGET 1 for the other 999 names
    pairs = [("w0", shared + memo)] + [(f"w{i}", b"h\x01") for i in range(1, 1000)]
    pickle_case("61-many-names-one-storage.pth", "limit", "its tensors materialise 262144000 bytes from 262144 bytes",
                state_dict(*pairs), members={"data/0": bytes(4 * big)}, deflate=True)


def main():
    os.makedirs(OUT, exist_ok=True)
    for stale in os.listdir(OUT):
        os.remove(os.path.join(OUT, stale))
    globals_and_opcodes()
    structure()
    expansion_and_depth()
    strings_and_stop()
    storages()
    containers()
    views()
    with open(os.path.join(OUT, "expect.tsv"), "w") as out:
        out.write("# file\tcode\tmessage fragment (cases 47-58 and 61 of shared/docs/hostile-inputs.md)\n")
        for name, code, fragment in CASES:
            out.write(f"{name}\t{code}\t{fragment}\n")


if __name__ == "__main__":
    main()
