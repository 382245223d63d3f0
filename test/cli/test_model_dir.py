"""Hugging Face model directories in and out (`-o DIR/`): weights named and sharded as transformers
writes them, `"format": "pt"` in every safetensors `__metadata__`, config.json edited to describe
what was written, every other non-weight file copied. Fixtures: test/fixtures/hfdir/ (tiny Llama
models saved by transformers, one quantised by compressed-tensors; gen_hfdir.py). That
transformers loads the outputs with the library's logits is checked in
test/clients/test_transformers.py."""
import json
import shutil

import pytest

from conftest import FIXTURES, run, st_load, st_metadata, values

BASE = FIXTURES / "hfdir"
PLAIN = BASE / "tiny-llama"
W4 = BASE / "tiny-llama-w4"
SIDE_FILES = ["README.md", "chat_template.jinja", "generation_config.json", "special_tokens_map.json",
              "tokenizer.json", "tokenizer_config.json"]
COMPANIONS = (".weight_packed", ".weight_scale", ".weight_zero_point", ".weight_shape")


def config(folder):
    return json.loads((folder / "config.json").read_text())


def weights(folder):
    """{name: Tensor} over model.safetensors or the shards the index lists (checked against them)."""
    index = folder / "model.safetensors.index.json"
    if not index.exists():
        return st_load(folder / "model.safetensors")
    weight_map = json.loads(index.read_text())["weight_map"]
    tensors = {}
    for shard in sorted(set(weight_map.values())):
        for name, tensor in st_load(folder / shard).items():
            assert weight_map[name] == shard, name
            tensors[name] = tensor
    assert set(tensors) == set(weight_map)
    return tensors


def test_remember_makes_a_model_directory(tmp_path):
    out = tmp_path / "new" / "dir"
    run("remember", W4, "-o", f"{out}/", "-q", check=0)  # -o DIR/ creates it, parents too
    assert sorted(p.name for p in out.iterdir()) == sorted(SIDE_FILES + ["config.json", "model.safetensors"])
    for name in SIDE_FILES:
        assert (out / name).read_bytes() == (W4 / name).read_bytes(), name
    assert st_metadata(out / "model.safetensors") == {"format": "pt"}
    # the dequantised model has the names and shapes of the unquantised one
    got, plain = weights(out), weights(PLAIN)
    assert {name: (t.shape) for name, t in got.items()} == {name: t.shape for name, t in plain.items()}
    assert all(t.dtype == "BF16" for t in got.values())
    # config.json: the input's, quantization_config gone, dtype and torch_dtype saying what was written
    want = config(W4)
    del want["quantization_config"]
    want["torch_dtype"] = "bfloat16"
    assert config(out) == want


def test_dtype_f32_is_written_in_config(tmp_path):
    run("remember", W4, "--dtype", "f32", "-o", f"{tmp_path}/", "-q", check=0)
    assert config(tmp_path)["dtype"] == config(tmp_path)["torch_dtype"] == "float32"
    assert {t.dtype for t in weights(tmp_path).values()} == {"F32"}


def test_sharded_directory_as_transformers_writes_it(tmp_path):
    out = tmp_path / "out"
    run("remember", W4, "-o", f"{out}/", "--max-shard-size", "60KB", "-q", check=0)
    shards = sorted(p.name for p in out.glob("model-*.safetensors"))
    assert len(shards) > 1
    assert shards == [f"model-{i:05d}-of-{len(shards):05d}.safetensors" for i in range(1, len(shards) + 1)]
    assert not (out / "model.safetensors").exists()
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert index["metadata"]["total_size"] == sum(len(t.data) for t in weights(out).values())
    for shard in shards:
        assert st_metadata(out / shard) == {"format": "pt"}
    single = tmp_path / "single"
    run("remember", W4, "-o", f"{single}/", "-q", check=0)
    assert weights(out) == weights(single)
    assert all((out / name).exists() for name in SIDE_FILES + ["config.json"])


def test_sharded_input_directory(tmp_path):
    sharded = tmp_path / "sharded"
    run("remember", W4, "-o", f"{sharded}/", "--max-shard-size", "60KB", "-q", check=0)
    again = tmp_path / "again"
    run("convert", sharded, "-o", f"{again}/", "-q", check=0)
    assert weights(again) == weights(sharded)
    assert (again / "config.json").read_bytes() == (sharded / "config.json").read_bytes()  # lossless: as it was
    assert sorted(p.name for p in again.iterdir()) == sorted(SIDE_FILES + ["config.json", "model.safetensors"])


def test_lossless_convert_keeps_quantisation_and_config(tmp_path):
    run("convert", W4, "-o", f"{tmp_path}/", "-q", check=0)
    assert (tmp_path / "config.json").read_bytes() == (W4 / "config.json").read_bytes()
    out = weights(tmp_path)
    assert any(name.endswith(COMPANIONS) for name in out)
    assert out == st_load(W4 / "model.safetensors")


