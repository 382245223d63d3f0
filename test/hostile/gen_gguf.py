#!/usr/bin/env python3
"""Writes test/hostile/gguf/: malformed GGUF files for shared/docs/hostile-inputs.md cases 14-29,
and expect.tsv (file, error code, message fragment) that test/unit/test_hostile.cpp checks.

Files are built byte by byte from a small valid base (two KV pairs, two F32 tensors) so each one
breaks exactly one rule. Run from the repo root: python3 test/hostile/gen_gguf.py
"""
import os
import struct

OUT = "test/hostile/gguf"
ALIGN = 32
# GGUF value type ids
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
GGML_F32, GGML_Q8_0, GGML_I8 = 0, 8, 24


def u32(value):
    return struct.pack("<I", value)


def u64(value):
    return struct.pack("<Q", value)


def i64(value):
    return struct.pack("<q", value)


def gstr(text):
    data = text.encode() if isinstance(text, str) else text
    return u64(len(data)) + data


def kv(key, vtype, payload):
    return gstr(key) + u32(vtype) + payload


def kv_string(key, text):
    return kv(key, STRING, gstr(text))


def kv_u32_array(key, values):
    return kv(key, ARRAY, u32(U32) + u64(len(values)) + b"".join(u32(v) for v in values))


def tensor_info(name, ne, ggml_type, offset):
    return gstr(name) + u32(len(ne)) + b"".join(i64(d) for d in ne) + u32(ggml_type) + u64(offset)


def gguf(kvs, infos, data=b"", version=3, n_tensors=None, n_kv=None, align=ALIGN):
    head = b"GGUF" + u32(version)
    head += u64(len(infos) if n_tensors is None else n_tensors)
    head += u64(len(kvs) if n_kv is None else n_kv)
    head += b"".join(kvs) + b"".join(infos)
    head += b"\0" * (-len(head) % align)
    return head + data


BASE_KVS = [kv_string("general.architecture", "llama"), kv_u32_array("test.array", [1, 2, 3])]
BASE_INFOS = [tensor_info("w", [8, 2], GGML_F32, 0), tensor_info("b", [8], GGML_F32, 64)]
BASE_DATA = b"\1" * 64 + b"\2" * 32


def base(**overrides):
    args = {"kvs": BASE_KVS, "infos": BASE_INFOS, "data": BASE_DATA}
    args.update(overrides)
    return gguf(**args)


def with_kv(extra_kv):
    return base(kvs=BASE_KVS + [extra_kv])


def with_infos(infos, data=BASE_DATA):
    return base(infos=infos, data=data)


def offset_of(blob, needle):
    pos = blob.find(needle)
    assert pos >= 0, needle
    return pos


