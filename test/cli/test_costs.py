"""Hidden costs and amplification (shared/docs/hostile-inputs.md cases 61 and 64): views that
would write more than their storage holds, the output's free space, strided copies of any rank,
metadata copies bounded by --max-total, and DEFLATE members that lie about their size.
The committed refusals (test/hostile/pth/61-*) run through test_hostile_cli.py; these build
their inputs at test time (numpy, the hostile generators' helpers) and check what happens."""
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest

from conftest import AMN, ROOT, SANITIZED, run, st_load

sys.path.insert(0, str(ROOT / "test" / "hostile"))
import gen_npz  # noqa: E402  (the hostile generators' archive builders)
import gen_pth  # noqa: E402

MiB = 1 << 20


def peak_of(*args):
    """(result, peak RSS in bytes) of `amn args`, measured by a fresh Python parent so that the
    children's maximum is this run's alone."""
    probe = ("import resource, subprocess, sys\n"
             "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
             "sys.stdout.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024) + '\\n' + str(p.returncode) + '\\n' + p.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", probe, AMN, *map(str, args)], capture_output=True, text=True, timeout=300)
    peak, code, err = proc.stdout.split("\n", 2)
    return int(code), err, int(peak)


# ------------------------------------------------------------------ views (case 61)

def test_tiny_expansion_is_read_like_numpy_broadcast(tmp_path):
    """An expand within 1 MiB (as HF's position_ids) is accepted and repeats its storage."""
    src = tmp_path / "expand.pth"
    state = gen_pth.state_dict(("w", gen_pth.rebuild(size=(3, 2, 4), stride=(0, 0, 1))))
    src.write_bytes(gen_pth.archive(state))
    out = tmp_path / "out.safetensors"
    run("convert", src, "-o", out, check=0)
    expected = np.broadcast_to(np.frombuffer(gen_pth.FOUR_FLOATS, "<f4"), (3, 2, 4))
    assert st_load(out)["w"].data == expected.tobytes()


def test_tied_names_within_the_factor_are_accepted(tmp_path):
    src = tmp_path / "tied.pth"
    state = gen_pth.state_dict(*[(f"w{i}", gen_pth.rebuild()) for i in range(8)])
    src.write_bytes(gen_pth.archive(state))
    proc = run("inspect", src, check=0)
    assert "F32 ×8" in proc.stdout


@pytest.mark.parametrize("name", ["61-zero-stride-terabytes.pth", "61-expand-past-storage.pth",
                                  "61-many-names-one-storage.pth"])
def test_amplifying_views_refused_before_anything_is_written(tmp_path, name):
    out = tmp_path / "out.safetensors"
    for args in (["inspect"], ["remember", "-o", out]):
        proc = run(args[0], ROOT / "test" / "hostile" / "pth" / name, *args[1:])
        assert proc.returncode == 1 and name in proc.stderr and ("a view of" in proc.stderr or "materialise" in proc.stderr)
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------ free space (case 61)

@pytest.fixture
def small_tmpfs(tmp_path):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small tmpfs")
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)]).returncode != 0:
        pytest.skip("cannot mount tmpfs here")
    yield mount
    subprocess.run(["umount", str(mount)])


