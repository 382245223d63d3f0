#!/usr/bin/env python3
"""Writes test/hostile/npz/: malformed NPY files and NPZ (ZIP) archives for
shared/docs/hostile-inputs.md cases 31-46, and expect.tsv (file, error code, message fragment)
that test/unit/test_hostile.cpp checks.

NPY files are a valid (2,) float32 array with one thing broken; archives are built field by field
(PKWARE APPNOTE layouts) from one or two valid members so each breaks exactly one rule.
Accept cases (35 big-endian, 39 fortran/0-d/empty) are unit tests (test/unit/test_npy.cpp).
Run from the repo root: python3 test/hostile/gen_npz.py
"""
import os
import struct
import zlib

OUT = "test/hostile/npz"
CASES = []


def case(name, code, fragment, data):
    with open(os.path.join(OUT, name), "wb") as out:
        out.write(data)
    CASES.append((name, code, fragment))


# ---------------------------------------------------------------- NPY

def npy(header=None, descr="'<f4'", fortran="False", shape="(2,)", data=b"\0" * 8, version=(1, 0), header_len=None):
    if header is None:
        header = "{'descr': %s, 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)
    text = header.encode("latin1")
    prefix_len = 10 if version[0] == 1 else 12
    text += b" " * ((-(prefix_len + len(text) + 1)) % 64) + b"\n"
    length = len(text) if header_len is None else header_len
    size_field = struct.pack("<H", length) if version[0] == 1 else struct.pack("<I", length)
    return b"\x93NUMPY" + bytes(version) + size_field + text + data


def npy_cases():
    case("31-bad-magic.npy", "parse", "magic: not", b"\x93NUMPX" + npy()[6:])
    case("31-version-4.npy", "unsupported", "version: 4.0", npy(version=(4, 0)))
    case("31-version-1-1.npy", "unsupported", "version: 1.1", npy(version=(1, 1)))
    case("31-short.npy", "parse", "magic: shorter than", b"\x93NUMPY\x01")
    case("32-header-len-4gib.npy", "limit", "header length: 4294967295 bytes exceeds the cap", npy(version=(2, 0), header_len=0xFFFFFFFF))
    case("32-header-len-beyond-file.npy", "parse", "header length: 65535 bytes but only", npy(header_len=0xFFFF))
    case("33-not-dict.npy", "parse", "header: not a dict", npy(header="[1, 2]"))
    case("33-missing-shape.npy", "parse", "missing key 'shape'", npy(header="{'descr': '<f4', 'fortran_order': False}"))
    case("33-extra-key.npy", "parse", "unexpected key 'extra'",
         npy(header="{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}"))
    case("33-duplicate-key.npy", "parse", "duplicate key 'descr'",
         npy(header="{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}"))
    case("33-negative-dim.npy", "parse", "shape: negative dimension", npy(shape="(-2,)"))
    case("33-float-dim.npy", "parse", "shape: expected ',' or ')'", npy(shape="(2.5,)"))
    case("33-shape-list.npy", "parse", "shape: not a tuple", npy(shape="[2]"))
    case("33-fortran-not-bool.npy", "parse", "fortran_order: not True or False", npy(fortran="0"))
    case("33-descr-not-string.npy", "parse", "descr: not a string", npy(descr="4"))
    case("34-object.npy", "unsupported", "object arrays need pickle", npy(descr="'|O'"))
    case("34-structured-object.npy", "unsupported", "descr: structured dtypes are not supported",
         npy(descr="[('a', '<f4'), ('b', '|O')]"))
    case("35-v0.npy", "parse", "zero-sized element type", npy(descr="'|V0'"))
    case("35-u0.npy", "parse", "zero-sized element type", npy(descr="'<U0'"))
    case("36-shape-overflow.npy", "parse", "shape: element count or byte size overflows", npy(shape="(4294967296, 4294967296, 16)"))
    case("36-bytes-overflow.npy", "parse", "shape: element count or byte size overflows", npy(descr="'<f8'", shape="(4611686018427387904,)"))
    case("37-data-short.npy", "parse", "shape: declares 800 data bytes but only 8", npy(descr="'<f8'", shape="(100,)"))


