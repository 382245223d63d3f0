"""Shell pipelines: `-` as INPUT reads standard input front to back (safetensors, GGUF, NPY) and
`-o -` writes the output to standard output. Every result is compared byte for byte with the
file-to-file run of the same command; the pipes deliver data slowly, in small uneven chunks, in
both directions."""
import json
import os
import random
import shutil
import struct
import subprocess
import threading
import time

import gguf
import numpy as np
import pytest

from conftest import AMN, FIXTURES, ROOT, SANITIZED, run

SAMPLE = ROOT / "samples" / "tiny-llama.gguf"
MiB = 1 << 20


def piped(args, data, slow=True, seed=0, cwd=None):
    """Runs amn with `data` (bytes, or an iterable of bytes) written to its stdin in uneven
    chunks of 1..4096 bytes (with pauses when `slow`) and its stdout read in small chunks.
    Returns (returncode, stdout bytes, stderr text, peak VmHWM bytes seen)."""
    proc = subprocess.Popen([AMN, *map(str, args)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=cwd)
    rng = random.Random(seed)
    out, err, peak = [], [], [0]

    def feed():
        try:
            pieces = [data] if isinstance(data, (bytes, bytearray)) else data
            for piece in pieces:
                view = memoryview(piece)
                while len(view):
                    size = rng.randint(1, 4096) if slow else len(view)
                    proc.stdin.write(view[:size])
                    proc.stdin.flush()
                    view = view[size:]
                    if slow and rng.random() < 0.01:
                        time.sleep(0.001)
        except BrokenPipeError:
            pass
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass

    def drain():
        fd = proc.stdout.fileno()
        while True:
            chunk = os.read(fd, rng.randint(512, 8192) if slow else MiB)
            if not chunk:
                return
            out.append(chunk)

    def watch():
        while proc.poll() is None:
            try:
                with open(f"/proc/{proc.pid}/status") as status:
                    for line in status:
                        if line.startswith("VmHWM:"):
                            peak[0] = max(peak[0], int(line.split()[1]) * 1024)
            except (FileNotFoundError, ProcessLookupError, ValueError):
                return
            time.sleep(0.02)

    threads = [threading.Thread(target=fn) for fn in (feed, drain, watch)]
    threads.append(threading.Thread(target=lambda: err.append(proc.stderr.read())))
    for thread in threads:
        thread.start()
    proc.wait(timeout=300)
    for thread in threads:
        thread.join()
    return proc.returncode, b"".join(out), err[0].decode(), peak[0]


def file_result(tmp_path, source, args, suffix):
    """The file-to-file output of `amn <args> source -o OUT`."""
    out = tmp_path / ("ref" + suffix)
    run(args[0], source, *args[1:], "-o", out, "-q", check=0)
    return out.read_bytes()


def assert_same_through_pipes(tmp_path, source, args, suffix=".safetensors", name_as=None):
    """`cat source | amn <args> - -o -` equals the file-to-file output. `name_as`: run the file
    case on a copy of `source` with that name (an NPY array from stdin is named `stdin`)."""
    if name_as:
        shutil.copy(source, tmp_path / name_as)
        source = tmp_path / name_as
    expected = file_result(tmp_path, source, args, suffix)
    code, out, err, _ = piped([args[0], "-", *args[1:], "-o", "-"], source.read_bytes())
    assert code == 0, err
    assert out == expected
    return err


GGUF_INPUTS = [SAMPLE, FIXTURES / "gguf" / "types.gguf", FIXTURES / "gguf" / "align64.gguf", FIXTURES / "gguf" / "v2.gguf"]
ST_INPUTS = [FIXTURES / "safetensors" / "dtypes.safetensors", FIXTURES / "safetensors" / "numpy.safetensors",
             FIXTURES / "convert" / "source.safetensors"]
NPY_INPUTS = [FIXTURES / "npz" / name for name in
              ("f4.npy", "be_f4.npy", "fortran_f4.npy", "bf16.npy", "v2.npy", "v3.npy", "scalar_f8.npy", "empty_f4.npy")]


@pytest.mark.parametrize("source", GGUF_INPUTS, ids=lambda p: p.name)
def test_gguf_through_pipes(source, tmp_path):
    assert_same_through_pipes(tmp_path, source, ["convert", "--to", "gguf"], ".gguf")


@pytest.mark.parametrize("source", ST_INPUTS, ids=lambda p: p.name)
def test_safetensors_through_pipes(source, tmp_path):
    assert_same_through_pipes(tmp_path, source, ["convert"])


def test_safetensors_to_gguf_through_pipes(tmp_path):
    assert_same_through_pipes(tmp_path, FIXTURES / "convert" / "source.safetensors",
                              ["convert", "--to", "gguf", "--dtype", "f16"], ".gguf")


@pytest.mark.parametrize("source", NPY_INPUTS, ids=lambda p: p.name)
def test_npy_through_pipes(source, tmp_path):
    assert_same_through_pipes(tmp_path, source, ["convert"], name_as="stdin.npy")


@pytest.mark.parametrize("args", [["remember"], ["remember", "--dtype", "f32"], ["convert", "--dtype", "bf16"]],
                         ids=["bf16", "f32", "convert-bf16"])
def test_remember_gguf_through_pipes(args, tmp_path):
    assert_same_through_pipes(tmp_path, SAMPLE, args)


@pytest.mark.parametrize("scheme", ["block-128", "per-tensor-e4m3", "per-channel-e5m2"])
def test_remember_fp8_through_pipes(scheme, tmp_path):
    assert_same_through_pipes(tmp_path, FIXTURES / "fp8" / scheme / "model.safetensors", ["remember"])


@pytest.mark.parametrize("quant", ["Q8_0", "Q4_K_M", "IQ4_NL"])
def test_quant_through_pipes(quant, tmp_path):
    """An input already in llama-quantize's tensor order (a --quant output) gives the same bytes
    as the file run."""
    ordered = tmp_path / "ordered.gguf"
    run("convert", SAMPLE, "--quant", "F16", "-o", ordered, "-q", check=0)
    err = assert_same_through_pipes(tmp_path, ordered, ["convert", "--quant", quant], ".gguf")
    assert "input's order" not in err


def test_quant_of_an_input_in_another_order_keeps_the_input_order(tmp_path):
    """The sample's tensors are not in llama-quantize's order: from a stream they stay in the
    input's order (with a warning); each tensor still gets the file run's type and bytes."""
    expected = tmp_path / "ref.gguf"
    run("convert", SAMPLE, "--quant", "Q4_K_M", "-o", expected, "-q", check=0)
    code, out, err, _ = piped(["convert", "-", "--quant", "Q4_K_M", "-o", "-"], SAMPLE.read_bytes())
    assert code == 0, err
    assert "written in the input's order" in err
    got = tmp_path / "got.gguf"
    got.write_bytes(out)
    ref_reader, got_reader = gguf.GGUFReader(expected), gguf.GGUFReader(got)
    assert [t.name for t in got_reader.tensors] == [t.name for t in gguf.GGUFReader(SAMPLE).tensors]
    ref = {t.name: (t.tensor_type, bytes(t.data.tobytes())) for t in ref_reader.tensors}
    assert {t.name: (t.tensor_type, bytes(t.data.tobytes())) for t in got_reader.tensors} == ref
    assert [f.name for f in got_reader.fields.values()] == [f.name for f in ref_reader.fields.values()]


def test_stdin_to_a_file_and_a_file_to_stdout(tmp_path):
    expected = file_result(tmp_path, SAMPLE, ["remember"], ".safetensors")
    out = tmp_path / "from-stdin.safetensors"
    code, _, err, _ = piped(["remember", "-", "-o", out], SAMPLE.read_bytes())
    assert code == 0, err
    assert out.read_bytes() == expected
    code, stdout, err, _ = piped(["remember", SAMPLE, "-o", "-"], b"")
    assert code == 0, err
    assert stdout == expected
    assert "remember" in err  # the summary line goes to stderr, never into the data


def test_stdin_has_no_side_files(tmp_path):
    """A config.json in the current directory is not taken for standard input's."""
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama", "quantization_config": {"bits": 4}}))
    code, _, err, _ = piped(["remember", "-", "-o", "out/"], SAMPLE.read_bytes(), cwd=tmp_path)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["model.safetensors"]


def test_inspect_and_parse_read_stdin():
    code, out, err, _ = piped(["parse", "-", "--json"], SAMPLE.read_bytes())
    assert code == 0, err
    report = json.loads(out)
    reference = json.loads(run("parse", SAMPLE, "--json", check=0).stdout)
    assert report["tensors"] == reference["tensors"]


def test_safetensors_whose_header_length_starts_with_0x80_is_not_taken_for_a_pickle():
    """A header of 0x..80 bytes begins with the pickle PROTO byte; its '{' at byte 8 decides."""
    source = FIXTURES / "nvfp4" / "ct-nvfp4" / "model.safetensors"
    assert source.read_bytes()[0] == 0x80
    code, out, err, _ = piped(["parse", "-", "--json"], source.read_bytes(), slow=False)
    assert code == 0, err
    assert json.loads(out)["tensors"] == json.loads(run("parse", source, "--json", check=0).stdout)["tensors"]


@pytest.mark.skipif(SANITIZED, reason="ASan's shadow memory and quarantine count in the RSS")
def test_memory_stays_under_budget_on_a_stream_larger_than_it():
    """384 MiB of F32 streamed through remember with a 64 MiB budget, never touching the disk."""
    rows, cols = 24 * 1024, 4096
    header = json.dumps({"w": {"dtype": "F32", "shape": [rows, cols], "data_offsets": [0, rows * cols * 4]}}).encode()
    header += b" " * (-len(header) % 8)
    stripe = (np.arange(cols * 64) % 251).astype("<f4").tobytes()  # 1 MiB of values exact in BF16, repeated

    def chunks():
        yield struct.pack("<Q", len(header)) + header
        for _ in range(rows // 64):
            yield stripe

    code, out, err, peak = piped(["remember", "-", "--dtype", "bf16", "--memory-budget", "64MiB", "-o", "-"], chunks(),
                                 slow=False)
    assert code == 0, err
    data_start = 8 + struct.unpack("<Q", out[:8])[0]
    assert len(out) == data_start + rows * cols * 2
    want = (np.frombuffer(stripe, "<f4").view("<u4") >> 16).astype("<u2").tobytes()  # small integers: exact in bf16
    assert out[data_start:data_start + len(want)] == want and out[-len(want):] == want
    assert 0 < peak < 64 * MiB, peak


def test_zip_formats_are_refused_from_stdin():
    for source in (FIXTURES / "npz" / "savez.npz", next((FIXTURES / "pth").glob("*.pth"))):
        code, out, err, _ = piped(["inspect", "-"], source.read_bytes())
        assert code == 1 and out == b""
        assert "needs random access" in err and "save it to a file" in err, err


def test_truncated_stream_fails_and_leaves_no_output(tmp_path):
    data = SAMPLE.read_bytes()
    out = tmp_path / "out.safetensors"
    code, _, err, _ = piped(["remember", "-", "-o", out], data[:len(data) - 1000])
    assert code == 1 and "truncated" in err and err.startswith("amn: error: -: "), err
    assert list(tmp_path.iterdir()) == []


def test_bytes_after_the_last_tensor_are_refused_as_from_a_file(tmp_path):
    source = tmp_path / "trailing.safetensors"
    source.write_bytes((FIXTURES / "convert" / "source.safetensors").read_bytes() + b"\0" * 100)
    assert run("convert", source, "-o", tmp_path / "x.safetensors").returncode == 1
    code, _, err, _ = piped(["convert", "-", "-o", tmp_path / "y.safetensors"], source.read_bytes())
    assert code == 1 and "bytes after the last tensor" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trailing.safetensors"]


def test_gguf_trailing_bytes_are_read_and_dropped_as_from_a_file(tmp_path):
    source = tmp_path / "trailing.gguf"
    source.write_bytes(SAMPLE.read_bytes() + b"x" * 100_000)
    assert_same_through_pipes(tmp_path, source, ["remember"])


def test_out_of_order_reads_fail_with_advice(tmp_path):
    """An FP8 weight whose scales come after a filler larger than what the stream keeps: the
    first window reads the scales (dropping the weight's start), the next needs the weight."""
    rows, cols, filler = 4096, 2048, 16 * MiB  # 8 MiB of FP8 codes (zeros), then 16 MiB, then the scales
    scales = np.ones((rows // 128, cols // 128), "<f4").tobytes()
    header = json.dumps({
        "m.weight": {"dtype": "F8_E4M3", "shape": [rows, cols], "data_offsets": [0, rows * cols]},
        "m.weight_filler": {"dtype": "U8", "shape": [filler], "data_offsets": [rows * cols, rows * cols + filler]},
        "m.weight_scale_inv": {"dtype": "F32", "shape": [rows // 128, cols // 128],
                               "data_offsets": [rows * cols + filler, rows * cols + filler + len(scales)]},
    }).encode()
    header += b" " * (-len(header) % 8)
    data = struct.pack("<Q", len(header)) + header + bytes(rows * cols + filler) + scales
    (tmp_path / "fp8.safetensors").write_bytes(data)
    assert run("remember", tmp_path / "fp8.safetensors", "-o", tmp_path / "ok.safetensors", "-q").returncode == 0
    code, _, err, _ = piped(["remember", "-", "--memory-budget", "48MiB", "-o", tmp_path / "x.safetensors"], data, slow=False)
    assert code == 1, err
    assert "read front to back" in err and "save the model to a file" in err, err
    assert not (tmp_path / "x.safetensors").exists()


def test_usage_errors_with_stdout(tmp_path):
    code, out, err, _ = piped(["remember", SAMPLE, "--max-shard-size", "100KB", "-o", "-"], b"")
    assert code == 2 and out == b"" and "sharded output" in err, err
    code, out, err, _ = piped(["remember", SAMPLE, "--json", "-o", "-"], b"")
    assert code == 2 and out == b"" and "--json" in err, err
    # a dry run prints its plan, not data, on stdout
    code, out, err, _ = piped(["remember", SAMPLE, "--dry-run", "-o", "-"], b"")
    assert code == 0 and out.startswith(b"Plan: "), err


def test_stdin_that_is_not_a_model():
    code, _, err, _ = piped(["inspect", "-"], b"hello, world\n" * 10)
    assert code == 1 and "not a recognised model" in err, err
    code, _, err, _ = piped(["inspect", "-"], b"")
    assert code == 1, err


def test_terminals_are_refused():
    """A model is never read from, or written to, a terminal."""
    import pty
    controller, terminal = pty.openpty()
    try:
        got = subprocess.run([AMN, "inspect", "-"], stdin=terminal, capture_output=True, text=True, timeout=60)
        assert got.returncode == 2 and "standard input is a terminal" in got.stderr, got.stderr
        got = subprocess.run([AMN, "remember", SAMPLE, "-o", "-"], stdout=terminal, stderr=subprocess.PIPE, text=True,
                             timeout=60)
        assert got.returncode == 2 and "standard output is a terminal" in got.stderr, got.stderr
    finally:
        os.close(controller)
        os.close(terminal)


def test_counts_in_a_stream_of_unknown_size_are_bounded_by_the_caps():
    """From a stream the counts cannot be checked against the bytes remaining: the caps and the
    bytes that really arrive bound what they cost."""
    tensors = b"GGUF" + struct.pack("<IQQ", 3, 9_000_000, 0) + bytes(4 * MiB)
    code, _, err, _ = piped(["inspect", "-"], tensors, slow=False)
    assert code == 1 and "exceeds the allocation cap" in err, err
    array = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1) + b"k" + struct.pack("<IIQ", 9, 4, 9_000_000)
    code, _, err, peak = piped(["inspect", "-"], array + b"\1" * (4 * MiB), slow=False)
    assert code == 1 and "truncated" in err, err


def test_stdin_to_a_file_with_small_windows(tmp_path):
    """64 KiB windows on two threads, from a pipe that hands over up to 1 MiB per read: the stream
    keeps its window behind the bytes the windows have read, not behind what it read ahead."""
    rows, cols = 2048, 4096  # 32 MiB of F32 with varied values
    values = (np.arange(rows * cols, dtype=np.uint32) * 2654435761 % 65521).astype("<f4").reshape(rows, cols)
    header = json.dumps({"a": {"dtype": "F32", "shape": [rows, cols], "data_offsets": [0, values.nbytes]}}).encode()
    header += b" " * (-len(header) % 8)
    source = tmp_path / "in.safetensors"
    source.write_bytes(struct.pack("<Q", len(header)) + header + values.tobytes())
    args = ["convert", "--to", "gguf", "--threads", "2", "--chunk-size", "64KiB"]
    expected = file_result(tmp_path, source, args, ".gguf")
    for attempt in range(3):
        out = tmp_path / f"out{attempt}.gguf"
        code, _, err, _ = piped([args[0], "-", *args[1:], "-o", out], source.read_bytes(), slow=False)
        assert code == 0, err
        assert out.read_bytes() == expected
