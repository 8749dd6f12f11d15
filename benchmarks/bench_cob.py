"""Book maintenance + COB buckets + imbalance averages: events/s on one core vs a plain reference.

Both sides start from the same stored depth rows of the real spot window and compute the same
per-second rows (checked equal first). "Events" are depth level updates (stored book rows).

- mmts: ``cob_from_rows``: Binance's local-book procedure and the features in one numba pass
  over the stored rows, on one tick book.
- reference: the written definitions with Python dicts for the book and numpy/pandas for
  buckets, imbalance and window means, replaying the application log of ``sync_book`` (the
  sync itself is not counted against the reference).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mmts.core import sync_nb
from mmts.core import tickbook_nb as tbk
from mmts.data import open_store
from mmts.data.book_replay import sync_book
from mmts.features.cob import cob_from_rows, whole_seconds

N, K, WINDOWS = 20, 5, (1, 5, 15, 60)


def _buckets(book: dict[float, float], centre: int, width: float, deepest_rule: str) -> np.ndarray:
    prices = np.fromiter(book.keys(), float, len(book))
    qtys = np.fromiter(book.values(), float, len(book))
    buckets = np.floor(prices / width + 0.5).astype(np.int64) - centre
    inside = np.abs(buckets) <= N
    sums = pd.Series(prices[inside] * qtys[inside]).groupby(buckets[inside]).sum()
    row = np.array([sums.get(k, 0.0) for k in range(-N, N + 1)])
    deepest = buckets.min() if deepest_rule == "bid" else buckets.max()
    for k in range(-N, N + 1):
        if (deepest_rule == "bid" and k < deepest) or (deepest_rule == "ask" and k > deepest):
            row[k + N] = np.nan
    return row


def reference(log_code: np.ndarray, log_ts: np.ndarray, rows: np.ndarray, times: np.ndarray,
              width: float) -> np.ndarray:  # fmt: skip
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    valid = False
    samples: list[tuple[int, float]] = []
    out = np.full((len(times), 2 * (2 * N + 1) + 1 + len(WINDOWS)), np.nan)
    j = 0
    pending = None

    def sample(ts: int) -> None:
        best_bid, best_ask = max(bids), min(asks)
        centre = math.floor((best_bid + best_ask) / 2 / width + 0.5)
        b = _buckets(bids, centre, width, "bid")
        a = _buckets(asks, centre, width, "ask")
        sb, sa = np.nansum(b[N - K : N + K + 1]), np.nansum(a[N - K : N + K + 1])
        samples.append((ts, (sb - sa) / (sb + sa) if sb + sa else np.nan))

    for r, t in enumerate(times):
        while j < len(log_code) and log_ts[j] <= t:
            code, ts = int(log_code[j]), int(log_ts[j])
            if pending is not None and ts > pending:
                sample(pending)
                pending = None
            if code == sync_nb.LOG_RESET:
                bids.clear()
                asks.clear()
                valid = False
            elif code == sync_nb.LOG_SYNCED:
                valid, pending = True, ts
            elif code == sync_nb.LOG_INVALIDATE:
                valid, pending = False, None
            else:
                side, price, qty = (
                    int(rows["side"][code]),
                    float(rows["price"][code]),
                    float(rows["qty"][code]),
                )
                book = bids if side > 0 else asks
                if side != 0:
                    if qty == 0.0:
                        book.pop(price, None)
                    else:
                        book[price] = qty
                if valid:
                    pending = ts
            j += 1
        if pending is not None:
            sample(pending)
            pending = None
        if not valid:
            continue
        centre = math.floor((max(bids) + min(asks)) / 2 / width + 0.5)
        series = pd.Series([v for _, v in samples], index=[s for s, _ in samples], dtype=float)
        means = [
            series[(series.index > t - w * 10**9) & (series.index <= t)].mean() for w in WINDOWS
        ]
        latest = series[series.index <= t]
        out[r] = np.concatenate([_buckets(bids, centre, width, "bid"), _buckets(asks, centre, width, "ask"),
                                 [latest.iloc[-1] if len(latest) else np.nan], means])  # fmt: skip
    return out


def run(store_path: Path, repeat: int = 3) -> list[dict[str, object]]:
    store = open_store(store_path)
    rows_out = []
    for symbol, width in [("BTC/USDT", 10.0), ("ETH/USDT", 1.0)]:
        rows = store.read("binance", symbol, "book")
        times = whole_seconds(int(rows["local_ts"].min()), int(rows["local_ts"].max()))

        def ours(
            rows: np.ndarray = rows, times: np.ndarray = times, width: float = width
        ) -> np.ndarray:
            bid, ask, _, imb, ma = cob_from_rows(rows, times, width)
            return np.column_stack([bid, ask, imb, ma])

        expected = ours()
        replay = sync_book(rows, is_futures=False)
        t0 = time.perf_counter()
        got = reference(replay.log_code, replay.log_ts, rows, times, width)
        t_ref = time.perf_counter() - t0
        assert np.allclose(got, expected, rtol=1e-9, atol=1e-6, equal_nan=True), symbol
        t_ours = min(_timed(ours) for _ in range(repeat))
        n = rows.shape[0]
        rows_out.append({
            "benchmark": f"book+COB+imbalance MAs, {symbol} real window ({n:,} events)",
            "mmts": f"{n / t_ours / 1e6:.2f} M events/s",
            "reference": f"{n / t_ref / 1e6:.3f} M events/s",
            "speedup": f"{t_ref / t_ours:.0f}x",
        })  # fmt: skip
        # The paper venue's question at every book event while an order works: the top 50 levels.
        book = replay.book
        n_calls = 2000
        t0 = time.perf_counter()
        for _ in range(n_calls):
            tbk.tb_levels(book, 0, 50), tbk.tb_levels(book, 1, 50)
        t_top = (time.perf_counter() - t0) / n_calls
        t0 = time.perf_counter()
        for _ in range(n_calls // 10):
            tbk.tb_levels_reference(book, 0, 50), tbk.tb_levels_reference(book, 1, 50)
        t_scan = (time.perf_counter() - t0) / (n_calls // 10)
        rows_out.append({
            "benchmark": f"top 50 levels a side, {symbol} final real book (window of {book[0].shape[1]:,} ticks)",
            "mmts": f"{t_top * 1e6:.1f} us (walk from the best slot)",
            "reference": f"{t_scan * 1e6:.0f} us (scan the window, argsort)",
            "speedup": f"{t_scan / t_top:.0f}x",
        })  # fmt: skip
    return rows_out


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0
