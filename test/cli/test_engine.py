"""The streaming engine: identical output whatever the chunking, threads and I/O path; bounded
memory on inputs larger than the budget; sharded output read back by safetensors and gguf-py;
dry runs; progress; and faults (disk full, file-size limit, signals, read-only directory) that
must leave nothing under the output name."""
import json
import os
import resource
import shutil
import signal
import struct
import subprocess
import time

import gguf
import numpy as np
import pytest
import safetensors

from conftest import AMN, FIXTURES, ROOT, SANITIZED, run

SAMPLE = ROOT / "samples" / "tiny-llama.gguf"
SOURCE = FIXTURES / "convert" / "source.safetensors"
MiB = 1 << 20


def run_env(args, env_extra, timeout=300):
    env = dict(os.environ, **env_extra)
    return subprocess.run([AMN, *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout)


def sparse_f32_model(path, elements, stripes):
    """A safetensors file with one F32 tensor [rows, 4096]; zeros except `stripes` (offset ->
    float32 array) written at those element offsets. The zeros are a hole: quick to make."""
    cols = 4096
    header = json.dumps({"w": {"dtype": "F32", "shape": [elements // cols, cols], "data_offsets": [0, elements * 4]}})
    header = header.encode() + b" " * (-len(header) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(header)) + header)
        out.truncate(8 + len(header) + elements * 4)
        for offset, values in stripes.items():
            out.seek(8 + len(header) + offset * 4)
            out.write(values.astype("<f4").tobytes())


@pytest.mark.parametrize("source,args", [
    (SAMPLE, ["remember"]),
    (SAMPLE, ["convert", "--to", "gguf"]),
    (SOURCE, ["convert", "--dtype", "bf16"]),
], ids=["remember-gguf", "gguf-to-gguf", "st-to-bf16"])
def test_output_identical_across_chunks_threads_and_io(source, args, tmp_path):
    suffix = ".gguf" if "gguf" in args else ".safetensors"
    reference = tmp_path / ("ref" + suffix)
    run(args[0], source, *args[1:], "-o", reference, "-q", check=0)
    expected = reference.read_bytes()
    # 7 bytes (units cut everywhere), one Q4_0 block of BF16 output, odd sizes, O_DIRECT-sized.
    for chunk in ["7", "64", "1000", "4KiB", "64KiB"]:
        for threads in ["1", "2"]:
            for io_path in ["pwrite", "uring", "buffered"]:
                out = tmp_path / f"out-{chunk}-{threads}-{io_path}{suffix}"
                proc = run_env([args[0], source, *args[1:], "-o", out, "-q", "--chunk-size", chunk, "--threads", threads],
                               {"AMN_IO": io_path})
                assert proc.returncode == 0, proc.stderr
                assert out.read_bytes() == expected, (chunk, threads, io_path)
                out.unlink()


def test_io_paths_are_reported(tmp_path):
    for io_path, expected in [("pwrite", "pwrite"), ("uring", "io_uring")]:
        proc = run_env(["convert", SOURCE, "-o", tmp_path / f"{io_path}.safetensors", "--json"], {"AMN_IO": io_path})
        assert json.loads(proc.stdout)["io"].startswith(expected)


@pytest.mark.skipif(SANITIZED, reason="ASan's shadow memory and quarantine count in the RSS")
def test_memory_stays_under_budget_on_a_larger_input(tmp_path):
    elements = 96 * MiB  # 384 MiB of F32 in, 192 MiB of BF16 out; budget 64 MiB
    rng = np.random.default_rng(3)
    stripes = {offset: rng.standard_normal(4096).astype(np.float32) for offset in range(0, elements, 9 * MiB + 4096)}
    source = tmp_path / "big.safetensors"
    sparse_f32_model(source, elements, stripes)
    out = tmp_path / "out.safetensors"
    summary = json.loads(run("remember", source, "--dtype", "bf16", "--memory-budget", "64MiB", "-o", out, "--json",
                             check=0).stdout)
    assert summary["peak_rss_bytes"] < 64 * MiB, summary
    assert summary["memory_budget"] == 64 * MiB
    with safetensors.safe_open(str(out), "numpy") as handle:
        assert handle.get_slice("w").get_shape() == [elements // 4096, 4096]
    raw = np.memmap(out, dtype="<u2", mode="r", offset=8 + struct.unpack("<Q", out.read_bytes()[:8])[0])
    for offset, values in stripes.items():
        bits = values.view("<u4").astype(np.uint64)
        expected = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)  # no NaNs here
        assert np.array_equal(raw[offset:offset + 4096], expected)
    assert not raw[4096:9 * MiB].any()


def test_sharded_safetensors(tmp_path):
    single = tmp_path / "single.safetensors"
    run("convert", SOURCE, "-o", single, "-q", check=0)
    outdir = tmp_path / "shards"
    outdir.mkdir()
    summary = json.loads(run("convert", SOURCE, "-o", outdir, "--max-shard-size", "12KB", "--json", check=0).stdout)
    shards = sorted(p.name for p in outdir.glob("model-*.safetensors"))
    count = len(shards)
    assert count >= 2 and shards == [f"model-{i:05d}-of-{count:05d}.safetensors" for i in range(1, count + 1)]
    assert [o["path"] for o in summary["outputs"]] == [str(outdir / name) for name in shards]
    index = json.loads((outdir / "model.safetensors.index.json").read_text())
    merged = {}
    for name in shards:
        for tensor, spec in safetensors.deserialize((outdir / name).read_bytes()):
            assert index["weight_map"][tensor] == name
            merged[tensor] = (spec["dtype"], spec["shape"], bytes(spec["data"]))
    original = {t: (s["dtype"], s["shape"], bytes(s["data"])) for t, s in safetensors.deserialize(SOURCE.read_bytes())}
    assert merged == original
    assert index["metadata"]["total_size"] == sum(len(v[2]) for v in original.values())
    # The shards read back as one model and convert to the same single file.
    again = tmp_path / "again.safetensors"
    run("convert", outdir, "-o", again, "-q", check=0)
    assert again.read_bytes() == single.read_bytes()


def test_sharded_gguf(tmp_path):
    single = tmp_path / "single.gguf"
    run("convert", SAMPLE, "--to", "gguf", "-o", single, "-q", check=0)
    out = tmp_path / "tiny.gguf"
    run("convert", SAMPLE, "--to", "gguf", "-o", out, "--max-shard-size", "100KB", "-q", check=0)
    parts = sorted(tmp_path.glob("tiny-*-of-*.gguf"))
    assert len(parts) >= 3 and not out.exists()
    names = []
    for number, part in enumerate(parts):
        reader = gguf.GGUFReader(str(part))
        fields = reader.fields
        assert int(fields["split.no"].parts[-1][0]) == number
        assert int(fields["split.count"].parts[-1][0]) == len(parts)
        assert int(fields["split.tensors.count"].parts[-1][0]) == 21
        assert ("general.architecture" in fields) == (number == 0)
        names += [t.name for t in reader.tensors]
    assert names == [t.name for t in gguf.GGUFReader(str(SAMPLE)).tensors]
    merged = tmp_path / "merged.gguf"
    run("convert", parts[0], "--to", "gguf", "-o", merged, "-q", check=0)
    assert merged.read_bytes() == single.read_bytes()


def test_dry_run_writes_nothing(tmp_path):
    out = tmp_path / "o.safetensors"
    text = run("remember", SAMPLE, "-o", out, "--dry-run", check=0).stdout
    assert "21 tensors" in text and str(out) in text
    summary = json.loads(run("remember", SAMPLE, "-o", out, "--dry-run", "--json", check=0).stdout)
    assert summary["dry_run"] is True and summary["outputs"][0]["bytes"] > 0
    assert os.listdir(tmp_path) == []


def test_output_directory_and_reporting(tmp_path):
    proc = run("remember", SAMPLE, "-o", tmp_path, "--progress", check=0)
    assert (tmp_path / "model.safetensors").exists()
    assert "21/21 tensors" in proc.stderr
    proc = run("remember", SAMPLE, "-o", tmp_path / "q.safetensors", "-q", check=0)
    assert proc.stderr == "" and proc.stdout == ""
    assert run("remember", SAMPLE, "-o", tmp_path / "x.safetensors", "--memory-budget", "lots").returncode == 2


def only_input_left(directory, keep):
    return sorted(os.listdir(directory)) == sorted(keep)


def test_file_size_limit_leaves_nothing(tmp_path):
    out = tmp_path / "out.safetensors"

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, resource.RLIM_INFINITY))

    proc = subprocess.run([AMN, "remember", str(SAMPLE), "-o", str(out)], capture_output=True, text=True,
                          preexec_fn=limit, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith(f"amn: error: {out}: ") and "too large" in proc.stderr
    assert os.listdir(tmp_path) == []


@pytest.fixture
def tiny_tmpfs(tmp_path):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small tmpfs")
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)]).returncode != 0:
        pytest.skip("cannot mount tmpfs here")
    yield mount
    subprocess.run(["umount", str(mount)])