# ---------------------------------------------------------------- ZIP

def raw_deflate(data):
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def member(name, content=None, method=0, **fields):
    """A member as a dict of header fields; 'local' / 'central' hold per-header overrides."""
    if content is None:
        content = npy()
    name = name.encode() if isinstance(name, str) else name
    data = fields.pop("data", content if method == 0 else raw_deflate(content))
    entry = dict(name=name, data=data, method=method, flags=0, crc=zlib.crc32(content), csize=len(data),
                 usize=len(content), extra=b"", local={}, central={}, at=None)
    entry.update(fields)
    return entry


def local_header(entry):
    f = dict(entry, **entry["local"])
    return struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, f["flags"], f["method"], 0, 0, f["crc"], f["csize"],
                       f["usize"], len(f["name"]), len(f["extra"])) + f["name"] + f["extra"]


def central_entry(entry, offset):
    f = dict(entry, offset=offset, **entry["central"])
    return struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, f["flags"], f["method"], 0, 0, f["crc"],
                       f["csize"], f["usize"], len(f["name"]), len(f["extra"]), 0, 0, 0, 0,
                       f["offset"]) + f["name"] + f["extra"]


def archive(entries, comment=b"", end=None, zip64=None, tail=b""):
    """Local headers + data, central directory, optional ZIP64 end record + locator, end record.
    An entry with 'at' set is not written; its directory entry points at that offset."""
    body = bytearray()
    offsets = []
    for entry in entries:
        if entry["at"] is not None:
            offsets.append(entry["at"])
            continue
        offsets.append(len(body))
        body += local_header(entry) + entry["data"]
    directory = b"".join(central_entry(entry, offset) for entry, offset in zip(entries, offsets))
    directory_offset = len(body)
    body += directory
    fields = dict(entries_disk=len(entries), entries=len(entries), size=len(directory), offset=directory_offset,
                  comment_len=len(comment))
    if zip64 is not None:
        record_offset = len(body)
        z = dict(entries=len(entries), size=len(directory), offset=directory_offset)
        z.update(zip64)
        body += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, z["entries"], z["entries"], z["size"], z["offset"])
        body += struct.pack("<IIQI", 0x07064B50, 0, record_offset, 1)
    fields.update(end or {})
    body += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, fields["entries_disk"], fields["entries"], fields["size"],
                        fields["offset"], fields["comment_len"])
    return bytes(body) + comment + tail


