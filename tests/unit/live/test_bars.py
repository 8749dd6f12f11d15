"""Live 1 s bars from trades equal the importer's bars, on real trades and on any trade stream."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mmts.core.schema import bar_dt, trade_dt
from mmts.data.bars import complete_bars_from_trades
from mmts.data.binance_ws import read_recording
from mmts.live.bars import TradeBars

SECOND = 10**9


def _live(trades: np.ndarray, step: int = SECOND) -> np.ndarray:
    builder = TradeBars(step)
    parts = [builder.push(int(t["exch_ts"]), int(t["trade_id"]), float(t["price"]), float(t["qty"]))
             for t in trades]  # fmt: skip
    return np.concatenate(parts) if parts else np.empty(0, bar_dt)


def test_real_trades_give_the_importers_bars(shared_data: Path) -> None:
    spot = shared_data / "binance-ws" / "spot"
    for name in ("ethusdt", "btcusdt"):
        trades = np.concatenate(
            [read_recording(spot / f"{name}_{day}.gz")[0][0].trades for day in (20240808, 20240809)]
        )
        expected = complete_bars_from_trades(trades, SECOND)
        assert expected.shape[0] > 600
        assert np.array_equal(_live(trades), expected)


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(st.tuples(st.integers(0, 2500), st.integers(1, 3), st.floats(1, 2)), min_size=1, max_size=60),
)  # fmt: skip
def test_any_trade_stream_gives_the_importers_bars(steps: list[tuple[int, int, float]]) -> None:
    """Random gaps in time and in trade ids (missed trades): the same bars, interval for interval."""
    trades = np.zeros(len(steps), trade_dt)
    ts, trade_id = 1_700_000_000 * SECOND, 100
    for k, (dt_ms, id_step, price) in enumerate(steps):
        ts += dt_ms * 1_000_000
        trade_id += id_step if k else 0
        trades[k] = (ts, ts, trade_id, round(price, 2), 0.5, 1)
    assert np.array_equal(_live(trades), complete_bars_from_trades(trades, SECOND))


def test_a_repeated_trade_is_ignored() -> None:
    builder = TradeBars(SECOND)
    builder.push(0, 1, 10.0, 1.0)
    builder.push(SECOND, 2, 11.0, 1.0)
    assert builder.push(SECOND, 2, 11.0, 1.0).shape[0] == 0
    bars = builder.push(2 * SECOND, 3, 12.0, 1.0)
    assert bars["ts"].tolist() == [SECOND] and bars["volume"].tolist() == [1.0]
