"""Covers amn as a C++ library: the example program examples/read_and_convert.cpp (built against
libamn and the public headers) checked against `amn parse --json` and `amn remember`, and
`meson install --destdir`: libamn, the public headers and amn.pc, with a program compiled by
`c++ -std=c++20 $(pkg-config --cflags --libs amn)` against that install."""
import json
import os
import pathlib
import shutil
import subprocess

import numpy as np
import pytest

from conftest import AMN, ROOT, SANITIZED, run, st_load, values

SAMPLE = ROOT / "samples" / "tiny-llama.gguf"
# The build directory holding the amn binary under test (BUILD/src/cli/amn).
BUILD = pathlib.Path(AMN).resolve().parents[2]
EXAMPLE = os.environ.get("AMN_EXAMPLE", str(BUILD / "examples" / "read_and_convert"))


def run_example(*args, check=0):
    proc = subprocess.run([EXAMPLE, *map(str, args)], capture_output=True, text=True, timeout=120)
    if check is not None:
        assert proc.returncode == check, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return proc


def records(stdout):
    """{kind: [fields...]} from the example's tab-separated lines."""
    out = {}
    for line in stdout.splitlines():
        kind, *fields = line.split("\t")
        out.setdefault(kind, []).append(fields)
    return out


def test_example_lists_reads_and_converts_as_amn_does(tmp_path):
    proc = run_example(SAMPLE, tmp_path / "example.safetensors")
    got = records(proc.stdout)
    want = json.loads(run("parse", SAMPLE, "--json", check=0).stdout)

    # the listing is amn parse's
    [model] = got["model"]
    assert model == [str(SAMPLE), want["format"], str(want["tensor_count"]), str(want["total_bytes"])]
    listed = [(name, dtype, [int(dim) for dim in shape.split(",") if dim], int(size)) for name, dtype, shape, size in got["tensor"]]
    assert listed == [(t["name"], t["dtype"], t["shape"], t["bytes"]) for t in want["tensors"]]

    # the first rows read as F32 are amn remember --dtype f32's values, bit for bit
    run("remember", SAMPLE, "--dtype", "f32", "-o", tmp_path / "f32.safetensors", "-q", check=0)
    reference = st_load(tmp_path / "f32.safetensors")
    rows = got["row"]
    assert [row[1] for row in rows] == ["0", "1"]
    name = rows[0][0]
    assert name == want["tensors"][0]["name"]  # the first tensor readable as F32
    expected = values(reference[name])
    for row_name, row_idx, text in rows:
        printed = np.array([float(value) for value in text.split(" ")], dtype=np.float32)
        assert row_name == name
        assert printed.tobytes() == expected[int(row_idx)].astype("<f4").tobytes(), f"row {row_idx}"

    # the progress callback ran, ending with every byte and tensor done
    progress = [[int(field) for field in fields] for fields in got["progress"]]
    assert progress, "no progress line"
    assert all(earlier[0] <= later[0] for earlier, later in zip(progress, progress[1:]))
    assert progress[-1][0] == progress[-1][1] > 0
    assert progress[-1][2] == progress[-1][3] == want["tensor_count"]

    # the conversion wrote what `amn remember` writes
    run("remember", SAMPLE, "-o", tmp_path / "amn.safetensors", "-q", check=0)
    [wrote] = got["wrote"]
    assert wrote == [str(tmp_path / "example.safetensors"), str(progress[-1][1])]
    assert (tmp_path / "example.safetensors").read_bytes() == (tmp_path / "amn.safetensors").read_bytes()


