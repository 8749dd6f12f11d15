"""Replay a store as the runtime's event stream: closed bars and the primary book, in time order."""

from __future__ import annotations

import heapq
from collections.abc import Iterator

import numpy as np
import pandas as pd

from mmts.config import FeatureConfig
from mmts.core.events import BarEvent, BookEvent, Event
from mmts.core.sync_nb import LOG_INVALIDATE, LOG_RESET, LOG_SYNCED
from mmts.core.time import to_ns
from mmts.core.timeframes import timeframe_ns
from mmts.data.store import Store


def _bar_events(
    store: Store, symbol: str, tf: str, lo: int, hi: int, rank: int
) -> Iterator[tuple[int, int, int, Event]]:
    step = timeframe_ns(tf)
    try:
        bars = store.bars(symbol, tf, start=lo - step, end=hi)
    except KeyError:
        return
    opens = pd.DatetimeIndex(bars.index).as_unit("ns").asi8
    values = bars[["open", "high", "low", "close", "volume"]].to_numpy(np.float64)
    for k in range(opens.shape[0]):
        close_time = int(opens[k]) + step
        if lo <= close_time <= hi:
            ohlcv = (values[k, 0], values[k, 1], values[k, 2], values[k, 3], values[k, 4])
            yield close_time, 0, rank, BarEvent(close_time, symbol, tf, int(opens[k]), ohlcv)


def _book_events(
    store: Store, symbol: str, lo: int, hi: int, stale_ns: int
) -> Iterator[tuple[int, int, int, Event]]:
    try:
        replay, rows = store.book_replay(symbol, hi + 1)
    except KeyError:
        return
    codes, times = replay.log_code, replay.log_ts
    start = int(np.searchsorted(times, lo))
    if start > 0 and lo - int(times[start - 1]) <= stale_ns:
        # Joining a recorded book midway: hand over the book as replayed up to ``lo`` as one
        # snapshot (what a live session gets from REST), stamped with its last event's time so
        # that it goes stale exactly when that book would.
        yield from _book_at(store, symbol, lo, int(times[start - 1]))
    for j in range(start, codes.shape[0]):
        code, ts = int(codes[j]), int(times[j])
        if code >= 0:
            event = BookEvent(ts, code, int(rows["side"][code]), float(rows["price"][code]),
                              float(rows["qty"][code]))  # fmt: skip
        else:
            event = BookEvent(ts, code)
        yield ts, 1, 0, event


def _book_at(
    store: Store, symbol: str, at: int, stamp: int
) -> Iterator[tuple[int, int, int, Event]]:
    """Yield the book replayed from the rows received before ``at`` as a snapshot at ``stamp``."""
    before, _ = store.book_replay(symbol, at)
    yield stamp, 1, 0, BookEvent(stamp, LOG_RESET)
    for side, sign in ((0, 1), (1, -1)):  # bids, asks (book rows: +1 bid, -1 ask)
        prices, qtys = before.levels(side, 1 << 30)
        for price, qty in zip(prices.tolist(), qtys.tolist(), strict=True):
            yield stamp, 1, 0, BookEvent(stamp, 0, sign, price, qty)
    yield stamp, 1, 0, BookEvent(stamp, LOG_SYNCED if before.valid else LOG_INVALIDATE)


def replay_events(store: Store, features: FeatureConfig, start: object, end: object,
                  fill_timeframe: str = "1m", warmup_bars: bool = True) -> Iterator[Event]:  # fmt: skip
    """Yield every event the runtime needs in ``[start, end]``, in time order.

    Ties: bars before book events, bars of different series in sorted ``(symbol, timeframe)``
    order (``live.market`` orders them the same way).

    With ``warmup_bars``, bars from before ``start`` (enough for ``features.frames`` of each
    timeframe) come first, so the first decision already has full frames.
    """
    lo, hi = to_ns(start), to_ns(end)
    if lo is None or hi is None or hi < lo:
        raise ValueError(f"need start <= end; were {start} and {end}")
    series = {(features.primary_symbol, tf) for tf in features.timeframes}
    series |= {(features.reference_symbol, "1s"), (features.primary_symbol, fill_timeframe)}
    streams = []
    for rank, (symbol, tf) in enumerate(sorted(series)):
        first = lo - (features.frames + 1) * timeframe_ns(tf) if warmup_bars else lo
        streams.append(_bar_events(store, symbol, tf, first, hi, rank))
    book_from = lo - features.frames * 10**9
    stale_ns = int(features.book_stale_s * 10**9)
    streams.append(_book_events(store, features.primary_symbol, book_from, hi, stale_ns))
    for _, _, _, event in heapq.merge(*streams, key=lambda item: (item[0], item[1], item[2])):
        yield event
