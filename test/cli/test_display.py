"""Untrusted strings in output (docs/security.md, "Untrusted text in output"; hostile-inputs.md
case 62): tensor names, metadata keys and values, GGUF strings, ZIP member names, index shard and
tensor names and pickle strings holding ESC sequences, CR, C1 controls, bidi overrides, invisible
characters and bytes that are not UTF-8 (test/hostile/inject, made by gen_inject.py) reach
`inspect`, `parse` and `convert` output and error messages only escaped: stdout and stderr are
valid UTF-8 without a raw control (but the line feeds between lines), DEL, C1, bidi or invisible
format character; --json parses and carries the strings (bytes that are not UTF-8 as U+FFFD);
errors are one bounded line."""
import json
import os
import subprocess

import pytest

from conftest import AMN, ROOT

INJECT = ROOT / "test" / "hostile" / "inject"
MAX_ERROR_LINE = len("amn: error: ") + 4096 + 1


def hidden(code_point):
    """amn::io::is_hidden, restated: what must never reach a terminal raw."""
    return (code_point < 0x20 or code_point == 0x7F or 0x80 <= code_point <= 0x9F
            or code_point in (0xAD, 0x61C, 0x180E, 0xFEFF) or 0x200B <= code_point <= 0x200F
            or 0x2028 <= code_point <= 0x202E or 0x2060 <= code_point <= 0x206F
            or 0xFFF9 <= code_point <= 0xFFFB or 0xE0000 <= code_point <= 0xE007F)


def assert_clean(data, what):
    """`data` (bytes) is UTF-8 whose only control character is the line feed."""
    text = data.decode("utf-8")  # raises on bytes that are not UTF-8
    for char in text:
        assert char == "\n" or not hidden(ord(char)), f"{what}: raw U+{ord(char):04X} in {text[:300]!r}"
    return text


def amn(*args):
    proc = subprocess.run([AMN, *map(str, args)], capture_output=True, timeout=60)
    what = " ".join(map(str, args))
    return proc.returncode, assert_clean(proc.stdout, what + " (stdout)"), assert_clean(proc.stderr, what + " (stderr)")


def manifest(name):
    rows = []
    for line in (INJECT / name).read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            rows.append(line.split("\t"))
    return rows


@pytest.mark.parametrize("name,fragment", [pytest.param(*row, id=row[0]) for row in manifest("expect_display.tsv")])
def test_read_files_print_their_strings_escaped(name, fragment):
    path = INJECT / name
    for command in ("inspect", "parse"):
        code, out, err = amn(command, path)
        assert code == 0 and err == "", err
        if command == "parse":
            assert fragment in out, out
        code, out, err = amn(command, path, "--json")
        assert code == 0 and err == ""
        report = json.loads(out)
        assert report["tensor_count"] > 0


def test_json_carries_the_strings():
    code, out, _ = amn("parse", INJECT / "62-st-names.safetensors", "--json")
    report = json.loads(out)
    names = [tensor["name"] for tensor in report["tensors"]]
    assert "evil\x1b[2J\x1b[31mred" in names and "bidi\u202egnp.exe" in names and "tag\U000e0041\U000e007f" in names
    assert "plain é ×" in names  # printable non-ASCII is written as itself
    assert "plain é ×".encode() in out.encode()
    assert report["metadata"]["title\x1b]0;pwned\x07"] == "value\u202e\u2067txt.exe\nline two"
    # GGUF strings that are not UTF-8: each such byte becomes U+FFFD
    code, out, _ = amn("parse", INJECT / "62-gguf-strings.gguf", "--json")
    report = json.loads(out)
    assert report["gguf"]["architecture"] == "llama\x1b[31m\u202e"
    assert report["metadata"]["bad\ufffd\ufffdkey"] == "val\x1b]8;;http://x\x07\ufffd31m\ufffd\ufffd"
    assert report["metadata"]["tokens\x1b[1m"] == ["a\x1b[5m", "b\u202e"]
    assert [tensor["name"] for tensor in report["tensors"]] == ["t\x1b[1m", "u\ufffd\ufffd\ufffd"]


def test_human_report_uses_the_display_notation():
    _, out, _ = amn("parse", INJECT / "62-st-names.safetensors")
    for shown in ("cr\\rover", "bidi\\u202egnp.exe", "iso\\u2066late\\u2069", "c1\\u0085next\\u009b31m",
                  "zw\\u200bsp\\ufeffbom", "tag\\U000e0041\\U000e007f", "del\\x7fete", "back\\\\slash", "plain é ×",
                  "title\\x1b]0;pwned\\x07 = value\\u202e\\u2067txt.exe\\nline two"):
        assert shown in out, shown
    _, out, _ = amn("inspect", INJECT / "62-gguf-strings.gguf")
    assert "architecture llama\\x1b[31m\\u202e," in out


@pytest.mark.parametrize("row", manifest("expect.tsv"), ids=lambda row: row[0])
def test_refusals_are_one_escaped_bounded_line(row):
    name, _code, fragment = row
    for args in (["inspect", INJECT / name], ["parse", INJECT / name, "--json"]):
        code, out, err = amn(*args)
        assert code == 1 and out == ""
        assert err.count("\n") == 1 and err.startswith("amn: error: ") and fragment in err, err
        assert len(err.encode()) <= MAX_ERROR_LINE


def test_a_16_mib_string_never_makes_a_long_message():
    _, _, err = amn("inspect", INJECT / "62-gguf-long-key.gguf")
    assert "(100004 bytes)" in err and len(err) < 400


def test_shard_names_from_an_index_are_escaped(tmp_path):
    (tmp_path / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"w\x1b[31m": "nope\u202e\x1b[8m.safetensors"}}))
    code, out, err = amn("inspect", tmp_path)
    assert code == 1 and out == ""
    assert "nope\\u202e\\x1b[8m.safetensors: cannot open" in err
    code, out, err = amn("inspect", INJECT / "62-index-names", "--json")
    assert code == 0 and json.loads(out)["tensor_count"] == 1


def test_convert_reports_and_plans_escape_names(tmp_path):
    source = INJECT / "62-st-names.safetensors"
    code, out, err = amn("convert", source, "-o", tmp_path / "out.safetensors", "--dry-run")
    assert code == 0
    code, out, err = amn("convert", source, "-o", tmp_path / "out.safetensors", "--json")
    assert code == 0 and json.loads(out)["tensors"] == 10
    code, out, _ = amn("parse", tmp_path / "out.safetensors", "--json")
    assert "evil\x1b[2J\x1b[31mred" in [tensor["name"] for tensor in json.loads(out)["tensors"]]
    # Keys that are not UTF-8 cannot go into a safetensors header: refused, the message escaped.
    code, out, err = amn("convert", INJECT / "62-gguf-strings.gguf", "-o", tmp_path / "g.safetensors")
    assert code == 1 and "key 'bad\\xff\\xfekey' is not valid UTF-8" in err and err.count("\n") == 1
    code, out, err = amn("convert", INJECT / "62-gguf-strings.gguf", "--to", "gguf", "-o", tmp_path / "g.gguf")
    assert code == 0 and "62-gguf-strings.gguf -> " in err
    code, out, err = amn("remember", INJECT / "62-pth-strings.pth", "-o", tmp_path / "p.safetensors", "-q")
    assert code == 0 and os.path.exists(tmp_path / "p.safetensors")
