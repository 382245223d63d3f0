"""`amn convert --to fp8 --scheme tensor|channel|block` against llm-compressor itself: its oneshot
with the FP8 / FP8_DYNAMIC / FP8_BLOCK presets (test/fixtures/encode/llmc/, made by
test/fixtures/gen/gen_llmc_fp8.py in a venv with llmcompressor 0.14.0.1). Every weight and
weight_scale byte for byte, on test/fixtures/hfdir/tiny-llama in bf16, f16 and f32 and on a wider
Llama with partial 128x128 blocks and all-zero groups, and config.json's quantization_config field
by field (amn writes the weights' scheme only; the differences are listed in config_differences)."""
import json

import pytest

from conftest import FIXTURES, assert_same_tensor, run, st_load

BASE = FIXTURES / "encode" / "llmc"
TINY = FIXTURES / "hfdir" / "tiny-llama"
PRESETS = {"tensor": "FP8", "channel": "FP8_DYNAMIC", "block": "FP8_BLOCK"}
CONFIGS = json.loads((BASE / "quantization_config.json").read_text())


def assert_quantised_like(out, want):
    """`out` holds llm-compressor's weight and weight_scale tensors bit for bit, and quantises no
    other module (lm_head stays as it was)."""
    assert {n for n in out if n.endswith("_scale")} == {n for n in want if n.endswith("_scale")}
    for name, tensor in want.items():
        assert_same_tensor(out[name], tensor, name)


@pytest.mark.parametrize("dtype", ["bf16", "f16", "f32"])
@pytest.mark.parametrize("scheme", PRESETS)
def test_tiny_llama_equals_llm_compressor(scheme, dtype, tmp_path):
    source = TINY
    if dtype != "bf16":  # llm-compressor loaded the model in this dtype (torch's cast)
        source = tmp_path / "in"
        run("convert", TINY, "--dtype", dtype, "-o", f"{source}/", "-q", check=0)
    out = tmp_path / "out"
    run("convert", source, "--to", "fp8", "--scheme", scheme, "-o", f"{out}/", "-q", check=0)
    assert_quantised_like(st_load(out / "model.safetensors"), st_load(BASE / f"tiny-llama-{scheme}-{dtype}.safetensors"))


@pytest.mark.parametrize("scheme", PRESETS)
def test_partial_blocks_and_zero_groups_equal_llm_compressor(scheme, tmp_path):
    out = tmp_path / "out.safetensors"
    run("convert", BASE / "wide-llama.safetensors", "--to", "fp8", "--scheme", scheme, "-o", out, "-q", check=0)
    assert_quantised_like(st_load(out), st_load(BASE / f"wide-llama-{scheme}.safetensors"))


def config_differences(amn, llmc):
    """What differs between amn's quantization_config and llm-compressor's for the same weights'
    scheme, with the keys that are known to differ checked here and left out:
    - weights: llm-compressor records its calibration settings (observer "memoryless_minmax",
      observer_kwargs {}) and the unset fields (actorder, scale_dtype, zp_dtype, block_structure) as
      null; compressed-tensors reads both to the same QuantizationArgs but the observer.
    - format: llm-compressor names a weights-only float scheme "naive-quantized" and a scheme that
      also quantises activations "float-quantized" (compressed-tensors' infer_module_format); both
      are one compressor (FloatQuantizationCompressor subclasses NaiveQuantizationCompressor and
      changes only can_compress). amn writes "float-quantized", as the presets get.
    - version, sparsity_config {}, transform_config {}: added by llm-compressor's ModelCompressor;
      moe_sparsity_config null: compressed-tensors 0.20's QuantizationConfig field (amn follows it).
    """
    amn, llmc = json.loads(json.dumps(amn)), json.loads(json.dumps(llmc))
    amn_group, llmc_group = amn["config_groups"]["group_0"], llmc["config_groups"]["group_0"]
    for key in set(llmc_group["weights"]) - set(amn_group["weights"]):
        value = llmc_group["weights"].pop(key)
        assert value is None or (key, value) in [("observer", "memoryless_minmax"), ("observer_kwargs", {})], key
    for group in (amn_group, llmc_group):
        group.pop("format")
    assert llmc.pop("format") == "naive-quantized" and amn.pop("format") == "float-quantized"
    assert llmc.pop("sparsity_config") == {} and llmc.pop("transform_config") == {} and llmc.pop("version")
    assert amn.pop("moe_sparsity_config") is None
    return {key for key in set(amn) | set(llmc) if amn.get(key) != llmc.get(key)}


@pytest.mark.parametrize("scheme", PRESETS)
def test_config_is_llm_compressors_for_the_weights(scheme, tmp_path):
    out = tmp_path / "out"
    run("convert", TINY, "--to", "fp8", "--scheme", scheme, "-o", f"{out}/", "-q", check=0)
    amn = json.loads((out / "config.json").read_text())["quantization_config"]
    preset, weights_only = CONFIGS[PRESETS[scheme]], CONFIGS[f"weights-only {PRESETS[scheme]}"]
    assert config_differences(amn, weights_only) == set()
    # The preset's weights are the same; it also quantises activations (FP8: a static input_scale
    # calibrated on data, which amn does not have; FP8_DYNAMIC / FP8_BLOCK: at run time), and names
    # the format as amn does.
    assert preset["config_groups"]["group_0"]["weights"] == weights_only["config_groups"]["group_0"]["weights"]
    assert preset["config_groups"]["group_0"]["input_activations"] is not None
    assert amn["config_groups"]["group_0"]["input_activations"] is None
    assert amn["format"] == preset["format"]
