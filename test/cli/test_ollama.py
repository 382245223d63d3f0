"""`ollama:NAME[:TAG]` inputs, resolved in a fake Ollama store that each test builds
(OLLAMA_MODELS): manifests/registry.ollama.ai/NAMESPACE/MODEL/TAG -> the layer of media type
application/vnd.ollama.image.model -> blobs/sha256-<hex>. Hostile names, manifests and
symlinks are refused with a message and nothing is read outside the store."""
import hashlib
import json
import os
import subprocess

import pytest

from conftest import AMN, ROOT, run

SAMPLE = ROOT / "samples" / "tiny-llama.gguf"
MODEL_MEDIA = "application/vnd.ollama.image.model"


def amn_env(store, *args, home=None):
    env = dict(os.environ, OLLAMA_MODELS=str(store))
    if store is None:
        del env["OLLAMA_MODELS"]
        env["HOME"] = str(home)
    return subprocess.run([AMN, *map(str, args)], capture_output=True, text=True, env=env, timeout=120)


def add_model(store, namespace, model, tag, blob=SAMPLE, manifest=None):
    """Puts `blob` in the store under NAMESPACE/MODEL:TAG, with a manifest as `ollama pull` writes it
    (or `manifest`, bytes or a dict, instead). Returns the manifest path."""
    data = blob.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    blobs = store / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    (blobs / f"sha256-{digest}").write_bytes(data)
    if manifest is None:
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": "sha256:" + "0" * 64, "size": 2},
            "layers": [
                {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + "1" * 64, "size": 10},
                {"mediaType": MODEL_MEDIA, "digest": f"sha256:{digest}", "size": len(data)},
            ],
        }
    path = store / "manifests" / "registry.ollama.ai" / namespace / model / tag
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode())
    return path


@pytest.fixture
def store(tmp_path):
    root = tmp_path / "models"
    add_model(root, "library", "tiny", "latest")
    add_model(root, "library", "tiny", "q4.0-x_y")
    add_model(root, "someone", "tiny.v2", "7b")
    return root


@pytest.mark.parametrize("name", ["ollama:tiny", "ollama:tiny:latest", "ollama:tiny:q4.0-x_y", "ollama:someone/tiny.v2:7b",
                                  "ollama:library/tiny", "ollama:TINY:Latest"])
def test_names_resolve_to_the_blob(store, name):
    got = amn_env(store, "parse", name, "--json")
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["tensors"] == json.loads(run("parse", SAMPLE, "--json", check=0).stdout)["tensors"]


def test_remember_from_ollama_equals_the_file(store, tmp_path):
    expected, out = tmp_path / "ref.safetensors", tmp_path / "out.safetensors"
    run("remember", SAMPLE, "-o", expected, "-q", check=0)
    got = amn_env(store, "remember", "ollama:tiny", "-o", out, "-q")
    assert got.returncode == 0, got.stderr
    assert out.read_bytes() == expected.read_bytes()


def test_default_store_is_under_home(tmp_path):
    add_model(tmp_path / ".ollama" / "models", "library", "tiny", "latest")
    got = amn_env(None, "inspect", "ollama:tiny", home=tmp_path)
    assert got.returncode == 0, got.stderr
    assert "GGUF v3" in got.stdout


@pytest.mark.parametrize("name", [
    "ollama:", "ollama:../tiny", "ollama:tiny/../../x", "ollama:a/b/c", "ollama:/etc/passwd", "ollama:tiny:../../x",
    "ollama:tiny:", "ollama:.hidden", "ollama:-dash", "ollama:ti..ny", "ollama:name.space/tiny", "ollama:" + "x" * 81,
    "ollama:tiny:" + "t" * 81, "ollama:ti ny", "ollama:tiny\\x", "ollama:tin\x1by", "ollama:a:b:c",
])
def test_invalid_names_are_refused(store, name):
    got = amn_env(store, "inspect", name)
    assert got.returncode == 2, got
    assert "is not a valid Ollama name part" in got.stderr, got.stderr
    assert "\x1b" not in got.stderr  # printed through the escaping helper


