"""mmts features build: tables written beside the data, rebuilt ranges merged, not lost."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mmts.cli.main import main
from mmts.data import open_store
from mmts.features import cob


@pytest.fixture
def store_copy(sample_store_path: Path, tmp_path: Path) -> Path:
    target = tmp_path / "store"
    shutil.copytree(sample_store_path, target, ignore=shutil.ignore_patterns("README.md"))
    return target


@pytest.mark.slow
def test_build_stores_cob_and_pivots(store_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["features", "build", "--store", str(store_copy), "--symbol", "ETH/USDT", "--json"])
        == 0
    )
    summary = {e["kind"]: e for e in json.loads(capsys.readouterr().out)}
    assert summary["features_cob"]["rows"] == 650 and summary["features_cob"]["invalid_rows"] == 0
    assert summary["features_pivots_1h"]["rows"] > 100
    store = open_store(store_copy)
    stored = store.read_frame("binance", "ETH/USDT", "features_cob")
    fresh = cob(store, "ETH/USDT")
    assert np.array_equal(stored.to_numpy(), fresh.to_numpy(), equal_nan=True)
    assert all(not str(e["kind"]).startswith("features_") for e in store.info())


@pytest.mark.slow
def test_rebuilding_a_range_keeps_the_rest(
    store_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["features", "build", "--store", str(store_copy), "--symbol", "BTC/USDT"]
    assert main(base) == 0
    assert main([*base, "--start", "2024-08-09T00:00:00Z", "--end", "2024-08-09T00:01:00Z"]) == 0
    capsys.readouterr()
    stored = open_store(store_copy).read_frame("binance", "BTC/USDT", "features_cob")
    assert len(stored) == 651 and stored.index.is_unique and stored.index.is_monotonic_increasing


def test_unknown_symbol_is_an_error(store_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["features", "build", "--store", str(store_copy), "--symbol", "SOL/USDT"]) == 2
    assert "holds nothing for SOL/USDT" in capsys.readouterr().err
