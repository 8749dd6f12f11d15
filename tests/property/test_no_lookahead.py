"""The no-look-ahead contract (keep forever): features at or before t ignore data after t.

Also: the batch and step drivers give bit-identical features on random streams.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmts.data.bars import bar_records_from_trades
from mmts.data.book_replay import sync_book
from mmts.features.cob import CobStream, cob_from_rows, whole_seconds
from mmts.testing.replay import feed_log
from mmts.testing.synthetic import book_stream


def _cob_rows(rows: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, ...]:
    return cob_from_rows(rows, times, 1.0, 20, 5, (1, 5, 15, 60))


def _same(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> bool:
    return all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b, strict=True))


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(book_stream(), st.floats(0, 1), st.integers(0, 2**32 - 1))
def test_cob_at_t_ignores_everything_after_t(rows: np.ndarray, cut_frac: float, seed: int) -> None:
    lo, hi = int(rows["local_ts"].min()), int(rows["local_ts"].max())
    cut = lo + int((hi - lo) * cut_frac)
    times = whole_seconds(lo, cut)
    baseline = _cob_rows(rows, times)

    # Remove everything after the cut.
    truncated = rows[rows["local_ts"] <= cut]
    assert _same(_cob_rows(truncated, times), baseline)

    # Change everything after the cut (quantities, and break the id sequence).
    rng = np.random.default_rng(seed)
    changed = rows.copy()
    later = changed["local_ts"] > cut
    changed["qty"][later] = rng.uniform(0, 100, int(later.sum())).round(3)
    changed["first_id"][later] += 7
    changed["last_id"][later] += 7
    assert _same(_cob_rows(changed, times), baseline)


@settings(max_examples=40, deadline=None)
@given(book_stream())
def test_step_driver_equals_batch_driver(rows: np.ndarray) -> None:
    lo, hi = int(rows["local_ts"].min()), int(rows["local_ts"].max())
    times = whole_seconds(lo, hi + 2 * 10**9)
    replay = sync_book(rows, is_futures=False)
    bid, ask, mid, imb, ma = cob_from_rows(rows, times, 1.0)
    stream = CobStream(1.0, replay.tick)
    j = 0
    for r, t in enumerate(times):
        j = feed_log(stream.apply, replay.log_code, replay.log_ts, rows, j, t)
        s_bid, s_ask, _, s_imb, s_ma = stream.row(int(t))
        assert np.array_equal(s_bid, bid[r], equal_nan=True)
        assert np.array_equal(s_ask, ask[r], equal_nan=True)
        assert np.array_equal(s_ma, ma[r], equal_nan=True)
        assert np.array_equal(np.array([s_imb]), imb[r : r + 1], equal_nan=True)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 600_000), st.floats(1, 1e5)), min_size=1, max_size=200),
    st.integers(0, 600_000),
)
def test_bars_at_t_ignore_trades_after_t(trades_ms: list[tuple[int, float]], cut_ms: int) -> None:
    from mmts.core.schema import trade_dt

    trades_ms.sort()
    t = np.zeros(len(trades_ms), trade_dt)
    t["exch_ts"] = [ms * 10**6 for ms, _ in trades_ms]
    t["price"] = [p for _, p in trades_ms]
    t["qty"] = 1.0
    t["trade_id"] = np.arange(len(trades_ms))
    cut = cut_ms * 10**6
    first, last = 0, 600 * 10**9
    full = bar_records_from_trades(t, 10**9, first, last)
    cut_only = bar_records_from_trades(t[t["exch_ts"] < cut], 10**9, first, last)
    closed = full["ts"] + 10**9 <= cut
    assert np.array_equal(full[closed], cut_only[cut_only["ts"] + 10**9 <= cut])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(1, 100, allow_nan=False), min_size=5, max_size=300),
    st.floats(0, 1),
    st.integers(1, 3),
)
def test_pivots_known_at_t_ignore_bars_after_t(
    highs: list[float], cut_frac: float, strength: int
) -> None:
    import pandas as pd

    from mmts.features import pivots

    idx = pd.date_range("2024-01-01", periods=len(highs), freq="1min", tz="UTC")
    bars = pd.DataFrame({"high": highs, "low": [h - 1 for h in highs]}, index=idx)
    cut = int(len(highs) * cut_frac)
    t = idx[0] + pd.Timedelta(minutes=cut)  # bars opening before t are closed at t
    full = pivots(bars, levels=5, strength=strength)
    known = full[full["confirmed_time"] <= t].reset_index(drop=True)
    # Only the bars closed by t, then anything after t changed: same pivots known at t.
    truncated = pivots(bars.iloc[:cut], levels=5, strength=strength, bar_duration="1min")
    changed = bars.copy()
    changed.iloc[cut:, :] = changed.iloc[cut:, :] * 3.0 + 7.0
    redone = pivots(changed, levels=5, strength=strength)
    pd.testing.assert_frame_equal(
        truncated[truncated["confirmed_time"] <= t].reset_index(drop=True), known
    )
    pd.testing.assert_frame_equal(
        redone[redone["confirmed_time"] <= t].reset_index(drop=True), known
    )