def test_disk_full_leaves_nothing(tiny_tmpfs):
    out = tiny_tmpfs / "out.safetensors"
    proc = run("remember", SAMPLE, "-o", out)
    assert proc.returncode == 1 and f"amn: error: {out}: " in proc.stderr and "No space left" in proc.stderr
    assert os.listdir(tiny_tmpfs) == []


def test_read_only_directory_leaves_nothing(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode != 0:
            pytest.skip("chattr +i not available")
        undo = ["chattr", "-i", str(locked)]
    else:
        locked.chmod(0o500)
        undo = ["chmod", "700", str(locked)]
    try:
        proc = run("remember", SAMPLE, "-o", locked / "out.safetensors")
        assert proc.returncode == 1 and "cannot create a temporary file" in proc.stderr
        assert os.listdir(locked) == []
    finally:
        subprocess.run(undo)


@pytest.mark.parametrize("signo,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_run_leaves_nothing(tmp_path, signo, status):
    source = tmp_path / "big.safetensors"
    sparse_f32_model(source, 64 * MiB, {})
    outdir = tmp_path / "out"
    outdir.mkdir()
    out = outdir / "out.safetensors"
    proc = subprocess.Popen([AMN, "remember", str(source), "--dtype", "f16", "-o", str(out), "--threads", "1",
                             "--chunk-size", "16KiB"], stderr=subprocess.PIPE)
    deadline = time.time() + 30
    while not os.listdir(outdir) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.002)
    assert proc.poll() is None, "finished before the signal could be sent"
    time.sleep(0.05)
    proc.send_signal(signo)
    assert proc.wait(timeout=30) == status
    assert os.listdir(outdir) == []


def test_signal_mid_run_removes_the_directories_it_made(tmp_path):
    source = tmp_path / "big.safetensors"
    sparse_f32_model(source, 64 * MiB, {})
    out = tmp_path / "made" / "deeper"
    proc = subprocess.Popen([AMN, "remember", str(source), "--dtype", "f16", "-o", f"{out}/", "--threads", "1",
                             "--chunk-size", "16KiB"], stderr=subprocess.PIPE)
    deadline = time.time() + 30
    while not (out.is_dir() and os.listdir(out)) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.002)
    assert proc.poll() is None, "finished before the signal could be sent"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    assert os.listdir(tmp_path) == ["big.safetensors"]