def test_quantize_config_json_is_left_behind_by_remember(tmp_path):
    model = tmp_path / "model"
    shutil.copytree(PLAIN, model)
    (model / "quantize_config.json").write_text('{"bits": 4}')
    (model / ".gitattributes").write_text("*.safetensors filter=lfs\n")
    (model / "training_args.bin").write_bytes((FIXTURES / "pth" / "checkpoint.pt").read_bytes())  # a pickle: weights
    (model / "original").mkdir()
    (model / "original" / "params.json").write_text("{}")
    weights_file = model / "model.safetensors"  # a weight file inside a model directory: the directory follows
    run("convert", weights_file, "-o", f"{tmp_path}/kept/", "-q", check=0)
    assert (tmp_path / "kept" / "quantize_config.json").exists()
    run("remember", weights_file, "-o", f"{tmp_path}/out/", "-q", check=0)
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted(SIDE_FILES + ["config.json", "model.safetensors"])
    # the directory itself: its safetensors weights are read, the pickle beside them is not (as transformers)
    run("remember", model, "-o", f"{tmp_path}/whole/", "-q", check=0)
    assert weights(tmp_path / "whole") == weights(tmp_path / "out")


def test_config_edit_keeps_numbers_and_escapes_strings(tmp_path):
    model = tmp_path / "model"
    shutil.copytree(PLAIN, model)
    text = ('{"rms_norm_eps": 1e-06, "big": 18446744073709551615, "neg": -0.0, "name": "a\\"b\\u00e9\\n",'
            ' "quantization_config": {"x": [1, {"y": 2}]}, "torch_dtype": "float16", "nested": {"torch_dtype": "x"}}')
    (model / "config.json").write_text(text)
    run("remember", model, "--dtype", "f16", "-o", f"{tmp_path}/out/", "-q", check=0)
    written = (tmp_path / "out" / "config.json").read_text()
    assert "1e-06" in written and "18446744073709551615" in written and "-0.0" in written
    assert json.loads(written) == {"rms_norm_eps": 1e-06, "big": 18446744073709551615, "neg": -0.0,
                                   "name": 'a"b\u00e9\n', "torch_dtype": "float16", "nested": {"torch_dtype": "x"},
                                   "dtype": "float16"}


@pytest.mark.parametrize("text, message", [("[1, 2]", "expected a JSON object"), ('{"a": ', "invalid JSON"),
                                           ('{"a": 1} x', "data after")])
def test_bad_config_is_refused_before_writing(tmp_path, text, message):
    model = tmp_path / "model"
    shutil.copytree(PLAIN, model)
    (model / "config.json").write_text(text)
    proc = run("remember", model, "-o", f"{tmp_path}/out/", check=1)
    assert "config.json" in proc.stderr and message in proc.stderr
    assert not (tmp_path / "out").exists()


def test_existing_side_file_needs_force(tmp_path):
    (tmp_path / "tokenizer.json").write_text("old")
    proc = run("remember", W4, "-o", tmp_path, check=2)
    assert "tokenizer.json: exists" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokenizer.json"]
    run("remember", W4, "-o", tmp_path, "--force", "-q", check=0)
    assert (tmp_path / "tokenizer.json").read_bytes() == (W4 / "tokenizer.json").read_bytes()


def test_dry_run_lists_side_files_and_writes_nothing(tmp_path):
    proc = run("remember", W4, "-o", f"{tmp_path}/out/", "--dry-run", "--json", check=0)
    report = json.loads(proc.stdout)
    assert sorted(p.rsplit("/", 1)[1] for p in report["files"]) == sorted(SIDE_FILES + ["config.json"])
    assert not (tmp_path / "out").exists()


def test_a_file_output_gets_no_side_files(tmp_path):
    run("remember", W4, "-o", tmp_path / "x.safetensors", "-q", check=0)
    assert [p.name for p in tmp_path.iterdir()] == ["x.safetensors"]
    assert st_metadata(tmp_path / "x.safetensors") == {"format": "pt"}


@pytest.mark.parametrize("dtype, want, summary", [
    (None, {"model.layers.0.input_layernorm.weight": "F16", "model.layers.0.self_attn.q_proj.bias": "F16"},
     "dequantised 2 (to BF16), kept 2 (F16)"),
    ("bf16", {"model.layers.0.input_layernorm.weight": "BF16", "model.layers.0.self_attn.q_proj.bias": "BF16"},
     "dequantised 2 (to BF16), cast 2 (F16 to BF16)"),
])
def test_remember_dtype_rule_and_summary(tmp_path, dtype, want, summary):
    """Without --dtype only dequantised tensors are BF16 (the rest as stored); --dtype narrows every float."""
    source = FIXTURES / "gptq" / "4bit-g128-sym" / "model.safetensors"
    out = tmp_path / "out.safetensors"
    proc = run("remember", source, "-o", out, *(["--dtype", dtype] if dtype else []), check=0)
    assert proc.stderr.splitlines()[-1] == "amn: " + summary
    got = st_load(out)
    assert {name: got[name].dtype for name in want} == want
    assert got["model.layers.0.self_attn.q_proj.weight"].dtype == "BF16"
    report = json.loads(run("remember", source, "-o", out, "--force", "--json", *(["--dtype", dtype] if dtype else []),
                            check=0).stdout)
    assert report["summary"] == summary


