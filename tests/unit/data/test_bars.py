"""Bars from trades and resampling, against a pandas oracle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmts.core.schema import trade_dt
from mmts.data.bars import (
    bars_from_trades,
    complete_bars_from_trades,
    records_to_frame,
    resample,
)

S = 10**9


def _trades(times_s: list[float], prices: list[float], ids: list[int] | None = None) -> np.ndarray:
    t = np.zeros(len(times_s), trade_dt)
    t["exch_ts"] = (np.array(times_s) * S).astype(np.int64)
    t["price"] = prices
    t["qty"] = 0.5
    t["trade_id"] = ids if ids is not None else np.arange(1, len(times_s) + 1)
    return t


def _pandas_oracle(trades: np.ndarray, freq: str) -> pd.DataFrame:
    s = pd.DataFrame(
        {"price": trades["price"], "qty": trades["qty"]},
        index=pd.to_datetime(trades["exch_ts"], utc=True),
    )
    g = s.resample(freq)
    out = pd.DataFrame(
        {"open": g["price"].first(), "high": g["price"].max(), "low": g["price"].min(),
         "close": g["price"].last(), "volume": g["qty"].sum()}
    )  # fmt: skip
    filled = out["close"].ffill()
    empty = out["open"].isna()
    for col in ("open", "high", "low", "close"):
        out.loc[empty, col] = filled[empty]
    return out


@pytest.mark.parametrize("freq", ["1s", "1min"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bars_match_pandas(freq: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    times = np.sort(rng.uniform(0, 300, 500))
    trades = _trades(times.tolist(), rng.uniform(90, 110, 500).round(2).tolist())
    ours = bars_from_trades(trades, freq.replace("min", "m"))
    oracle = _pandas_oracle(trades, freq)
    pd.testing.assert_frame_equal(
        ours.drop(columns="trades"), oracle, check_freq=False, check_names=False
    )


def test_empty_seconds_carry_the_close_with_zero_volume() -> None:
    bars = bars_from_trades(_trades([0.1, 0.2, 3.5], [10.0, 12.0, 9.0]), "1s")
    assert bars["close"].tolist() == [12.0, 12.0, 12.0, 9.0]
    assert bars["volume"].tolist() == [1.0, 0.0, 0.0, 0.5]
    assert bars["trades"].tolist() == [2, 0, 0, 1]


def test_complete_bars_drop_edges_and_split_on_missing_trade_ids() -> None:
    trades = _trades([0.5, 1.5, 2.5, 3.5, 10.5, 11.5, 12.5, 13.5], [1, 2, 3, 4, 5, 6, 7, 8],
                     ids=[1, 2, 3, 4, 10, 11, 12, 13])  # fmt: skip
    bars = records_to_frame(complete_bars_from_trades(trades, S))
    assert [t.second for t in bars.index] == [1, 2, 11, 12]


def test_resample_ignores_empty_bars_for_open_high_low() -> None:
    idx = pd.date_range("2024-01-01", periods=4, freq="15s", tz="UTC")
    bars = pd.DataFrame(
        {"open": [5.0, 6, 7, 7], "high": [5.0, 8, 7, 7], "low": [5.0, 6, 6.5, 7],
         "close": [5.0, 7, 7, 7], "volume": [0.0, 1, 1, 0]}, index=idx
    )  # fmt: skip
    out = resample(bars, "1m")
    assert out.iloc[0].tolist() == [6.0, 8.0, 6.0, 7.0, 2.0]


def test_resample_drops_incomplete_intervals_by_default() -> None:
    idx = pd.date_range("2024-01-01 00:00:30", periods=4, freq="30s", tz="UTC")
    bars = pd.DataFrame(
        {c: [1.0, 2, 3, 4] for c in ["open", "high", "low", "close", "volume"]}, index=idx
    )
    assert len(resample(bars, "1m")) == 1
    assert len(resample(bars, "1m", complete_only=False)) == 3


def test_resample_refuses_duplicate_times() -> None:
    idx = pd.DatetimeIndex(["2024-01-01", "2024-01-01"], tz="UTC")
    bars = pd.DataFrame(
        {c: [1.0, 2] for c in ["open", "high", "low", "close", "volume"]}, index=idx
    )
    with pytest.raises(ValueError, match="strictly increasing"):
        resample(bars, "1h")
