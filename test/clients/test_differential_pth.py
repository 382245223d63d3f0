"""Differential fuzzing of .pth archives against torch.load(weights_only=True) at a fixed seed
(hostile-inputs case 65): 300 mutants of the committed test/fixtures/pth archives through amn and
torch; every disagreement must be a deliberate difference listed in test/fuzz/differential.py
(and docs/security.md). Needs torch, so it runs in the clients suite (scripts/test.sh --clients)."""
import pathlib
import sys

import torch  # noqa: F401  (the canonical parser; the import fails loudly where it is missing)

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "test" / "fuzz"))
import differential  # noqa: E402


def test_amn_agrees_with_torch_load():
    stats, findings, _ = differential.run(["pth"], seed="0", mutants=300)
    assert findings == []
    counts = stats["pth"]
    assert sum(counts.values()) == 300
    assert counts["both refuse"] > 0 and counts["both accept, equal"] > 0
