"""Many models: default output names (remember/convert without -o) and `amn batch` (discovery,
outputs mirrored under OUTDIR, the resumable journal, concurrent processes, --shard, --json)."""
import hashlib
import json
import os
import pathlib
import shutil
import subprocess

import pytest

from conftest import AMN, FIXTURES, ROOT, run, st_load

SAMPLE = ROOT / "samples" / "tiny-llama.gguf"
GPTQ = FIXTURES / "gptq" / "4bit-g128-sym"
SHARDED = FIXTURES / "safetensors" / "sharded"
SPLIT = sorted((FIXTURES / "gguf").glob("split-*.gguf"))


def digest(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


# --- default output names ----------------------------------------------------------------------

@pytest.mark.parametrize("name, args, expected", [
    ("Llama-3-8B-Q4_K_M.gguf", ["remember"], "Llama-3-8B-bf16.safetensors"),
    ("Llama-3-8B-Q4_K_M.gguf", ["remember", "--dtype", "f32"], "Llama-3-8B-f32.safetensors"),
    ("tiny.gguf", ["convert", "--quant", "Q8_0"], "tiny-Q8_0.gguf"),
    ("tiny-f16.gguf", ["convert", "--to", "gguf", "--dtype", "bf16"], "tiny-bf16.gguf"),
    ("model.IQ4_XS.gguf", ["remember"], "model-bf16.safetensors"),
    ("Q4_K_M.gguf", ["remember"], "model-bf16.safetensors"),
])
def test_default_name_file(tmp_path, name, args, expected):
    src = tmp_path / name
    shutil.copy(SAMPLE, src)
    proc = run(*args[:1], src, *args[1:], check=0)
    assert (tmp_path / expected).is_file()
    assert str(tmp_path / expected) in proc.stderr  # says what it wrote
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, expected])


def test_default_name_directory(tmp_path):
    src = tmp_path / "model-gptq-4bit"
    src.mkdir()
    for name in ("model.safetensors", "quantize_config.json"):
        shutil.copy(GPTQ / name, src / name)
    run("remember", src, check=0)
    out = tmp_path / "model-bf16"
    assert (out / "model.safetensors").is_file()
    run("remember", src, "-o", tmp_path / "explicit.safetensors", check=0)
    assert digest(out / "model.safetensors") == digest(tmp_path / "explicit.safetensors")


def test_default_name_split_and_index(tmp_path):
    for part in SPLIT:
        shutil.copy(part, tmp_path / part.name)
    run("convert", tmp_path / SPLIT[1].name, "--to", "gguf", "--dtype", "f32", check=0)
    assert (tmp_path / "split-f32.gguf").is_file()
    shutil.copytree(SHARDED, tmp_path / "sharded-fp16")
    run("remember", tmp_path / "sharded-fp16" / "model.safetensors.index.json", check=0)
    assert (tmp_path / "sharded-bf16" / "model.safetensors").is_file()


def test_default_name_never_replaces_without_force(tmp_path):
    src = tmp_path / "tiny-Q4_K_M.gguf"
    shutil.copy(SAMPLE, src)
    out = tmp_path / "tiny-bf16.safetensors"
    out.write_bytes(b"precious")
    proc = run("remember", src, check=2)
    assert "exists (use --force" in proc.stderr
    assert out.read_bytes() == b"precious"
    run("remember", src, "--force", check=0)
    assert st_load(out)


def test_default_name_is_never_the_input(tmp_path):
    src = tmp_path / "model-bf16.safetensors"
    run("remember", SAMPLE, "-o", src, check=0)
    before = digest(src)
    proc = run("remember", src, "--force")
    assert proc.returncode != 0
    assert digest(src) == before


# --- amn batch -----------------------------------------------------------------------------------

def make_tree(root):
    """A tree of models: a GGUF file, a GGUF split set, a GPTQ directory, a shard directory
    with an index, an NPY file, and files that are not models."""
    (root / "a" / "b").mkdir(parents=True)
    (root / "c" / "m-gptq-4bit").mkdir(parents=True)
    shutil.copy(SAMPLE, root / "a" / "tiny-Q4_K_M.gguf")
    for part in SPLIT:
        shutil.copy(part, root / "a" / "b" / part.name)
    for name in ("model.safetensors", "quantize_config.json"):
        shutil.copy(GPTQ / name, root / "c" / "m-gptq-4bit" / name)
    shutil.copytree(SHARDED, root / "c" / "sharded")
    shutil.copy(FIXTURES / "gguf" / "types.gguf", root / "types.gguf")
    (root / "c" / "notes.txt").write_text("not a model")
    (root / ".hidden.gguf").write_bytes(b"skipped")
    return {
        "a/tiny-bf16.safetensors": root / "a" / "tiny-Q4_K_M.gguf",
        "a/b/split-bf16.safetensors": root / "a" / "b" / SPLIT[0].name,
        "c/m-bf16/model.safetensors": root / "c" / "m-gptq-4bit",
        "c/sharded-bf16/model.safetensors": root / "c" / "sharded",
        "types-bf16.safetensors": root / "types.gguf",
    }


