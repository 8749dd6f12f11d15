"""Properties of bar building and resampling on synthetic trades (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmts.core.schema import trade_dt
from mmts.data.bars import bar_records_from_trades, bars_from_trades, resample

S = 10**9


@st.composite
def trade_streams(draw: st.DrawFn, max_size: int = 200) -> np.ndarray:
    n = draw(st.integers(1, max_size))
    gaps = draw(st.lists(st.integers(0, 5 * S), min_size=n, max_size=n))
    prices = draw(st.lists(st.floats(0.01, 1e6, allow_nan=False), min_size=n, max_size=n))
    qtys = draw(st.lists(st.floats(1e-8, 1e3, allow_nan=False), min_size=n, max_size=n))
    t = np.zeros(n, trade_dt)
    t["exch_ts"] = 1_700_000_000 * S + np.cumsum(gaps)
    t["price"], t["qty"] = prices, qtys
    t["trade_id"] = np.arange(1, n + 1)
    return t


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(trade_streams())
def test_minute_bars_equal_resampled_second_bars(trades: np.ndarray) -> None:
    direct = bars_from_trades(trades, "1m")
    via_seconds = resample(bars_from_trades(trades, "1s"), "1m", complete_only=False)
    cols = ["open", "high", "low", "close"]
    assert direct[cols].equals(via_seconds[cols])
    np.testing.assert_allclose(direct["volume"], via_seconds["volume"], rtol=1e-12, atol=1e-9)
    assert direct["trades"].tolist() == via_seconds["trades"].tolist()


@settings(max_examples=60, deadline=None)
@given(trade_streams(), st.integers(0, 10**6), st.floats(0.01, 1e6))
def test_a_bar_never_depends_on_later_trades(
    trades: np.ndarray, cut_ms: int, new_price: float
) -> None:
    # Change every trade after a cut time: bars that closed at or before the cut must not move.
    cut = int(trades["exch_ts"][0]) + cut_ms * 10**6
    changed = trades.copy()
    changed["price"][changed["exch_ts"] >= cut] = new_price
    first = int(trades["exch_ts"][0]) // S * S
    last = int(trades["exch_ts"][-1]) // S * S
    a = bar_records_from_trades(trades, S, first, last)
    b = bar_records_from_trades(changed, S, first, last)
    closed = a["ts"] + S <= cut
    assert np.array_equal(a[closed], b[closed])


@settings(max_examples=40, deadline=None)
@given(trade_streams(max_size=300))
def test_resampling_composes(trades: np.ndarray) -> None:
    seconds = bars_from_trades(trades, "1s")
    two_step = resample(resample(seconds, "1m", complete_only=False), "1h", complete_only=False)
    one_step = resample(seconds, "1h", complete_only=False)
    cols = ["open", "high", "low", "close", "trades"]
    assert two_step[cols].equals(one_step[cols])


@settings(max_examples=60, deadline=None)
@given(trade_streams())
def test_bars_are_consistent(trades: np.ndarray) -> None:
    bars = bars_from_trades(trades, "1s")
    assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
    assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
    assert bars["trades"].sum() == trades.shape[0]
    assert np.isclose(bars["volume"].sum(), trades["qty"].sum(), rtol=1e-12)
    assert bars.index.is_monotonic_increasing and bars.index.is_unique
