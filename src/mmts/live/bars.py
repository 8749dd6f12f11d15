"""Bars from a live trade stream, with the importer's completeness policy, one trade at a time.

The importer (``data.bars.complete_bars_from_trades``) splits trades into runs of consecutive
trade ids, fills empty intervals inside a run with flat bars, and drops each run's first and
last interval (the recording may have joined or left midway). :class:`TradeBars` applies the
same policy as trades arrive: a bar is final when a trade of the same run lands in a later
interval, so a live session and an import of its recording give the same bars.
"""

from __future__ import annotations

import numpy as np

from mmts.core.schema import bar_dt


class TradeBars:
    """Build ``step_ns`` bars of one symbol from trades pushed in trade-id order."""

    def __init__(self, step_ns: int) -> None:
        self.step = int(step_ns)
        self.last_id = -1
        self.open_ts = -1  # open time of the interval being built
        self.first_of_run = True
        self.ohlcv = [np.nan, np.nan, np.nan, np.nan, 0.0]
        self.count = 0

    def push(self, exch_ts: int, trade_id: int, price: float, qty: float) -> np.ndarray:
        """Add one trade; return the bars it made final (``bar_dt``, oldest first)."""
        if trade_id <= self.last_id:
            return np.empty(0, bar_dt)  # a duplicate (a replayed frame after a reconnect)
        interval = int(exch_ts) // self.step * self.step
        out: list[tuple[int, float, float, float, float, float, int]] = []
        if self.last_id >= 0 and trade_id != self.last_id + 1:
            # Trades are missing: the open interval is the last of its run, this one the first.
            self.first_of_run = True
            self._start(interval, price)
        elif self.open_ts < 0:
            self._start(interval, price)
        elif interval > self.open_ts:
            if not self.first_of_run:
                out.append((self.open_ts, *self.ohlcv, self.count))  # type: ignore[arg-type]
            self.first_of_run = False
            close = self.ohlcv[3]
            out.extend((empty, close, close, close, close, 0.0, 0)
                       for empty in range(self.open_ts + self.step, interval, self.step))  # fmt: skip
            self._start(interval, price)
        self.last_id = int(trade_id)
        o, h, lo, _, v = self.ohlcv
        self.ohlcv = [o, max(h, price), min(lo, price), price, v + qty]
        self.count += 1
        bars = np.array(out, bar_dt) if out else np.empty(0, bar_dt)
        return bars

    @property
    def final_until(self) -> int:
        """Every interval closing at or before this time is final (made, or known to be dropped)."""
        return self.open_ts

    def _start(self, interval: int, price: float) -> None:
        self.open_ts = interval
        self.ohlcv = [price, price, price, price, 0.0]
        self.count = 0
