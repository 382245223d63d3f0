"""Untrusted input through the command line (docs/security.md): every file of the hostile corpus
(test/hostile/*/expect.tsv) is refused by `amn inspect` and `amn convert`, every scheme case
(test/hostile/*/expect_remember.tsv) by `amn remember`, and every side file beside the weights
(test/hostile/json/expect_side.tsv) by `amn remember` and `amn convert --dtype`, with exit 1, one
error line naming the file and holding the manifest's message fragment, nothing on stdout and no
output, within a time and address-space bound; the --max-* options tighten the caps and never raise them; and outputs
through symlinks never write where the link points."""
import os
import resource
import shutil
import subprocess

import pytest

from conftest import AMN, FIXTURES, ROOT, SANITIZED, run

HOSTILE = ROOT / "test" / "hostile"
SAMPLE = ROOT / "samples" / "tiny-llama.gguf"
SOURCE = FIXTURES / "convert" / "source.safetensors"
# Under ASan/UBSan the address space is the sanitizer's shadow and everything runs slower: the
# memory bound is then ASan's own (hard_rss_limit_mb), the time bound wider.
SECONDS = 60 if SANITIZED else 10
ADDRESS_SPACE = 1 << 30


def hostile_cases(manifest_name="expect.tsv"):
    """(path, fragment) for every line of every test/hostile/<format>/<manifest_name>: expect.tsv
    lists what opening refuses, expect_remember.tsv what scheme recognition refuses."""
    cases = []
    for manifest in sorted(HOSTILE.glob(f"*/{manifest_name}")):
        for line in manifest.read_text().splitlines():
            if line and not line.startswith("#"):
                name, _code, fragment = line.split("\t", 2)
                cases.append(pytest.param(manifest.parent / name, fragment, id=f"{manifest.parent.name}/{name}"))
    return cases


def bounded(*args):
    """Runs amn with a wall-clock timeout and at most 1 GiB of address space (sanitized: of RSS)."""
    def limit_address_space():
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    env = dict(os.environ)
    if SANITIZED:
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + f":hard_rss_limit_mb={ADDRESS_SPACE >> 20}"
    return subprocess.run([AMN, *map(str, args)], capture_output=True, text=True, timeout=SECONDS, env=env,
                          preexec_fn=None if SANITIZED else limit_address_space)


def assert_refused(proc, path, fragment):
    """Exit 1, nothing on stdout, one error line naming the file and the field (`fragment`)."""
    assert proc.returncode == 1, f"exit {proc.returncode}\nstderr: {proc.stderr}"
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("amn: error: ") and path.name in lines[0] and fragment in lines[0], lines[0]


@pytest.mark.parametrize("path,fragment", hostile_cases())
def test_hostile_file_is_refused_by_inspect_and_convert(path, fragment, tmp_path):
    assert_refused(bounded("inspect", path), path, fragment)
    out = tmp_path / "out.safetensors"
    assert_refused(bounded("convert", path, "-o", out), path, fragment)
    assert os.listdir(tmp_path) == []  # no output, no temp file


@pytest.mark.parametrize("path,fragment", hostile_cases("expect_remember.tsv"))
def test_hostile_scheme_is_refused_by_remember(path, fragment, tmp_path):
    out = tmp_path / "out.safetensors"
    assert_refused(bounded("remember", path, "-o", out), path, fragment)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("side,fragment", hostile_cases("expect_side.tsv"))
def test_hostile_side_file_is_refused_by_remember_and_convert(side, fragment, tmp_path):
    """config.json / quantize_config.json beside the weights (test/hostile/json): nested a
    million deep, too large, not an object. The GPTQ layer beside it makes recognition read it."""
    model = side.parent / "model.safetensors"
    out = tmp_path / "out.safetensors"
    for command in (["remember", model, "-o", out], ["convert", model, "--dtype", "f32", "-o", out]):
        proc = bounded(*command)
        assert_refused(proc, side, fragment)
        assert f"amn: error: {side}: " in proc.stderr
        assert os.listdir(tmp_path) == []
    run("inspect", model, check=0)  # inspect reads no side file


def test_side_file_above_the_cap_is_refused(tmp_path):
    """A config.json of 16 MiB + 2 bytes (valid JSON, written here rather than committed)."""
    cap = 16 << 20  # io::kMaxSideJsonBytes
    model = tmp_path / "model" / "model.safetensors"
    model.parent.mkdir()
    shutil.copy(HOSTILE / "json" / "63-config-not-object" / "model.safetensors", model)
    (model.parent / "config.json").write_text("{" + " " * cap + "}")
    out = tmp_path / "out.safetensors"
    proc = bounded("remember", model, "-o", out)
    assert_refused(proc, model.parent / "config.json", f"JSON of {cap + 2} bytes is above the cap of {cap} bytes")
    assert not out.exists()


def test_every_corpus_has_cases():
    assert {p.parent.name for p in HOSTILE.glob("*/expect.tsv")} >= {"safetensors", "gguf", "npz", "pth"}
    assert len(hostile_cases()) > 150
    assert len(hostile_cases("expect_side.tsv")) >= 4