def test_output_larger_than_free_space_refused_up_front(tmp_path, small_tmpfs):
    src = tmp_path / "big.npy"
    np.save(src, np.zeros((3, MiB // 4), np.float32))  # 3 MiB of data into a 1 MiB filesystem
    out = small_tmpfs / "out.safetensors"
    proc = run("convert", src, "-o", out)
    assert proc.returncode == 1
    assert "the output needs" in proc.stderr and "bytes free" in proc.stderr and "No space left" in proc.stderr
    assert os.listdir(small_tmpfs) == []


# ------------------------------------------------------------------ strided copies (case 64)

@pytest.mark.parametrize("shape", [(1,) * 12 + (3, 1, 5, 1), (2,) * 16, (1, 7, 1, 1, 3, 1, 1, 2), (4, 1, 1, 1, 1, 1, 1, 9)])
def test_fortran_order_of_any_rank_equals_numpy(tmp_path, shape):
    values = np.arange(np.prod(shape), dtype="<i2").reshape(shape)
    src = tmp_path / "f.npy"
    np.save(src, np.asfortranarray(values))
    assert np.load(src).flags.f_contiguous
    out = tmp_path / "out.safetensors"
    run("convert", src, "-o", out, check=0)
    assert st_load(out)["f"].data == np.ascontiguousarray(np.load(src)).tobytes()


def test_strided_pth_views_equal_numpy_as_strided(tmp_path):
    """Views with zero, skipping and transposed strides at ranks 1-6 read as numpy's as_strided."""
    storage = np.arange(64, dtype="<f4")
    cases = {"t": ((4, 4), (1, 4)), "skip": ((3, 5), (16, 3)), "rank6": ((2, 1, 2, 1, 2, 2), (1, 7, 8, 9, 2, 16)),
             "zero_inner": ((5, 3), (4, 0)), "one": ((7,), (9,))}
    pairs = [(name, gen_pth.rebuild(gen_pth.pid(numel=64), size=size, stride=stride)) for name, (size, stride) in cases.items()]
    src = tmp_path / "views.pth"
    src.write_bytes(gen_pth.archive(gen_pth.state_dict(*pairs), members={"data/0": storage.tobytes()}))
    out = tmp_path / "out.safetensors"
    run("convert", src, "-o", out, check=0)
    got = st_load(out)
    for name, (size, stride) in cases.items():
        view = np.lib.stride_tricks.as_strided(storage, size, [s * 4 for s in stride])
        assert got[name].data == np.ascontiguousarray(view).tobytes(), name


# ------------------------------------------------------------------ metadata copies (case 64)

def gguf_with_array(path, elements):
    """A GGUF v3 with one u8 array of `elements` values and one 4-float tensor."""
    def text(value):
        data = value.encode()
        return struct.pack("<Q", len(data)) + data
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, 1, 2))
    out += text("general.architecture") + struct.pack("<I", 8) + text("llama")
    out += text("big.array") + struct.pack("<IIQ", 9, 0, elements) + bytes(elements)
    out += text("w") + struct.pack("<IQIQ", 1, 4, 0, 0)
    out += bytes((-len(out)) % 32) + struct.pack("<4f", 1, 2, 3, 4)
    path.write_bytes(out)


@pytest.mark.skipif(SANITIZED, reason="ASan's shadow memory inflates RSS")
@pytest.mark.parametrize("command", [["inspect"], ["convert", "--to", "gguf", "-o", "OUT.gguf"],
                                     ["convert", "-o", "OUT.safetensors"]])
def test_metadata_copies_stay_within_max_total(tmp_path, command):
    """4 million one-byte array values are charged at one MetaValue each (~190 MB): under
    --max-total 256M the whole run (open, plan, writer) peaks below that cap plus 32 MiB."""
    src = tmp_path / "array.gguf"
    gguf_with_array(src, 4_000_000)
    args = [str(tmp_path / a[4:]) if a.startswith("OUT.") else a for a in command]
    code, err, peak = peak_of(*args[:1], src, *args[1:], "--max-total", "256M")
    assert code == 0, err
    assert peak < 256 * MiB + 32 * MiB, f"peak RSS {peak / MiB:.0f} MiB"


# ------------------------------------------------------------------ DEFLATE sizes (case 64)

@pytest.mark.skipif(SANITIZED, reason="ASan's shadow memory inflates RSS")
def test_deflate_member_lying_about_its_size_costs_what_it_inflates_to(tmp_path):
    """A member declaring 512 MiB (within the 1000x ratio of its 600 KB of deflated data) that
    inflates to 600 KB: refused, and memory grows with the bytes that arrive, not the declared size."""
    declared = 512 * MiB
    payload = np.random.default_rng(7).integers(0, 256, 600_000, dtype=np.uint8).tobytes()
    header = gen_npz.npy(descr="'|u1'", shape=f"({declared - 128},)", data=b"")
    assert len(header) == 128
    content = header + payload
    entry = gen_npz.member("a.npy", content, method=8, usize=declared)
    assert declared // 1000 < entry["csize"]
    src = tmp_path / "lie.npz"
    src.write_bytes(gen_npz.archive([entry]))
    out = tmp_path / "out.safetensors"
    code, err, peak = peak_of("convert", src, "-o", out)
    assert code == 1 and "inflated data ends before its declared uncompressed size" in err and str(src) in err
    assert not out.exists()
    assert peak < 64 * MiB, f"peak RSS {peak / MiB:.0f} MiB"


def test_deflate_member_longer_than_declared_is_refused(tmp_path):
    """A member that inflates past its declared size (the stream goes on after the last declared
    byte): refused when read, nothing written. Found by fuzz_npz under ASan (the one-byte probe
    for bytes past the end was used after its scope)."""
    content = gen_npz.npy()
    src = tmp_path / "long.npz"
    src.write_bytes(gen_npz.archive([gen_npz.member("a.npy", content + b"\0" * 64, method=8, usize=len(content))]))
    out = tmp_path / "out.safetensors"
    proc = run("convert", src, "--dtype", "f32", "-o", out, check=1)
    assert f"{src}: " in proc.stderr and "inflates to more than its declared uncompressed size" in proc.stderr
    assert not out.exists()
