"""Differential fuzzing at a fixed seed (hostile-inputs case 65): 300 mutants of the committed
fixtures per format through amn and the canonical parser (safetensors, gguf-py's GGUFReader,
numpy.load); every disagreement must be a deliberate difference listed in
test/fuzz/differential.py (and docs/security.md). The .pth part (torch.load) is in the clients
suite; longer runs by hand: python3 test/fuzz/differential.py --seed N --mutants M."""
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "test" / "fuzz"))
import differential  # noqa: E402


@pytest.mark.parametrize("fmt", ["safetensors", "gguf", "npy", "npz"])
def test_amn_agrees_with_the_canonical_parser(fmt):
    stats, findings, _ = differential.run([fmt], seed="0", mutants=300)
    assert findings == []
    counts = stats[fmt]
    assert sum(counts.values()) == 300
    # The mutants must exercise both verdicts, or the comparison says nothing.
    assert counts["both refuse"] > 0 and counts["both accept, equal"] > 0