# ---- --max-alloc, --max-total, --max-items, --max-ratio ------------------------------------------

@pytest.mark.parametrize("command", ["inspect", "parse", "convert", "remember"])
def test_limits_cannot_be_raised(command, tmp_path):
    output = ["-o", tmp_path / "o.safetensors"] if command in ("convert", "remember") else []
    for option, value in [("--max-alloc", "2GiB"), ("--max-total", "1TiB"), ("--max-items", "10000001"),
                          ("--max-ratio", "1001"), ("--max-alloc", "0"), ("--max-total", "lots")]:
        proc = run(command, SAMPLE, *output, option, value, check=2)
        assert option in proc.stderr
    assert os.listdir(tmp_path) == []


def test_max_total_refuses_naming_file_and_cap(tmp_path):
    proc = run("inspect", SAMPLE, "--max-total", "64KiB", check=1)
    assert str(SAMPLE) in proc.stderr and "max_total" in proc.stderr and "65536" in proc.stderr
    run("inspect", SAMPLE, "--max-total", "64MiB", check=0)
    out = tmp_path / "o.safetensors"
    proc = run("remember", SAMPLE, "-o", out, "--max-total", "64KiB", check=1)
    assert "max_total" in proc.stderr and not out.exists()


def test_max_alloc_and_max_items_refuse(tmp_path):
    proc = run("inspect", SOURCE, "--max-alloc", "16", check=1)
    assert str(SOURCE) in proc.stderr and "header" in proc.stderr
    proc = run("parse", SAMPLE, "--max-items", "3", check=1)
    assert str(SAMPLE) in proc.stderr and "item cap of 3" in proc.stderr
    proc = run("convert", SAMPLE, "-o", tmp_path / "o.gguf", "--to", "gguf", "--max-items", "3", check=1)
    assert "item cap" in proc.stderr and os.listdir(tmp_path) == []


def test_max_ratio_refuses_a_highly_compressed_member(tmp_path):
    np = pytest.importorskip("numpy")
    model = tmp_path / "twobit.npz"
    values = np.random.default_rng(5).integers(0, 4, size=4 << 20, dtype=np.uint8)  # 2 bits a byte: ~3x
    np.savez_compressed(model, values=values)
    run("inspect", model, check=0)
    proc = run("inspect", model, "--max-ratio", "2", check=1)
    assert str(model) in proc.stderr and "compression ratio" in proc.stderr and "cap of 2" in proc.stderr


def test_deflated_member_larger_than_the_memory_budget_is_refused(tmp_path):
    np = pytest.importorskip("numpy")
    model = tmp_path / "big.npz"
    np.savez_compressed(model, values=np.random.default_rng(1).integers(0, 4, size=8 << 20, dtype=np.uint8))
    out = tmp_path / "o.safetensors"
    proc = run("convert", model, "-o", out, "--memory-budget", "2MiB", check=1)
    assert "exceed the allocation cap of 2097152" in proc.stderr and not out.exists()
    run("convert", model, "-o", out, "-q", check=0)


# ---- outputs through symlinks --------------------------------------------------------------------
# An output name that is a symlink is an existing file: refused without --force. With --force the
# link itself is replaced by the new file (rename over the directory entry); the file it points
# to is never opened for writing. A link to the input is refused as the input, --force or not.

def test_symlinked_output_needs_force_and_replaces_only_the_link(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"not yours")
    link = tmp_path / "out.safetensors"
    link.symlink_to(victim)
    proc = run("convert", SOURCE, "-o", link, check=2)
    assert "exists" in proc.stderr
    assert link.is_symlink() and victim.read_bytes() == b"not yours"
    run("convert", SOURCE, "-o", link, "--force", "-q", check=0)
    assert not link.is_symlink() and link.read_bytes()[8:9] == b"{"
    assert victim.read_bytes() == b"not yours"
    assert sorted(os.listdir(tmp_path)) == ["out.safetensors", "victim.txt"]


def test_dangling_symlink_output_is_not_followed(tmp_path):
    target = tmp_path / "elsewhere" / "created.safetensors"
    target.parent.mkdir()
    link = tmp_path / "out.safetensors"
    link.symlink_to(target)
    run("convert", SOURCE, "-o", link, check=2)
    run("convert", SOURCE, "-o", link, "--force", "-q", check=0)
    assert not link.is_symlink() and link.stat().st_size > 0
    assert os.listdir(target.parent) == []


def test_symlink_to_the_input_is_refused(tmp_path):
    model = tmp_path / "model.safetensors"
    shutil.copy(SOURCE, model)
    before = model.read_bytes()
    link = tmp_path / "out.safetensors"
    link.symlink_to(model)
    proc = run("convert", model, "-o", link, "--force", check=2)
    assert "output is the input" in proc.stderr
    assert link.is_symlink() and model.read_bytes() == before


def test_fifo_input_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "model.safetensors"
    os.mkfifo(fifo)
    proc = bounded("inspect", fifo)
    assert proc.returncode == 2 and "not a regular file" in proc.stderr