def cases():
    good = base()
    key1 = offset_of(good, gstr("test.array"))
    info_b = offset_of(good, gstr("b") + u32(1))
    header_end = info_b + len(BASE_INFOS[1])
    data_start = header_end + (-header_end % ALIGN)
    yield "14-trunc-magic.gguf", good[:2], "parse", "magic: truncated"
    yield "14-trunc-version.gguf", good[:6], "parse", "version: truncated"
    yield "14-trunc-n-tensors.gguf", good[:12], "parse", "n_tensors: truncated"
    no_tensors = gguf([kv("test.v", U64, u64(7))], [])
    yield "14-trunc-n-kv.gguf", no_tensors[:20], "parse", "n_kv: truncated"
    yield "14-trunc-mid-key.gguf", good[:key1 + 12], "parse", "key 1: string length 10 exceeds the 4 bytes remaining"
    yield "14-trunc-mid-value.gguf", no_tensors[:46], "parse", "metadata 'test.v': truncated"
    yield "14-trunc-mid-tensor-info.gguf", good[:info_b + 17], "parse", "tensor 'b' dims: truncated"
    yield "14-trunc-padding.gguf", good[:header_end + 1], "parse", "padding: the data section would start at"
    yield "14-trunc-data.gguf", good[:data_start + 80], "parse", "tensor 'b': data ends at 96 but the data section holds 80"

    yield "15-version-0.gguf", base(version=0), "parse", "version: 0 is not a GGUF version"
    yield "15-version-1.gguf", base(version=1), "unsupported", "GGUF v1 is not supported"
    yield "15-version-4.gguf", base(version=4), "unsupported", "GGUF v4 is not supported"
    yield "15-version-byteswapped.gguf", base(version=0x03000000), "unsupported", "big-endian"

    yield "16-n-tensors-minus-1.gguf", base(n_tensors=2**64 - 1), "parse", "n_tensors: 18446744073709551615 records cannot fit"
    yield "16-n-kv-int64-max.gguf", base(n_kv=2**63 - 1), "parse", "n_kv: 9223372036854775807 records cannot fit"
    yield "16-n-kv-2pow32.gguf", base(n_kv=2**32), "parse", "n_kv: 4294967296 records cannot fit"

    yield "17-key-length-max.gguf", base(kvs=[u64(2**64 - 1) + b"x" * 40] + BASE_KVS), "parse", \
        "key 0: string length 18446744073709551615 exceeds"
    yield "17-value-length-past-end.gguf", with_kv(kv("test.s", STRING, u64(5000) + b"abc")), "parse", \
        "metadata 'test.s': string length 5000 exceeds"

    yield "18-empty-key.gguf", with_kv(kv_string("", "x")), "parse", "key 2: empty key"
    yield "18-duplicate-key.gguf", with_kv(kv_string("general.architecture", "gpt2")), "parse", \
        "key 'general.architecture': duplicate key"

    yield "19-value-type-13.gguf", with_kv(kv("test.t", 13, u32(0))), "parse", "metadata 'test.t' type: 13 is not a GGUF value type"
    yield "19-array-of-arrays.gguf", with_kv(kv("test.nested", ARRAY, u32(ARRAY) + u64(1) + u32(U8) + u64(1) + b"\0")), \
        "unsupported", "metadata 'test.nested': arrays of arrays are not supported"
    yield "19-bad-element-type.gguf", with_kv(kv("test.bad", ARRAY, u32(99) + u64(1) + b"\0" * 8)), "parse", \
        "metadata 'test.bad' element type: 99 is not a GGUF value type"

    yield "20-array-bytes-overflow.gguf", with_kv(kv("test.big", ARRAY, u32(U64) + u64(2**62) + b"\0" * 16)), "parse", \
        "metadata 'test.big': 4611686018427387904 UINT64 elements cannot fit"
    yield "20-array-past-end.gguf", with_kv(kv("test.long", ARRAY, u32(U32) + u64(1000) + b"\0" * 16)), "parse", \
        "metadata 'test.long': 1000 UINT32 elements cannot fit"
    yield "20-string-array-count.gguf", with_kv(kv("test.strs", ARRAY, u32(STRING) + u64(2**63) + gstr("a"))), "parse", \
        "metadata 'test.strs': 9223372036854775808 STRING elements cannot fit"

    yield "21-alignment-u64.gguf", with_kv(kv("general.alignment", U64, u64(32))), "parse", \
        "general.alignment: must be UINT32, found UINT64"
    yield "21-alignment-0.gguf", with_kv(kv("general.alignment", U32, u32(0))), "parse", \
        "general.alignment: 0 is not a nonzero power of two"
    yield "21-alignment-48.gguf", with_kv(kv("general.alignment", U32, u32(48))), "parse", \
        "general.alignment: 48 is not a nonzero power of two"
    yield "21-alignment-2pow31.gguf", with_kv(kv("general.alignment", U32, u32(2**31))), "limit", \
        "general.alignment: 2147483648 is above the cap"

    yield "22-name-64-bytes.gguf", with_infos([tensor_info("n" * 64, [8, 2], GGML_F32, 0), BASE_INFOS[1]]), "parse", \
        "tensor 0 name: 64 bytes; ggml allows at most 63"
    yield "22-duplicate-name.gguf", with_infos([BASE_INFOS[0], tensor_info("w", [8], GGML_F32, 64)]), "parse", \
        "tensor 'w': duplicate tensor name"

    for n_dims in (5, 255, 2**32 - 1):
        info = gstr("w") + u32(n_dims) + i64(8) * 4
        yield f"23-n-dims-{n_dims}.gguf", with_infos([info, BASE_INFOS[1]]), "parse", f"tensor 'w': n_dims {n_dims} is above"

    yield "24-negative-dim.gguf", with_infos([tensor_info("w", [8, -2], GGML_F32, 0), BASE_INFOS[1]]), "parse", \
        "tensor 'w': dimension 1 is negative"
    yield "24-huge-dims.gguf", with_infos([tensor_info("w", [1152, 2**42 + 1], GGML_F32, 0)]), "parse", \
        "tensor 'w': data ends at"
    yield "24-product-overflow.gguf", with_infos([tensor_info("w", [2**32, 2**32, 16], GGML_F32, 0)]), "parse", \
        "tensor 'w': element count overflows"

    yield "25-unknown-type.gguf", with_infos([tensor_info("w", [8, 2], 43, 0), BASE_INFOS[1]]), "unsupported", \
        "tensor 'w': ggml type id 43 is unknown or was removed"
    yield "25-removed-type-q4-2.gguf", with_infos([tensor_info("w", [8, 2], 4, 0), BASE_INFOS[1]]), "unsupported", \
        "tensor 'w': ggml type id 4 is unknown or was removed"
    yield "25-row-not-block-multiple.gguf", with_infos([tensor_info("w", [33, 2], GGML_Q8_0, 0)]), "parse", \
        "tensor 'w': 33 elements per row is not a multiple of the Q8_0 block size 32"

    yield "26-misaligned-offset.gguf", with_infos([BASE_INFOS[0], tensor_info("b", [8], GGML_F32, 65)]), "parse", \
        "tensor 'b': data offset 65, expected 64"
    yield "26-overlapping-offset.gguf", with_infos([BASE_INFOS[0], tensor_info("b", [8], GGML_F32, 0)]), "parse", \
        "tensor 'b': data offset 0, expected 64"
    yield "26-out-of-order.gguf", with_infos([tensor_info("w", [8, 2], GGML_F32, 32), tensor_info("b", [8], GGML_F32, 0)]), \
        "parse", "tensor 'w': data offset 32, expected 0"

    yield "27-data-short.gguf", base(data=BASE_DATA[:40]), "parse", "tensor 'w': data ends at 64 but the data section holds 40"

    # Eight I8 tensors of 2^61 - 1 bytes, each padded to 2^61: the running offset reaches 2^64.
    huge = [tensor_info(f"t{idx}", [2**61 - 1], GGML_I8, idx * 2**61) for idx in range(8)]
    yield "28-padded-sum-overflow.gguf", with_infos(huge, data=b""), "parse", "tensor 't7': padded data size overflows"

    yield "29-alignment-as-array.gguf", with_kv(kv_u32_array("general.alignment", [32])), "parse", \
        "general.alignment: must be UINT32, found ARRAY"
    yield "29-split-count-as-u32.gguf", base(kvs=BASE_KVS + [kv("split.no", U16, struct.pack("<H", 0)),
                                                           kv("split.count", U32, u32(1))]), "parse", \
        "split.count: must be UINT16"
    yield "29-u32-array-read-as-strings.gguf", with_kv(kv("test.strs", ARRAY, u32(STRING) + u64(3) + u32(1) + u32(2) + u32(3))), \
        "parse", "metadata 'test.strs': string length 8589934593 exceeds"


