"""Shared by the scheme hostile generators (gen_gptq.py, gen_awq.py): writes each case as a
safetensors file and lists it in expect_remember.tsv (file, error code, message fragment)."""
import os

from safetensors.numpy import save_file


def write_cases(out, generator, layer, cases):
    """Empties `out`, then writes every (name, changes, metadata, code, fragment) of `cases`: the
    tensors of layer() with `changes` applied (a None value removes the tensor), saved with
    `metadata` as out/name.safetensors, and its line in out/expect_remember.tsv."""
    os.makedirs(out, exist_ok=True)
    for stale in os.listdir(out):
        os.remove(os.path.join(out, stale))
    lines = [f"# file\tcode\tmessage fragment (made by test/hostile/{generator}; "
             "checked by test/unit and test_hostile_cli.py)"]
    for name, changes, metadata, code, fragment in cases:
        tensors = layer()
        for key, value in changes.items():
            if value is None:
                tensors.pop(key)
            else:
                tensors[key] = value
        file = name + ".safetensors"
        save_file(tensors, os.path.join(out, file), metadata=metadata)
        lines.append(f"{file}\t{code}\t{fragment}")
    with open(os.path.join(out, "expect_remember.tsv"), "w") as manifest:
        manifest.write("\n".join(lines) + "\n")
