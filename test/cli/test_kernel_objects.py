"""The AVX2 build of the GGUF quantisers (src/kernels/gguf/quant_avx2.hpp) must keep AVX2 code
inside its own namespace: a function it shares with the scalar build (a standard-library template,
a block helper) compiled with AVX2 could be the copy the linker keeps, and the scalar path would
then run AVX2 instructions on a CPU without them. objdump lists every function of the AVX2
objects; none outside amn::kernels::gguf::avx2 may hold a VEX-encoded (v...) instruction."""
import pathlib
import platform
import re
import shutil
import subprocess

import pytest

from conftest import AMN

OBJECTS = pathlib.Path(AMN).resolve().parents[2] / "src" / "kernels" / "libamn_quant_avx2.a.p"
FUNCTION = re.compile(r"^[0-9a-f]+ <(.*)>:$")


def vex_functions_outside_namespace(obj):
    listing = subprocess.run(["objdump", "-d", "-C", "--no-show-raw-insn", str(obj)], capture_output=True,
                             text=True, check=True).stdout
    found, name = set(), None
    for line in listing.splitlines():
        match = FUNCTION.match(line)
        if match:
            name = match.group(1)
            continue
        fields = line.split("\t")
        if name and "amn::kernels::gguf::avx2" not in name and len(fields) > 1 and fields[1].startswith("v"):
            found.add(name)
    return found


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the AVX2 quantisers are built on x86-64 only")
@pytest.mark.skipif(shutil.which("objdump") is None, reason="objdump (binutils) is not installed")
def test_avx2_quantisers_keep_avx2_code_in_their_namespace():
    objects = sorted(OBJECTS.glob("*.o"))
    assert len(objects) == 5, f"expected the five AVX2 quantiser objects in {OBJECTS}"
    vex_total = 0
    for obj in objects:
        assert vex_functions_outside_namespace(obj) == set(), obj.name
        vex_total += subprocess.run(["objdump", "-d", str(obj)], capture_output=True, text=True).stdout.count("ymm")
    assert vex_total > 0  # the level really uses 256-bit registers (how many depends on -O level)