def zip_cases():
    good = archive([member("a.npy"), member("b.npy")])

    short_member = npy(descr="'<f8'", shape="(100,)")
    case("37-member-short.npz", "parse", "member 'a.npy': shape: declares 800 data bytes", archive([member("a.npy", short_member)]))
    case("34-object-in-npz.npz", "unsupported", "member 'obj.npy': descr '|O'", archive([member("obj.npy", npy(descr="'|O'"))]))

    zeros = npy(descr="'<f4'", shape="(1048576,)", data=b"\0" * 4 * 1048576)
    bomb = member("a.npy", zeros, method=8)
    assert bomb["usize"] > 1000 * bomb["csize"], "the deflated member must exceed the 1000x ratio cap"
    case("38-ratio.npz", "limit", "member 'a.npy': compression ratio", archive([bomb]))
    case("38-inflated-short.npz", "parse", "member 'a.npy': inflated data ends before its declared uncompressed size",
         archive([member("a.npy", npy()[:20], method=8, usize=200)]))
    case("38-bad-deflate.npz", "parse", "member 'a.npy': invalid DEFLATE data",
         archive([member("a.npy", npy(), method=8, data=b"\xff" * 40)]))

    case("40-no-eocd.npz", "parse", "end of central directory: not found", good[:-22])
    case("40-eocd-comment-length.npz", "parse", "end of central directory: not found", archive([member("a.npy")], end={"comment_len": 5}))
    # A complete fake end record (pointing at a fake directory of zero entries) inside the real comment.
    real = archive([member("a.npy")], comment=b"")
    comment_len = 8 + 22
    fake = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0, 0, 0, len(real) + 8, 0)
    comment = b"comment:" + fake
    case("40-fake-eocd-in-comment.npz", "parse", "lies inside the archive comment",
         real[:-2] + struct.pack("<H", comment_len) + comment)

    one = member("a.npy")
    case("41-cd-outside.npz", "parse", "central directory: offset", archive([one], end={"offset": 1 << 30}))
    case("41-count-too-large.npz", "parse", "entries cannot fit in", archive([member("a.npy")], end={"entries": 1000, "entries_disk": 1000}))
    case("41-count-zip64-huge.npz", "limit", "exceed the item cap",
         archive([member("a.npy")], end={"entries": 0xFFFF, "entries_disk": 0xFFFF}, zip64={"entries": 1 << 40}))

    case("42-sentinel-no-zip64.npz", "parse", "without a zip64 extra field",
         archive([member("a.npy", central={"csize": 0xFFFFFFFF, "usize": 0xFFFFFFFF})]))
    case("42-zip64-extra-short.npz", "parse", "zip64 uncompressed size: truncated",
         archive([member("a.npy", central={"usize": 0xFFFFFFFF, "extra": struct.pack("<HH", 1, 0)})]))
    case("42-eocd-sentinel-no-zip64.npz", "parse", "without a zip64 end record", archive([member("a.npy")], end={"offset": 0xFFFFFFFF}))
    case("42-zip64-inconsistent.npz", "parse", "zip64 end record: entry count, directory size or offset disagrees",
         archive([member("a.npy")], zip64={"entries": 2}))

    # The overlapping construction: member b's local header and data lie inside member a's data.
    inner = member("b.npy")
    outer = member("a.npy", local_header(inner) + inner["data"])
    inner["at"] = 30 + len(outer["name"])
    case("43-overlap.npz", "parse", "overlaps member", archive([outer, inner]))

    case("44-local-name.npz", "parse", "differs from the central directory",
         archive([member("a.npy", local={"name": b"b.npy"})]))
    case("44-local-method.npz", "parse", "method 8 differs from the central directory's 0",
         archive([member("a.npy", local={"method": 8})]))
    case("44-local-size.npz", "parse", "crc-32 or sizes differ from the central directory",
         archive([member("a.npy", local={"usize": 7, "csize": 7})]))
    case("44-local-signature.npz", "parse", "local header: bad signature",
         archive([member("a.npy", at=4), member("b.npy")]))

    case("45-encrypted.npz", "unsupported", "encrypted members are not supported", archive([member("a.npy", flags=1)]))
    # Found by test/fuzz/differential.py against torch.load (miniz refuses bit 13 as encryption).
    case("45-masked-local-header.npz", "unsupported", "encrypted members are not supported",
         archive([member("a.npy", central={"flags": 0x2000})]))
    case("45-bzip2.npz", "unsupported", "compression method 12 (bzip2)", archive([member("a.npy", method=12, data=npy())]))
    case("45-lzma.npz", "unsupported", "compression method 14 (lzma)", archive([member("a.npy", method=14, data=npy())]))

    case("46-dotdot.npz", "parse", "has a '..' component", archive([member("../evil.npy")]))
    case("46-absolute.npz", "parse", "is an absolute path", archive([member("/etc/evil.npy")]))
    case("46-backslash.npz", "parse", "contains a backslash", archive([member("dir\\evil.npy")]))
    case("46-nul.npz", "parse", "contains NUL", archive([member(b"a\0.npy")]))
    case("46-long-name.npz", "limit", "member name: 5000 bytes exceeds the cap", archive([member("n" * 4996 + ".npy")]))
    case("46-duplicate.npz", "parse", "duplicate member name", archive([member("a.npy"), member("a.npy")]))


def main():
    os.makedirs(OUT, exist_ok=True)
    npy_cases()
    zip_cases()
    with open(os.path.join(OUT, "expect.tsv"), "w") as out:
        out.write("# file\tcode\tmessage fragment (cases 31-46 of shared/docs/hostile-inputs.md)\n")
        for name, code, fragment in CASES:
            out.write(f"{name}\t{code}\t{fragment}\n")


if __name__ == "__main__":
    main()