def outputs(outdir):
    return sorted(str(p.relative_to(outdir)) for p in outdir.rglob("*") if p.is_file() and ".amn-batch" not in p.parts)


def batch(*args, check=None):
    return run("batch", *args, check=check)


def json_lines(text):
    return [json.loads(line) for line in text.splitlines()]


def test_batch_tree_matches_single_runs(tmp_path):
    expected = make_tree(tmp_path / "in")
    out = tmp_path / "out"
    proc = batch("remember", tmp_path / "in", "-o", out, "--json", check=0)
    lines = json_lines(proc.stdout)
    assert sorted(line["status"] for line in lines) == ["done"] * len(expected)
    assert all(set(line) == {"input", "status", "outputs", "bytes", "seconds"} for line in lines)
    assert outputs(out) == sorted(expected)
    for rel, src in expected.items():  # the same bytes as one `amn remember` each
        single = tmp_path / "single" / rel.replace("/", "_")
        single.parent.mkdir(exist_ok=True)
        run("remember", src, "-o", single, check=0)
        assert digest(out / rel) == digest(single), rel
    assert "5 done, 0 skipped, 0 failed" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out", "single"]  # nothing written elsewhere


def test_batch_convert_quant_names_and_list(tmp_path):
    make_tree(tmp_path / "in")
    listing = tmp_path / "list"
    listing.write_bytes(b"\0".join(bytes(tmp_path / "in" / name) for name in ("types.gguf", "a/tiny-Q4_K_M.gguf")) + b"\0")
    batch("convert", "--to", "gguf", "--dtype", "f32", "--from", listing, "-0", "-o", tmp_path / "out", "-q", check=0)
    assert outputs(tmp_path / "out") == ["tiny-f32.gguf", "types-f32.gguf"]
    proc = subprocess.run([AMN, "batch", "remember", "--from", "-", "-o", tmp_path / "out2", "--json"],
                          input=str(tmp_path / "in" / "types.gguf") + "\n", capture_output=True, text=True, check=True)
    assert [line["status"] for line in json_lines(proc.stdout)] == ["done"]


def test_batch_resume_skips_verified_redoes_broken(tmp_path):
    make_tree(tmp_path / "in")
    out = tmp_path / "out"
    batch("remember", tmp_path / "in", "-o", out, "-q", check=0)
    kept, corrupt, missing = out / "a/tiny-bf16.safetensors", out / "types-bf16.safetensors", out / "a/b/split-bf16.safetensors"
    kept_stat = kept.stat()
    good = {path: digest(path) for path in (corrupt, missing)}
    data = bytearray(corrupt.read_bytes())
    data[-1] ^= 0xFF  # same size, one byte changed
    corrupt.write_bytes(bytes(data))
    missing.unlink()
    proc = batch("remember", tmp_path / "in", "-o", out, "--json", check=0)
    status = {pathlib.Path(line["input"]).name: line["status"] for line in json_lines(proc.stdout)}
    assert status == {"tiny-Q4_K_M.gguf": "skipped", "types.gguf": "done", SPLIT[0].name: "done",
                      "m-gptq-4bit": "skipped", "sharded": "skipped"}
    assert {path: digest(path) for path in good} == good
    after = kept.stat()
    assert (after.st_ino, after.st_mtime_ns) == (kept_stat.st_ino, kept_stat.st_mtime_ns)  # never rewritten
    # a changed option is a different output: redone
    proc = batch("remember", tmp_path / "in" / "types.gguf", "-o", out, "--json", "--dtype", "f32", check=0)
    assert json_lines(proc.stdout)[0]["outputs"] == [str(out / "types-f32.safetensors")]


def test_batch_journal_lines_survive_a_torn_line(tmp_path):
    make_tree(tmp_path / "in")
    out = tmp_path / "out"
    batch("remember", tmp_path / "in", "-o", out, "-q", check=0)
    journal = out / ".amn-batch" / "journal.jsonl"
    lines = journal.read_text().splitlines()
    assert len(lines) == 5 and all(json.loads(line)["outputs"] for line in lines)
    journal.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])  # the last line cut short
    proc = batch("remember", tmp_path / "in", "-o", out, "--json", check=0)
    assert sorted(line["status"] for line in json_lines(proc.stdout)) == ["done"] + ["skipped"] * 4
    proc = batch("remember", tmp_path / "in", "-o", out, "--json", check=0)  # the redone one was journalled
    assert sorted(line["status"] for line in json_lines(proc.stdout)) == ["skipped"] * 5


