"""Each frame of the model input stored once: how the ledger keeps every input it saw.

An input is assembled from raw windows (:class:`~mmts.features.inputs.InputWindows`): per bar
series the closed bars on its grid, and the COB rows of the last ``frames`` seconds.
Consecutive inputs share all but their newest rows, so the ledger stores each row once, keyed
by (writer epoch, series, open time or second), with ``seen_from``: the time of the first
input that held it. An input is then only its time and layout (plus its model-output slots):
its windows are the stored rows on its grid with ``seen_from <= at`` — a bar that reached a
live session late is in no input from before it arrived — and assembling them again gives
the input bit for bit (the ledger checks it against the hash recorded at prediction time).

:class:`FrameTracker` runs on the decision loop, so it does only what is cheap there: two
binary searches per series and a copy of the rows that are new (usually one per series).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from mmts.core.timeframes import NS_PER_SECOND, timeframe_ns
from mmts.features.inputs import (
    OHLCV_FEATURES,
    InputWindows,
    ModelInputLayout,
    decision_seconds,
    last_closed_open,
)
from mmts.history.schema import BAR_FRAMES, COB_FRAMES


def series_name(symbol: str, timeframe: str) -> str:
    """Return how the ledger names a bar series."""
    return f"{symbol}|{timeframe}"


def input_series(layout: ModelInputLayout) -> list[tuple[str, str]]:
    """Return the ``(symbol, timeframe)`` bar series an input of ``layout`` reads."""
    cfg = layout.config
    return [*((cfg.primary_symbol, tf) for tf in cfg.timeframes), (cfg.reference_symbol, "1s")]


@dataclass(slots=True)
class NewFrames:
    """The rows of one input's windows that no earlier input of the epoch held."""

    seen_from: int
    bars: list[tuple[str, np.ndarray, np.ndarray]]  # (series, opens, [n, 5] OHLCV)
    seconds: np.ndarray
    cob: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # bid, ask, imbalance, ma


