"""Williams market-structure pivots: hand-checked cases, a Python-loop oracle, real bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmts.data import open_store
from mmts.features import pivots
from mmts.features.pivots_nb import swing_points_nb


def _bars(highs: list[float], lows: list[float] | None = None) -> pd.DataFrame:
    idx = pd.date_range("2024-01-01", periods=len(highs), freq="1min", tz="UTC")
    lows = lows if lows is not None else [h - 10 for h in highs]
    return pd.DataFrame({"high": highs, "low": lows}, index=idx)


def test_level_one_high_is_confirmed_strength_bars_later() -> None:
    #        0  1  2  3  4  5  6
    highs = [1, 2, 5, 2, 1, 3, 2]
    out = pivots(_bars(highs), levels=1, strength=2)
    high = out[out["kind"] == "high"].iloc[0]
    assert high["price"] == 5 and high["time"] == pd.Timestamp("2024-01-01 00:02", tz="UTC")
    # Knowable when bar 4 closes (00:04 open + 1 minute), never at 00:02.
    assert high["confirmed_time"] == pd.Timestamp("2024-01-01 00:05", tz="UTC")


def test_flat_top_gives_one_pivot_at_its_first_bar() -> None:
    out = pivots(_bars([1, 2, 5, 5, 2, 1, 0]), levels=1, strength=2)
    highs = out[out["kind"] == "high"]
    assert highs["time"].tolist() == [pd.Timestamp("2024-01-01 00:02", tz="UTC")]


def test_level_two_comes_from_level_one_pivots() -> None:
    # Level-1 highs at bars 2, 6, 10, 14, 18 with prices 3, 4, 9, 5, 4: the level-2 high is 9
    # (above 3, 4 before and 5, 4 after), confirmed when the level-1 high at bar 18 is (bar 20).
    highs = [0.0] * 23
    for bar, price in [(2, 3), (6, 4), (10, 9), (14, 5), (18, 4)]:
        highs[bar] = price
    out = pivots(_bars(highs, [-1.0] * 23), levels=2, strength=2)
    level2 = out[(out["level"] == 2) & (out["kind"] == "high")]
    assert level2["price"].tolist() == [9.0]
    assert level2["time"].tolist() == [pd.Timestamp("2024-01-01 00:10", tz="UTC")]
    assert level2["confirmed_time"].tolist() == [pd.Timestamp("2024-01-01 00:21", tz="UTC")]
    assert out["confirmed_time"].is_monotonic_increasing


def _oracle(values: np.ndarray, n: int, is_high: bool) -> list[int]:
    found = []
    for i in range(n, len(values) - n):
        left, right = values[i - n : i], values[i + 1 : i + n + 1]
        if is_high and values[i] > left.max() and values[i] >= right.max():
            found.append(i)
        if not is_high and values[i] < left.min() and values[i] <= right.min():
            found.append(i)
    return found


@pytest.mark.parametrize("n", [1, 2, 3, 5])
@pytest.mark.parametrize("is_high", [True, False])
def test_swing_points_match_a_python_loop(n: int, is_high: bool) -> None:
    rng = np.random.default_rng(n)
    values = rng.integers(0, 20, 400).astype(float)  # many ties
    assert swing_points_nb(values, n, is_high).tolist() == _oracle(values, n, is_high)


def test_real_minute_bars_give_fewer_pivots_at_higher_levels(sample_store_path: Path) -> None:
    bars = open_store(sample_store_path).bars("ETH/USDT", "1m")
    out = pivots(bars, levels=5, strength=2)
    counts = out.groupby("level").size()
    assert list(counts.index) == [1, 2, 3, 4, 5]
    assert counts.is_monotonic_decreasing
    assert (out["confirmed_time"] > out["time"]).all()
    assert set(out.columns) == {"level", "kind", "time", "confirmed_time", "price"}


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="missing \\['low'\\]"):
        pivots(pd.DataFrame({"high": [1.0]}, index=pd.DatetimeIndex(["2024-01-01"], tz="UTC")))