def test_batch_concurrent_processes_write_each_model_once(tmp_path):
    make_tree(tmp_path / "in")
    out = tmp_path / "out"
    procs = [subprocess.Popen([AMN, "batch", "remember", tmp_path / "in", "-o", out, "--json", "--jobs", "2"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0]
    statuses = [line["status"] for stdout, _ in results for line in json_lines(stdout)]
    assert statuses.count("done") == 5 and statuses.count("skipped") == 10
    journal = (out / ".amn-batch" / "journal.jsonl").read_text().splitlines()
    assert len(journal) == 5 and all(json.loads(line) for line in journal)
    assert len(outputs(out)) == 5


def test_batch_bad_model_fails_alone(tmp_path):
    make_tree(tmp_path / "in")
    hostile = tmp_path / "in" / "a" / "hostile.safetensors"
    hostile.write_bytes((2**62).to_bytes(8, "little") + b"{}")
    unreadable = tmp_path / "in" / "unreadable.gguf"
    shutil.copy(SAMPLE, unreadable)
    unreadable.chmod(0)
    out = tmp_path / "out"
    proc = batch("remember", tmp_path / "in", "-o", out, "--json", check=1)
    lines = {pathlib.Path(line["input"]).name: line for line in json_lines(proc.stdout)}
    assert lines["hostile.safetensors"]["status"] == "failed"
    assert "hostile.safetensors" in lines["hostile.safetensors"]["error"]
    assert [name for name, line in lines.items() if line["status"] == "done"].__len__() >= 5
    if os.geteuid() != 0:  # root reads a mode-0 file
        assert lines["unreadable.gguf"]["status"] == "failed"
    assert "a/hostile-bf16.safetensors" not in outputs(out)
    assert len((out / ".amn-batch" / "journal.jsonl").read_text().splitlines()) == len(lines) - sum(
        line["status"] == "failed" for line in lines.values())


def test_batch_shares_cover_every_model_once(tmp_path):
    make_tree(tmp_path / "in")
    seen = []
    for task in range(3):
        proc = batch("remember", tmp_path / "in", "-o", tmp_path / "out", "--json", "--shard", f"{task}/3", check=0)
        seen += [line["input"] for line in json_lines(proc.stdout)]
    assert len(seen) == len(set(seen)) == 5
    env = dict(os.environ, SLURM_ARRAY_TASK_ID="11", SLURM_ARRAY_TASK_MIN="10", SLURM_ARRAY_TASK_COUNT="3")
    proc = subprocess.run([AMN, "batch", "remember", tmp_path / "in", "-o", tmp_path / "out", "--json", "--dry-run"],
                          env=env, capture_output=True, text=True, check=True)
    again = subprocess.run([AMN, "batch", "remember", tmp_path / "in", "-o", tmp_path / "out", "--json", "--dry-run",
                            "--shard", "1/3"], capture_output=True, text=True, check=True)
    assert [line["input"] for line in json_lines(proc.stdout)] == [line["input"] for line in json_lines(again.stdout)]
    assert batch("remember", tmp_path / "in", "-o", tmp_path / "out", "--shard", "3/3").returncode == 2


def test_batch_output_collision_fails_the_second(tmp_path):
    (tmp_path / "in").mkdir()
    shutil.copy(SAMPLE, tmp_path / "in" / "tiny-Q4_K_M.gguf")
    shutil.copy(SAMPLE, tmp_path / "in" / "tiny-Q8_0.gguf")
    proc = batch("remember", tmp_path / "in", "-o", tmp_path / "out", "--json", check=1)
    lines = {pathlib.Path(line["input"]).name: line for line in json_lines(proc.stdout)}
    assert lines["tiny-Q4_K_M.gguf"]["status"] == "done"
    assert lines["tiny-Q8_0.gguf"]["status"] == "failed" and "also the output of" in lines["tiny-Q8_0.gguf"]["error"]


# --- one model over several tasks: --shard I/N ----------------------------------------------------

def test_shared_model_index_appears_last(tmp_path):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    run("remember", SAMPLE, "-o", f"{whole}/", "--max-shard-size", "100KB", check=0)
    expected = sorted(p.name for p in whole.iterdir())
    assert len(expected) > 4 and "model.safetensors.index.json" in expected
    written = []
    for task in (2, 0, 1):
        assert not (parts / "model.safetensors.index.json").exists()
        summary = json.loads(run("remember", SAMPLE, "-o", f"{parts}/", "--max-shard-size", "100KB", "--shard",
                                 f"{task}/3", "--json", check=0).stdout)
        written += [out["path"] for out in summary["outputs"]]
        assert summary["files_pending"] == (0 if task == 1 else len(expected) - 1 - len(written))
    assert len(written) == len(set(written)) == len(expected) - 1  # every shard once
    assert sorted(p.name for p in parts.iterdir()) == expected
    assert all(digest(whole / name) == digest(parts / name) for name in expected)
    # a rerun of a task keeps its files; a missing one is written again, then the model is whole
    before = {name: (parts / name).stat().st_mtime_ns for name in expected}
    pathlib.Path(written[0]).unlink()  # a shard of task 2 (the first task run)
    summary = json.loads(run("remember", SAMPLE, "-o", f"{parts}/", "--max-shard-size", "100KB", "--shard", "2/3",
                             "--json", check=0).stdout)
    assert [out["kept"] for out in summary["outputs"]].count(False) == 1
    assert all(digest(whole / name) == digest(parts / name) for name in expected)
    assert sum((parts / name).stat().st_mtime_ns != before[name] for name in expected) == 1