class FrameTracker:
    """Picks out the rows of each input's windows not stored before (inputs in time order)."""

    def __init__(self, layout: ModelInputLayout) -> None:
        self.frames = layout.config.frames
        self.series = [((symbol, tf), series_name(symbol, tf), timeframe_ns(tf))
                       for symbol, tf in input_series(layout)]  # fmt: skip
        self.newest: dict[str, int] = {}
        self.newest_second = -(2**62)
        self._no_bars = (np.empty(0, np.int64), np.empty((0, OHLCV_FEATURES)))

    def new_frames(self, windows: InputWindows) -> NewFrames:
        """Return the rows of ``windows`` newer than every row already taken (copies)."""
        at = windows.at
        bars = []
        for key, name, step in self.series:
            opens, values = windows.bars.get(key, self._no_bars)
            n = opens.shape[0]
            newest = self.newest.get(name, -(2**62))
            if n == 0 or int(opens[n - 1]) <= newest:
                continue  # the usual case for slow series: nothing new
            last_open = (at - step) - (at - step) % step
            first = max(last_open - (self.frames - 1) * step, newest + 1)
            i = int(opens.searchsorted(first, side="left"))
            j = int(opens.searchsorted(last_open, side="right"))
            if j > i:
                bars.append((name, opens[i:j].copy(), values[i:j].copy()))
                self.newest[name] = int(opens[j - 1])
        bid, ask, imb, ma = windows.cob_rows
        last_second = at - at % NS_PER_SECOND
        rows = bid.shape[0]
        fresh = min(rows, max(0, (last_second - self.newest_second) // NS_PER_SECOND))
        self.newest_second = max(self.newest_second, last_second)
        if fresh:
            # Every new row, unknown ones (NaN) too: cheaper here than a test, and they
            # compress to nothing; a row rebuilt as NaN is masked exactly as a missing one.
            k = rows - fresh
            seconds = np.arange(last_second - (fresh - 1) * NS_PER_SECOND, last_second + 1,
                                NS_PER_SECOND, dtype=np.int64)  # fmt: skip
            cob = (bid[k:].copy(), ask[k:].copy(), imb[k:].copy(), ma[k:].copy())
            return NewFrames(at, bars, seconds, cob)
        none = np.empty((0, bid.shape[1] if bid.ndim == 2 else 0))
        return NewFrames(at, bars, np.empty(0, np.int64), (none, none, np.empty(0), none))


def frame_tables(epoch: int, batch: list[NewFrames]) -> tuple[pa.Table, pa.Table]:
    """Return the ``bar_frames`` and ``cob_frames`` rows of ``batch``."""
    series: list[str] = []
    opens: list[int] = []
    seen: list[int] = []
    ohlcv: list[bytes] = []
    seconds: list[int] = []
    cob_seen: list[int] = []
    bids: list[bytes] = []
    asks: list[bytes] = []
    imbs: list[float] = []
    mas: list[bytes] = []
    for new in batch:
        for name, o, values in new.bars:
            series.extend([name] * o.shape[0])
            opens.extend(o.tolist())
            seen.extend([new.seen_from] * o.shape[0])
            ohlcv.extend(row.tobytes() for row in np.ascontiguousarray(values, np.float64))
        n = new.seconds.shape[0]
        if n:
            bid, ask, imb, ma = new.cob
            seconds.extend(new.seconds.tolist())
            cob_seen.extend([new.seen_from] * n)
            bids.extend(row.tobytes() for row in np.ascontiguousarray(bid, np.float64))
            asks.extend(row.tobytes() for row in np.ascontiguousarray(ask, np.float64))
            imbs.extend(imb.tolist())
            mas.extend(row.tobytes() for row in np.ascontiguousarray(ma, np.float64))
    bar_table = pa.table({
        "epoch": pa.array([epoch] * len(opens), pa.int32()), "series": series,
        "open": pa.array(opens, pa.int64()), "seen_from": pa.array(seen, pa.int64()),
        "ohlcv": pa.array(ohlcv, pa.binary()),
    }, schema=BAR_FRAMES)  # fmt: skip
    cob_table = pa.table({
        "epoch": pa.array([epoch] * len(seconds), pa.int32()),
        "second": pa.array(seconds, pa.int64()), "seen_from": pa.array(cob_seen, pa.int64()),
        "bid": pa.array(bids, pa.binary()), "ask": pa.array(asks, pa.binary()),
        "imbalance": pa.array(imbs, pa.float64()), "ma": pa.array(mas, pa.binary()),
    }, schema=COB_FRAMES)  # fmt: skip
    return bar_table, cob_table


class FrameIndex:
    """Stored frames of one epoch, indexed for rebuilding many inputs (see the module docstring).

    ``bars`` and ``cob`` are rows of ``bar_frames`` and ``cob_frames`` (any superset of the
    inputs'); a row stored twice (a backtest's workers store the rows their slices share)
    counts once, first seen at the earlier time.
    """

    def __init__(self, bars: pd.DataFrame, cob: pd.DataFrame) -> None:
        bars = bars.sort_values(["series", "open", "seen_from"]).drop_duplicates(["series", "open"])
        self.bars: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for name, rows in bars.groupby("series", sort=False):
            values = np.frombuffer(b"".join(rows["ohlcv"]), np.float64).reshape(-1, OHLCV_FEATURES)
            self.bars[str(name)] = (rows["open"].to_numpy(np.int64),
                                    rows["seen_from"].to_numpy(np.int64), values)  # fmt: skip
        cob = cob.sort_values(["second", "seen_from"]).drop_duplicates("second")
        n = len(cob)
        self.seconds = cob["second"].to_numpy(np.int64)
        self.cob_seen = cob["seen_from"].to_numpy(np.int64)
        self.bid = np.frombuffer(b"".join(cob["bid"]), np.float64).reshape(n, -1) if n else None
        self.ask = np.frombuffer(b"".join(cob["ask"]), np.float64).reshape(n, -1) if n else None
        self.imb = cob["imbalance"].to_numpy(np.float64)
        self.ma = np.frombuffer(b"".join(cob["ma"]), np.float64).reshape(n, -1) if n else None

    def windows(self, layout: ModelInputLayout, at: int) -> InputWindows:
        """Return the windows of the input at ``at``: its grid's rows first seen by ``at``."""
        cfg = layout.config
        windows: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        empty = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty((0, OHLCV_FEATURES)))
        for symbol, tf in input_series(layout):
            opens, seen, values = self.bars.get(series_name(symbol, tf), empty)
            step = timeframe_ns(tf)
            last_open = last_closed_open(at, step)
            i = int(np.searchsorted(opens, last_open - (cfg.frames - 1) * step, side="left"))
            j = int(np.searchsorted(opens, last_open, side="right"))
            ok = np.flatnonzero(seen[i:j] <= at) + i
            windows[(symbol, tf)] = (opens[ok], values[ok])
        seconds = decision_seconds(at, cfg.frames)
        n_side = 2 * cfg.n_buckets + 1
        bid = np.full((seconds.shape[0], n_side), np.nan)
        ask = np.full((seconds.shape[0], n_side), np.nan)
        imb = np.full(seconds.shape[0], np.nan)
        ma = np.full((seconds.shape[0], len(cfg.imbalance_windows_s)), np.nan)
        if self.seconds.shape[0] and seconds.shape[0]:
            i = int(np.searchsorted(self.seconds, seconds[0], side="left"))
            j = int(np.searchsorted(self.seconds, seconds[-1], side="right"))
            rows = np.flatnonzero(self.cob_seen[i:j] <= at) + i
            slot = (self.seconds[rows] - int(seconds[0])) // NS_PER_SECOND
            bid[slot], ask[slot] = self.bid[rows], self.ask[rows]  # type: ignore[index]
            imb[slot], ma[slot] = self.imb[rows], self.ma[rows]  # type: ignore[index]
        return InputWindows(at, windows, (bid, ask, imb, ma))


def windows_from_frames(layout: ModelInputLayout, at: int, bars: pd.DataFrame,
                        cob: pd.DataFrame) -> InputWindows:  # fmt: skip
    """Rebuild the windows of the input at ``at`` from stored frames of its epoch."""
    return FrameIndex(bars, cob).windows(layout, at)