def test_example_reads_a_named_tensor_and_reports_errors(tmp_path):
    proc = run_example(SAMPLE, tmp_path / "out.safetensors", "blk.0.ffn_down.weight")
    rows = records(proc.stdout)["row"]
    assert [row[:2] for row in rows] == [["blk.0.ffn_down.weight", "0"], ["blk.0.ffn_down.weight", "1"]]
    assert len(rows[0][2].split(" ")) == 256

    proc = run_example(tmp_path / "missing.gguf", tmp_path / "out2.safetensors", check=1)
    assert proc.stderr.startswith("read_and_convert: error: ")
    assert "missing.gguf" in proc.stderr
    assert not (tmp_path / "out2.safetensors").exists()
    proc = run_example(SAMPLE, tmp_path / "out3.safetensors", "no.such.tensor", check=1)
    assert "no tensor named 'no.such.tensor'" in proc.stderr
    assert run_example(SAMPLE, check=2).stderr.startswith("usage: ")


PROGRAM = r"""
#include <amn/amn.hpp>
#include <amn/reader.hpp>

#include <cstdio>
#include <span>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  try {
    const amn::Catalog catalog = amn::open_model(argv[1]);
    const amn::TensorReader reader(catalog);
    const size_t tensor_idx = *reader.find("blk.0.attn_q.weight");
    std::vector<float> row(reader.row_elems(tensor_idx));
    reader.read(tensor_idx, 1, 1, amn::DType::F32, std::as_writable_bytes(std::span(row)));
    std::printf("%s %zu %zu %.9g\n", amn::version(), catalog.tensors.size(), row.size(), static_cast<double>(row[0]));
  } catch (const amn::Error& error) {
    std::fprintf(stderr, "%s\n", error.what());
    return 1;
  }
  return 0;
}
"""


def test_meson_install_gives_a_library_headers_and_pkg_config_a_program_builds_with(tmp_path):
    compiler = shutil.which(os.environ.get("CXX", "c++"))
    pkg_config = shutil.which("pkg-config")
    if not compiler or not pkg_config:
        pytest.skip("needs a C++ compiler (c++) and pkg-config")
    dest = tmp_path / "dest"
    subprocess.run(["meson", "install", "-C", str(BUILD), "--no-rebuild", "--quiet", "--destdir", str(dest)],
                   check=True, capture_output=True, timeout=300)

    # the headers of include/amn, the library, amn.pc
    [include_dir] = [path for path in dest.rglob("include/amn") if path.is_dir()]
    assert sorted(path.name for path in include_dir.iterdir()) == sorted(path.name for path in (ROOT / "include" / "amn").glob("*.hpp"))
    libraries = sorted(dest.rglob("libamn.*"))
    assert libraries, "no libamn installed"
    [pc_file] = list(dest.rglob("pkgconfig/amn.pc"))
    pc_text = pc_file.read_text()
    for module, flag in [("tbb", "-ltbb"), ("libdeflate", "-ldeflate"), ("zlib", "-lz")]:
        assert module in pc_text or flag in pc_text, f"amn.pc does not carry {module}"

    # pkg-config reads the install through the destdir as its sysroot
    env = dict(os.environ, PKG_CONFIG_PATH=str(pc_file.parent), PKG_CONFIG_SYSROOT_DIR=str(dest))
    flags = subprocess.run([pkg_config, "--cflags", "--libs", "amn"], env=env, check=True, capture_output=True,
                           text=True).stdout.split()
    assert f"-I{include_dir.parent}" in flags and "-lamn" in flags, flags

    source = tmp_path / "program.cpp"
    source.write_text(PROGRAM)
    sanitize = ["-fsanitize=address,undefined"] if SANITIZED else []
    build = subprocess.run([compiler, "-std=c++20", *sanitize, str(source), "-o", str(tmp_path / "program"), *flags],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    lib_dir = [path.parent for path in libraries][0]
    proc = subprocess.run([str(tmp_path / "program"), str(SAMPLE)], env=dict(os.environ, LD_LIBRARY_PATH=str(lib_dir)),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr

    # the values are the example's (and so amn remember's) for that row
    version, tensors, row_elems, first = proc.stdout.split()
    assert version == run("--version", check=0).stdout.split()[-1]
    assert (int(tensors), int(row_elems)) == (21, 128)
    rows = records(run_example(SAMPLE, tmp_path / "out.safetensors", "blk.0.attn_q.weight").stdout)["row"]
    assert first == rows[1][2].split(" ")[0]
