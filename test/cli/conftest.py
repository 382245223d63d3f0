"""Shared helpers for the CLI tests: run the built `amn` binary and find fixtures."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "test" / "fixtures"
AMN = os.environ.get("AMN_BIN", str(ROOT / "build" / "src" / "cli" / "amn"))
# Set by `scripts/test.sh --sanitize`: amn is an ASan/UBSan build, slower and with a large RSS.
SANITIZED = bool(os.environ.get("AMN_SANITIZE"))


def run(*args, check=None):
    """Runs amn with `args`; `check` = expected exit status (None: don't check)."""
    proc = subprocess.run([AMN, *map(str, args)], capture_output=True, text=True, timeout=120)
    if check is not None:
        assert proc.returncode == check, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return proc


@pytest.fixture
def amn():
    return run


def fixture_files(folder, *suffixes):
    """Sorted fixture files in test/fixtures/<folder> ending in one of `suffixes`."""
    base = FIXTURES / folder
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if p.is_file() and p.name.endswith(suffixes))
