"""COB features: against a pandas oracle of the written definitions; batch == step."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmts.core import sync_nb
from mmts.core.errors import DataIntegrityError
from mmts.data import open_store
from mmts.features import cob
from mmts.features.cob import CobStream, cob_from_rows, whole_seconds
from mmts.testing.replay import feed_log

N = 20


def oracle_buckets(
    bids: pd.DataFrame, asks: pd.DataFrame, width: float, n: int = N
) -> tuple[np.ndarray, np.ndarray]:
    """The definition, written plainly with pandas."""
    mid = (bids["price"].iloc[0] + asks["price"].iloc[0]) / 2
    centre = math.floor(mid / width + 0.5)
    out = []
    for side, levels in (("bid", bids), ("ask", asks)):
        bucket = np.floor(levels["price"] / width + 0.5).astype(int) - centre
        usd = (levels["price"] * levels["qty"]).groupby(bucket).sum()
        row = np.array([usd.get(k, 0.0) for k in range(-n, n + 1)])
        deepest = bucket.min() if side == "bid" else bucket.max()
        for k in range(-n, n + 1):
            if (side == "bid" and k < deepest) or (side == "ask" and k > deepest):
                row[k + n] = np.nan
        out.append(row)
    return out[0], out[1]


@pytest.fixture(scope="module")
def sample(sample_store_path: Path):
    return open_store(sample_store_path)


@pytest.mark.parametrize(
    ("symbol", "width"), [("ETH/USDT", 1.0), ("BTC/USDT", 10.0), ("ETH/USDT", 0.25)]
)
def test_buckets_and_imbalance_match_the_oracle_on_real_data(
    sample, symbol: str, width: float
) -> None:
    frame = cob(sample, symbol, bucket_usd=width)
    assert len(frame) in (650, 651)  # whole seconds of the 10.8-minute window
    assert (np.diff(frame.index.asi8) == 10**9).all()
    for t in frame.index[5::97]:
        bids, asks = sample.book(symbol, t, depth=100_000)
        want_bid, want_ask = oracle_buckets(bids, asks, width)
        got_bid = frame.loc[t, [f"bid_usd_{k}" for k in range(-N, N + 1)]].to_numpy(float)
        got_ask = frame.loc[t, [f"ask_usd_{k}" for k in range(-N, N + 1)]].to_numpy(float)
        np.testing.assert_allclose(got_bid, want_bid, rtol=1e-12, atol=1e-6)
        np.testing.assert_allclose(got_ask, want_ask, rtol=1e-12, atol=1e-6)
        k = 5
        b, a = np.nansum(want_bid[N - k : N + k + 1]), np.nansum(want_ask[N - k : N + k + 1])
        assert frame.loc[t, "imbalance"] == pytest.approx((b - a) / (b + a), rel=1e-12)


@pytest.mark.slow
def test_ma_windows_match_the_oracle(sample) -> None:
    # Oracle: the imbalance of the book at every time it changed, then plain window means.
    symbol = "ETH/USDT"
    frame = cob(sample, symbol)
    replay, rows = sample.book_replay(symbol)
    change_times = np.unique(replay.log_ts[replay.log_code >= 0])
    change_times = change_times[change_times <= frame.index[60].value]
    samples = []
    for ts in change_times:
        try:
            bids, asks = sample.book(symbol, int(ts), depth=100_000)
        except DataIntegrityError:
            continue  # not valid yet
        b, a = oracle_buckets(bids, asks, 1.0)
        sb, sa = np.nansum(b[N - 5 : N + 6]), np.nansum(a[N - 5 : N + 6])
        samples.append((int(ts), (sb - sa) / (sb + sa)))
    series = pd.Series(dict(samples))
    for t in frame.index[:61:6]:
        for w in (1, 5, 15, 60):
            window = series[(series.index > t.value - w * 10**9) & (series.index <= t.value)]
            want = window.mean() if len(window) else np.nan
            got = frame.loc[t, f"imbalance_ma_{w}s"]
            assert (np.isnan(want) and np.isnan(got)) or got == pytest.approx(want, rel=1e-12)


def test_step_driver_is_bit_identical_to_batch_on_real_data(sample) -> None:
    replay, rows = sample.book_replay("BTC/USDT")
    times = whole_seconds(int(rows["local_ts"].min()), int(rows["local_ts"].max()))
    bid, ask, mid, imb, ma = cob_from_rows(rows, times, 10.0)
    stream = CobStream(10.0, replay.tick)
    j = 0
    for r, t in enumerate(times):
        j = feed_log(stream.apply, replay.log_code, replay.log_ts, rows, j, t)
        s_bid, s_ask, s_mid, s_imb, s_ma = stream.row(int(t))
        assert np.array_equal(s_bid, bid[r], equal_nan=True)
        assert np.array_equal(s_ask, ask[r], equal_nan=True)
        assert np.array_equal(s_ma, ma[r], equal_nan=True)
        assert (s_imb == imb[r]) or (np.isnan(s_imb) and np.isnan(imb[r]))


def test_rows_are_nan_while_the_book_is_invalid(sample) -> None:
    frame = cob(sample, "BTC/USDT", start="2024-08-08T23:54:00Z", end="2024-08-08T23:54:20Z")
    first_valid = frame["bid_usd_0"].first_valid_index()
    assert frame.loc[: first_valid - pd.Timedelta(seconds=1)].isna().all().all()
    assert not frame.loc[first_valid:, ["bid_usd_0", "imbalance"]].isna().any().any()


def test_columns_and_index() -> None:
    store = open_store(Path(__file__).resolve().parents[3] / "data")
    frame = cob(store, "ETH/USDT", start="2024-08-09T00:00:00Z", end="2024-08-09T00:00:10Z")
    assert list(frame.columns[:2]) == ["bid_usd_-20", "bid_usd_-19"]
    assert list(frame.columns[40:43]) == ["bid_usd_20", "ask_usd_-20", "ask_usd_-19"]
    assert list(frame.columns[-5:]) == [
        "imbalance",
        "imbalance_ma_1s",
        "imbalance_ma_5s",
        "imbalance_ma_15s",
        "imbalance_ma_60s",
    ]
    assert len(frame) == 10 and str(frame.index[0]) == "2024-08-09 00:00:00+00:00"


def test_log_markers_drive_validity() -> None:
    stream = CobStream(1.0, 0.01)
    stream.apply(sync_nb.LOG_RESET, 1)
    stream.apply(0, 1, 1, 99.0, 1.0)
    stream.apply(1, 1, -1, 101.0, 1.0)
    assert np.isnan(stream.row(1)[3])  # snapshot applied but not yet bridged
    stream.apply(sync_nb.LOG_SYNCED, 1)
    bid, ask, mid, imb, ma = stream.row(2)
    assert mid == 100.0 and imb == pytest.approx((99 - 101) / 200)
    stream.apply(sync_nb.LOG_INVALIDATE, 3)
    assert np.isnan(stream.row(3)[2])
    with pytest.raises(ValueError, match="time order"):
        stream.apply(0, 2, 1, 99.0, 1.0)
