#!/usr/bin/env python3
"""Writes test/hostile/json/: JSON read beside the weights that a recursive parser would crash
on or that is too large (shared/docs/hostile-inputs.md case 63), and two manifests (file, error
code, message fragment):

- expect.tsv: files open_model refuses (a model.safetensors.index.json nested 1,000,000 deep),
  checked like every other expect.tsv by test/unit/test_hostile.cpp and test_hostile_cli.py;
- expect_side.tsv: side files (config.json, quantize_config.json) in one folder per case beside
  a valid GPTQ layer whose recognition reads them; `amn remember` and `amn convert --dtype` on
  the folder's model.safetensors must refuse naming the side file (test/unit/test_json.cpp,
  test/cli/test_json_cli.py).

The deep files are valid JSON: 1,000,000 '[' then as many ']'. A config.json just above the 16 MiB
cap is not committed: test_json.cpp and test_hostile_cli.py write it at test time beside a copy
of one folder's model.safetensors.
Run from the repo root: python3 test/hostile/gen_json.py
"""
import os
import shutil

from safetensors.numpy import save_file

from gen_gptq import layer

OUT = "test/hostile/json"
DEPTH = 1_000_000
NESTED = "[" * DEPTH + "]" * DEPTH

# (folder, side file name, text, code, message fragment)
SIDE_CASES = [
    ("63-config-deep", "config.json", '{"quantization_config": ' + NESTED + "}", "limit",
     "nested deeper than 64 levels (at offset 87)"),
    ("63-quantize-config-deep", "quantize_config.json", NESTED, "limit", "nested deeper than 64 levels (at offset 64)"),
    ("63-config-not-object", "config.json", "[1, 2]", "parse", "expected a JSON object"),
    ("63-config-trailing", "config.json", '{"quantization_config": null} {}', "parse",
     "data after the JSON value (at offset 30)"),
    # Found by fuzz_json: rapidjson's full-precision number path ran __builtin_clzll(0) on 0e60.
    ("63-config-zero-exponent", "config.json", '{"quantization_config": {"quant_method": "gptq", "bits": 0e60}}',
     "parse", "bits: expected an integer"),
]

# (file, text, code, message fragment): refused when opened
OPEN_CASES = [
    ("63-index-deep.index.json", '{"metadata": ' + NESTED + ', "weight_map": {"layer.qweight": "model.safetensors"}}',
     "limit", "index: nested deeper than 64 levels (at offset 76)"),
]


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    side = ["# side file\tcode\tmessage fragment (made by test/hostile/gen_json.py; the folder's model.safetensors "
            "is a valid GPTQ layer)"]
    for folder, name, text, code, fragment in SIDE_CASES:
        os.makedirs(os.path.join(OUT, folder))
        save_file(layer(), os.path.join(OUT, folder, "model.safetensors"), metadata={"format": "pt"})
        with open(os.path.join(OUT, folder, name), "w") as out:
            out.write(text)
        side.append(f"{folder}/{name}\t{code}\t{fragment}")
    with open(os.path.join(OUT, "expect_side.tsv"), "w") as manifest:
        manifest.write("\n".join(side) + "\n")
    opened = ["# file\tcode\tmessage fragment (made by test/hostile/gen_json.py)"]
    for name, text, code, fragment in OPEN_CASES:
        with open(os.path.join(OUT, name), "w") as out:
            out.write(text)
        opened.append(f"{name}\t{code}\t{fragment}")
    with open(os.path.join(OUT, "expect.tsv"), "w") as manifest:
        manifest.write("\n".join(opened) + "\n")


if __name__ == "__main__":
    main()