@pytest.mark.parametrize("case", ["tiny-llama-w4", "tiny-llama-w8", "tiny-llama-fp8", "tiny-llama-fp8-tensor",
                                  "tiny-llama-gptq4", "tiny-llama-awq4"])
def test_remember_f32_is_the_library_decompression(case, tmp_path):
    """compressed-tensors computes in the scale's dtype (bf16 here), GPTQModel and AutoAWQ in float16:
    `--dtype f32` widens exactly those values (FP8 included), which are what test_transformers.py's logits rest on."""
    run("remember", BASE / case, "--dtype", "f32", "-o", f"{tmp_path}/", "-q", check=0)
    got = weights(tmp_path)
    for name, want in st_load(BASE / f"{case}.layer0.safetensors").items():
        assert want.dtype == ("F16" if "gptq" in case or "awq" in case else "BF16")
        assert got[name].dtype == "F32" and got[name].shape == want.shape, name
        assert (values(got[name]) == values(want)).all(), name


def test_weights_of_an_earlier_output_are_refused_then_removed_with_force(tmp_path):
    """A model.safetensors left beside new shards would be loaded instead of them: without --force
    nothing is written, with it the earlier weights are removed (as save_pretrained does)."""
    run("remember", W4, "-o", f"{tmp_path}/", "-q", check=0)
    run("remember", W4, "-o", f"{tmp_path}/", "--max-shard-size", "60KB", "--force", "-q", check=0)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "model.safetensors" not in names and "model.safetensors.index.json" in names
    for name in SIDE_FILES + ["config.json"]:
        (tmp_path / name).unlink()
    shards = sorted(p.name for p in tmp_path.iterdir())
    proc = run("remember", W4, "-o", f"{tmp_path}/", check=2)  # back to one file: the shards are in the way
    assert "model-00001-of-" in proc.stderr and "use --force to remove it" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == shards
    run("remember", W4, "-o", f"{tmp_path}/", "--force", "-q", check=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(SIDE_FILES + ["config.json", "model.safetensors"])


def test_sharded_pickles_with_their_index(tmp_path):
    """transformers 4.x's pytorch_model-0000i-of-0000N.bin + pytorch_model.bin.index.json, read through
    the index, give the safetensors model's tensors."""
    run("convert", BASE / "tiny-llama-bin", "-o", f"{tmp_path}/", "-q", check=0)
    assert weights(tmp_path) == weights(PLAIN)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(SIDE_FILES + ["config.json", "model.safetensors"])
    index = BASE / "tiny-llama-bin" / "pytorch_model.bin.index.json"
    assert json.loads(run("inspect", index, "--json", check=0).stdout)["tensor_count"] == len(weights(PLAIN))



def test_model_safetensors_and_pytorch_model_bin_are_the_model_as_transformers_reads_it(tmp_path):
    """Without an index, from_pretrained(DIR) reads model.safetensors alone, else pytorch_model.bin:
    a consolidated.safetensors (Mistral's repositories) or a PEFT adapter_model.safetensors beside
    it, or a Trainer checkpoint's optimizer.pt and rng_state.pth beside the pickle, are not the model."""
    model = tmp_path / "model"
    shutil.copytree(PLAIN, model)
    shutil.copy(W4 / "model.safetensors", model / "consolidated.safetensors")  # same names, other tensors
    shutil.copy(BASE / "tiny-llama-w4.layer0.safetensors", model / "adapter_model.safetensors")
    run("convert", model, "-o", f"{tmp_path}/out/", "-q", check=0)
    assert weights(tmp_path / "out") == weights(PLAIN)
    trainer = tmp_path / "trainer"
    trainer.mkdir()
    shutil.copy(PLAIN / "config.json", trainer)
    shutil.copy(BASE / "tiny-llama-bin" / "pytorch_model-00001-of-00003.bin", trainer / "pytorch_model.bin")
    for name in ("optimizer.pt", "rng_state.pth"):
        shutil.copy(FIXTURES / "pth" / "checkpoint.pt", trainer / name)
    report = json.loads(run("inspect", trainer, "--json", check=0).stdout)
    assert report["files"] == [str(trainer / "pytorch_model.bin")], report["files"]


def test_a_directory_output_that_cannot_be_made_is_an_error_naming_it(tmp_path):
    """-o DIR/ where a file stands in the way: `amn: error: DIR: cannot create this directory: ...`,
    exit 1, nothing written (it was std::filesystem's own message, naming no file first)."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    for out in (f"{blocker}/", f"{blocker}/sub/"):
        proc = run("remember", W4, "-o", out, check=1)
        assert proc.stderr.startswith(f"amn: error: {out}: cannot create this directory: "), proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
