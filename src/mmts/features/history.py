"""Model inputs at many decision times from one read of a store (training sets, evaluation).

The third driver of the standardized input: it reads each bar series and the primary symbol's
book once, computes every COB row once, then :meth:`InputHistory.at` slices windows and calls
the same :func:`~mmts.features.inputs.assemble`. ``at(t)`` equals ``model_input(store, t)``
bit for bit (tested), for any ``t`` inside the span it was built for.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmts.config import FeatureConfig
from mmts.core.schema import REPLAY_FIELDS
from mmts.core.stores import MarketData, require_market_data
from mmts.core.time import to_ns
from mmts.core.timeframes import NS_PER_SECOND, timeframe_ns
from mmts.features.cob import whole_seconds
from mmts.features.inputs import (
    OHLCV_FEATURES,
    InputWindows,
    ModelInput,
    ModelInputLayout,
    assemble_windows,
    decision_seconds,
    last_closed_open,
    primary_cob_rows,
)


class InputHistory:
    """Standardized inputs for decision times in ``[start, end]``.

    Parameters
    ----------
    store : an ``mmts.data.Store``.
    start, end : the first and last decision time the history must serve (inclusive).
    config : feature configuration.
    model_slots : upstream model names, in slot order.
    """

    def __init__(
        self,
        store: MarketData,
        start: object,
        end: object,
        config: FeatureConfig | None = None,
        model_slots: tuple[str, ...] = (),
    ) -> None:
        require_market_data(store, "InputHistory")
        cfg = config or FeatureConfig()
        lo, hi = to_ns(start), to_ns(end)
        if lo is None or hi is None or hi < lo:
            raise ValueError(f"need start <= end; were {start} and {end}")
        self.config, self.start, self.end = cfg, lo, hi
        self.layout = ModelInputLayout(config=cfg, model_slots=tuple(model_slots))
        self.series: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        for symbol, tf in [
            *((cfg.primary_symbol, tf) for tf in cfg.timeframes),
            (cfg.reference_symbol, "1s"),
        ]:
            step = timeframe_ns(tf)
            try:
                bars = store.bars(symbol, tf, start=lo - (cfg.frames + 1) * step, end=hi - step + 1)
            except KeyError:
                self.series[(symbol, tf)] = (np.empty(0, np.int64), np.empty((0, OHLCV_FEATURES)))
                continue
            opens = pd.DatetimeIndex(bars.index).as_unit("ns").asi8
            values = bars[["open", "high", "low", "close", "volume"]].to_numpy(np.float64)
            self.series[(symbol, tf)] = (opens, values)
        self._cob_times, self._cob = self._cob_rows(store, lo, hi)
        #: Pivots of the latest 1 m window: decisions inside one minute share them.
        self._pivot_cache: dict[tuple[int, int], tuple[np.ndarray, ...]] = {}

    def _cob_rows(
        self, store: MarketData, lo: int, hi: int
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        cfg = self.config
        try:
            rows = store.book_events(cfg.primary_symbol, None, hi + 1, fields=REPLAY_FIELDS)
        except KeyError:
            rows = None
        empty = np.empty(0, np.int64)
        if rows is None or rows.shape[0] == 0:
            return empty, (np.empty((0, 0)), np.empty((0, 0)), np.empty(0), np.empty((0, 0)))
        first = max(int(rows["local_ts"].min()), lo - cfg.frames * NS_PER_SECOND)
        last = min(hi, int(rows["local_ts"].max()) + int((cfg.book_stale_s + 1) * NS_PER_SECOND))
        times = whole_seconds(first, last)
        return times, primary_cob_rows(rows, times, cfg)

    def at(self, at: object, model_outputs: dict[str, np.ndarray] | None = None) -> ModelInput:
        """Return the standardized input at decision time ``at`` (within the built span)."""
        return assemble_windows(self.layout, self.windows(at), model_outputs, self._pivot_cache)

    def assemble(self, windows: InputWindows, model_outputs: dict[str, np.ndarray] | None = None
                 ) -> ModelInput:  # fmt: skip
        """Assemble the input of ``windows`` (from :meth:`windows`), as :meth:`at` does."""
        return assemble_windows(self.layout, windows, model_outputs, self._pivot_cache)

    def windows(self, at: object) -> InputWindows:
        """Return the raw windows of the input at ``at`` (views of this history's arrays)."""
        t = to_ns(at)
        if t is None or not self.start <= t <= self.end:
            raise ValueError(f"{at} is outside this history's span [{self.start}, {self.end}]")
        cfg = self.config
        bars = {}
        for (symbol, tf), (opens, values) in self.series.items():
            step = timeframe_ns(tf)
            stop = int(np.searchsorted(opens, last_closed_open(t, step), side="right"))
            begin = int(np.searchsorted(opens, t - (cfg.frames + 1) * step, side="left"))
            begin = max(begin, stop - cfg.frames)
            bars[(symbol, tf)] = (opens[begin:stop], values[begin:stop])
        seconds = decision_seconds(t, cfg.frames)
        n_side = 2 * cfg.n_buckets + 1
        bid = np.full((seconds.shape[0], n_side), np.nan)
        ask = np.full((seconds.shape[0], n_side), np.nan)
        imb = np.full(seconds.shape[0], np.nan)
        ma = np.full((seconds.shape[0], len(cfg.imbalance_windows_s)), np.nan)
        if self._cob_times.shape[0]:
            j = np.searchsorted(self._cob_times, seconds)
            ok = (j < self._cob_times.shape[0]) & (
                self._cob_times[np.minimum(j, self._cob_times.shape[0] - 1)] == seconds
            )
            c_bid, c_ask, c_imb, c_ma = self._cob
            bid[ok], ask[ok], imb[ok], ma[ok] = (
                c_bid[j[ok]],
                c_ask[j[ok]],
                c_imb[j[ok]],
                c_ma[j[ok]],
            )
        return InputWindows(t, bars, (bid, ask, imb, ma))

    def closes(self, timeframe: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(open times, closes)`` of the primary symbol's bars of ``timeframe`` in the span."""
        opens, values = self.series[(self.config.primary_symbol, timeframe)]
        return opens, values[:, 3]
