from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))

from oracle import SHARED  # noqa: E402


@pytest.fixture(scope="session")
def shared() -> Path:
    """The public captures beside the repository (skip when absent)."""
    if not (SHARED / "MANIFEST.tsv").exists():
        pytest.skip("../shared/captures is not present")
    return SHARED