def test_missing_model_and_store(store, tmp_path):
    got = amn_env(store, "inspect", "ollama:absent")
    assert got.returncode == 1 and "no manifest" in got.stderr, got.stderr  # as a missing file
    got = amn_env(tmp_path / "nowhere", "inspect", "ollama:tiny")
    assert got.returncode == 1 and "no Ollama store" in got.stderr, got.stderr


DIGEST = "sha256:" + hashlib.sha256(SAMPLE.read_bytes()).hexdigest()


@pytest.mark.parametrize("manifest,message", [
    (b"not json", "invalid JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b"{}", "no \"layers\" array"),
    (json.dumps({"layers": {"a": 1}}).encode(), "no \"layers\" array"),
    (json.dumps({"layers": [1]}).encode(), "a layer is not an object"),
    (json.dumps({"layers": [{"mediaType": "application/vnd.ollama.image.license", "digest": DIGEST}]}).encode(),
     "no layer of media type"),
    (json.dumps({"layers": [{"mediaType": MODEL_MEDIA}]}).encode(), "has no digest"),
    (json.dumps({"layers": [{"mediaType": MODEL_MEDIA, "digest": "sha256:../../../../etc/passwd"}]}).encode(),
     "is not sha256:<64 lower-case hex digits>"),
    (json.dumps({"layers": [{"mediaType": MODEL_MEDIA, "digest": DIGEST.upper()}]}).encode(), "is not sha256:"),
    (json.dumps({"layers": [{"mediaType": MODEL_MEDIA, "digest": DIGEST[:-1]}]}).encode(), "is not sha256:"),
    (json.dumps({"layers": [{"mediaType": MODEL_MEDIA, "digest": DIGEST.replace(":", "-")}]}).encode(), "is not sha256:"),
    (json.dumps({"layers": [{"mediaType": MODEL_MEDIA, "digest": DIGEST + "/x"}]}).encode(), "is not sha256:"),
    (json.dumps({"layers": [{"mediaType": MODEL_MEDIA, "digest": "sha256:" + "a" * 64}]}).encode(), "no blob"),
    (b"[" * 100 + b"]" * 100, "nested deeper than 64"),
    (b'{"layers": []}' + b" " * (1 << 20), "above the cap"),
], ids=lambda value: value[:24] if isinstance(value, bytes) else None)
def test_hostile_manifests_are_refused(tmp_path, manifest, message):
    store = tmp_path / "models"
    add_model(store, "library", "bad", "latest", manifest=manifest)
    got = amn_env(store, "inspect", "ollama:bad")
    assert got.returncode in (1, 2), got
    assert message in got.stderr, got.stderr


def test_symlinks_leaving_the_store_are_refused(tmp_path):
    store = tmp_path / "models"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "model.gguf").write_bytes(SAMPLE.read_bytes())
    # a manifest that is a link to a file outside the store
    manifest = add_model(store, "library", "linked", "latest")
    (outside / "manifest").write_bytes(manifest.read_bytes())
    manifest.unlink()
    manifest.symlink_to(outside / "manifest")
    got = amn_env(store, "inspect", "ollama:linked")
    assert got.returncode == 1 and "leads outside the Ollama store" in got.stderr, got.stderr
    # a blob that is a link to a file outside the store
    add_model(store, "library", "tiny", "latest")
    blob = store / "blobs" / ("sha256-" + DIGEST.split(":")[1])
    blob.unlink()
    blob.symlink_to(outside / "model.gguf")
    got = amn_env(store, "inspect", "ollama:tiny")
    assert got.returncode == 1 and "leads outside the Ollama store" in got.stderr, got.stderr
    # a link inside the store is followed, as Ollama's own files may be
    blob.unlink()
    (store / "blobs" / "real").write_bytes(SAMPLE.read_bytes())
    blob.symlink_to(store / "blobs" / "real")
    got = amn_env(store, "inspect", "ollama:tiny")
    assert got.returncode == 0, got.stderr


def test_a_manifest_that_is_not_a_regular_file(tmp_path):
    store = tmp_path / "models"
    manifest = add_model(store, "library", "dir", "latest")
    manifest.unlink()
    manifest.mkdir()
    got = amn_env(store, "inspect", "ollama:dir")
    assert got.returncode == 1 and "not a regular file" in got.stderr, got.stderr