def split_cases():
    """Split sets (llama.cpp gguf-split keys); the error names the first file."""
    def part(number, count, tensors_count, tensor_name):
        kvs = [kv("split.no", U16, struct.pack("<H", number)), kv("split.count", U16, struct.pack("<H", count)),
               kv("split.tensors.count", I32, struct.pack("<i", tensors_count))]
        return gguf(kvs, [tensor_info(tensor_name, [8], GGML_F32, 0)], b"\0" * 32)

    yield "split-no-wrong-00001-of-00002.gguf", part(1, 2, 2, "a"), "parse", "split.no: 1, but this is file 1 of the set"
    yield "split-no-wrong-00002-of-00002.gguf", part(0, 2, 2, "b"), None, None
    yield "split-total-wrong-00001-of-00002.gguf", part(0, 2, 3, "a"), "parse", "split.tensors.count: 3, but the split set holds 2"
    yield "split-total-wrong-00002-of-00002.gguf", part(1, 2, 3, "b"), None, None
    yield "split-count-wrong-00001-of-00002.gguf", part(0, 3, 2, "a"), "parse", "split.count: 3, but the split set has 2 files"
    yield "split-count-wrong-00002-of-00002.gguf", part(1, 3, 2, "b"), None, None
    yield "split-no-past-count.gguf", part(2, 2, 1, "a"), "parse", "split.no: 2 is not below split.count 2"


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    lines = ["# file\tcode\tmessage fragment (cases 14-29 of shared/docs/hostile-inputs.md; split sets)"]
    for name, blob, code, fragment in list(cases()) + list(split_cases()):
        with open(os.path.join(OUT, name), "wb") as handle:
            handle.write(blob)
        if code is not None:
            lines.append(f"{name}\t{code}\t{fragment}")
    with open(os.path.join(OUT, "expect.tsv"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
