"""Shared fixtures: the real recorded data, the bundled sample store, empty stores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MMTS_SHARED_DATA", ROOT.parent / "shared" / "data"))
SAMPLE_STORE = ROOT / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real recordings (../shared/data). CI always has them; elsewhere a test skips."""
    if not (SHARED_DATA / "binance-ws").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"shared data missing at {SHARED_DATA}: CI must run beside shared/")
        pytest.skip(f"shared data not found at {SHARED_DATA} (set MMTS_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def sample_store_path() -> Path:
    """The bundled sample store in the repository's data/ folder."""
    return SAMPLE_STORE