def dry_run_summary(env_extra=None, prefix=(), args=()):
    cmd = [*prefix, AMN, "remember", str(SAMPLE), "-o", "/tmp/amn-dry-run.safetensors", "--dry-run", "--json", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, **(env_extra or {})), timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_threads_follow_slurm():
    assert dry_run_summary({"SLURM_CPUS_PER_TASK": "1"})["threads"] == 1
    assert dry_run_summary({"SLURM_CPUS_PER_TASK": "3"})["threads"] == 3
    assert dry_run_summary()["threads"] == len(os.sched_getaffinity(0))


def test_thread_counts_are_bounded():
    """--threads and SLURM_CPUS_PER_TASK are lowered to min(4 x cores, 1024): a typo or a value
    for another machine never starts a hundred thousand threads."""
    ceiling = min(4 * os.cpu_count(), 1024)
    assert dry_run_summary({"SLURM_CPUS_PER_TASK": "100000"})["threads"] == ceiling
    assert dry_run_summary({"SLURM_CPUS_PER_TASK": "99999999999999999999"})["threads"] == ceiling
    assert dry_run_summary({"SLURM_CPUS_PER_TASK": "-4"})["threads"] == len(os.sched_getaffinity(0))
    assert dry_run_summary({"SLURM_CPUS_PER_TASK": "1"}, args=("--threads", "2"))["threads"] == 2
    assert dry_run_summary(args=("--threads", "4000000000"))["threads"] == ceiling
    proc = subprocess.run([AMN, "remember", str(SAMPLE), "-o", "/tmp/amn-dry-run.safetensors", "--dry-run", "-v",
                           "--threads", "100000"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and f"--threads 100000 lowered to {ceiling} threads" in proc.stderr


def test_budget_and_threads_follow_the_cgroup(tmp_path):
    """A job in a cgroup with 200 MiB of memory and half a CPU gets a 100 MiB budget and one
    thread (cgroup v2, or v1's memory and cpu controllers)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create a cgroup")
    name = f"amn-test-{os.getpid()}"
    v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    dirs = [f"/sys/fs/cgroup/{name}"] if v2 else [f"/sys/fs/cgroup/memory/{name}", f"/sys/fs/cgroup/cpu/{name}"]
    try:
        for folder in dirs:
            os.mkdir(folder)
        if v2:
            open(f"{dirs[0]}/memory.max", "w").write(str(200 * MiB))
            open(f"{dirs[0]}/cpu.max", "w").write("50000 100000")
        else:
            open(f"{dirs[0]}/memory.limit_in_bytes", "w").write(str(200 * MiB))
            open(f"{dirs[1]}/cpu.cfs_period_us", "w").write("100000")
            open(f"{dirs[1]}/cpu.cfs_quota_us", "w").write("50000")
    except OSError as error:
        pytest.skip(f"cannot create a cgroup here: {error}")
    try:
        join = "; ".join(f"echo $$ > {folder}/cgroup.procs" for folder in dirs)
        summary = dry_run_summary(prefix=("sh", "-c", join + '; exec "$@"', "sh"))
        assert summary["memory_budget"] == 100 * MiB
        assert summary["threads"] == 1
    finally:
        for folder in dirs:
            os.rmdir(folder)


def test_verbose_names_the_engine_settings_and_kernel_level(tmp_path):
    def first_line(env):
        proc = run_env(["remember", SAMPLE, "-o", tmp_path / "out.safetensors", "-f", "-v", "--threads", "1",
                        "--memory-budget", "64MiB"], dict(env, AMN_IO="pwrite"))
        assert proc.returncode == 0, proc.stderr
        return proc.stderr.splitlines()[0]
    line = first_line({"AMN_FORCE_ISA": "scalar"})
    assert line.startswith("amn: engine: 1 threads, ") and "memory budget 64.0 MiB" in line, line
    assert "output through pwrite" in line and line.endswith("kernels scalar"), line
    best = first_line({}).rsplit(" ", 1)[-1]
    assert best in ("scalar", "avx2", "avx512", "avx512bf16"), best
