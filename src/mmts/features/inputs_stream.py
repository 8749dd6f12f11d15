"""The step driver of the model input: fed events one at a time, builds an input at any time.

It keeps the last ``frames`` closed bars per (symbol, timeframe), replays the primary symbol's
book through :class:`~mmts.features.cob.CobStream`, records a COB row at every whole second
(as the batch driver computes them) and assembles with the same :func:`assemble`. Given the same
events and tick, :meth:`ModelInputBuilder.build` equals ``model_input(store, at)`` bit for bit.
"""

from __future__ import annotations

import numpy as np

from mmts.config import FeatureConfig
from mmts.core.timeframes import NS_PER_SECOND
from mmts.features.cob import CobStream
from mmts.features.inputs import (
    OHLCV_FEATURES,
    InputWindows,
    ModelInput,
    ModelInputLayout,
    assemble_windows,
    decision_seconds,
)


class _BarRing:
    """The last ``size`` closed bars of one series, oldest first, readable as views.

    Bars are appended to a buffer twice the window long; when it fills, the newest ``size`` bars
    move to the front (amortised O(1)), so :meth:`window` never copies.
    """

    def __init__(self, size: int) -> None:
        self.opens = np.zeros(2 * size, np.int64)
        self.values = np.zeros((2 * size, OHLCV_FEATURES))
        self.size = size
        self.end = 0

    def push(self, open_ns: int, values: tuple[float, float, float, float, float]) -> None:
        if self.end and open_ns <= self.opens[self.end - 1]:
            raise ValueError(
                f"bars must arrive in time order: {open_ns} after {int(self.opens[self.end - 1])}"
            )
        if self.end == self.opens.shape[0]:
            keep = self.size - 1
            self.opens[:keep] = self.opens[self.end - keep : self.end]
            self.values[:keep] = self.values[self.end - keep : self.end]
            self.end = keep
        self.opens[self.end] = open_ns
        self.values[self.end] = values
        self.end += 1

    def window(self) -> tuple[np.ndarray, np.ndarray]:
        start = max(0, self.end - self.size)
        return self.opens[start : self.end], self.values[start : self.end]


class ModelInputBuilder:
    """Build model inputs from a stream of closed bars, book events and model outputs.

    Parameters
    ----------
    config : feature configuration; ``config.tick`` must give the primary symbol's tick.
    model_slots : upstream model names, in slot order.
    """

    def __init__(self, config: FeatureConfig, model_slots: tuple[str, ...] = ()) -> None:
        tick = config.tick_size(config.primary_symbol)
        if tick is None:
            raise ValueError(
                f"the step driver needs the tick of {config.primary_symbol}: set FeatureConfig.tick"
            )
        self.config = config
        self.layout = ModelInputLayout(config=config, model_slots=tuple(model_slots))
        self.rings: dict[tuple[str, str], _BarRing] = {}
        self.cob = CobStream(
            config.bucket_width(config.primary_symbol), tick, config.n_buckets,
            config.imbalance_buckets, config.imbalance_windows_s, stale_s=config.book_stale_s,
        )  # fmt: skip
        # COB rows of the last ``frames`` seconds, a ring indexed by second.
        n_side = 2 * config.n_buckets + 1
        frames = config.frames
        self._row_time = np.full(frames, -1, np.int64)
        self._row_bid = np.full((frames, n_side), np.nan)
        self._row_ask = np.full((frames, n_side), np.nan)
        self._row_imb = np.full(frames, np.nan)
        self._row_ma = np.full((frames, len(config.imbalance_windows_s)), np.nan)
        self._next_second: int | None = None
        self.outputs: dict[str, np.ndarray] = {}
        self._pivot_cache: dict[tuple[int, int], tuple[np.ndarray, ...]] = {}

    def on_bar(self, symbol: str, timeframe: str, open_ns: int, ohlcv: tuple[float, ...]) -> None:
        """Record a closed bar (in time order per series)."""
        ring = self.rings.setdefault((symbol, timeframe), _BarRing(self.config.frames + 1))
        o, h, lo, c, v = (float(x) for x in ohlcv)
        ring.push(int(open_ns), (o, h, lo, c, v))

    def _rows_until(self, t: int) -> None:
        """Record COB rows for every whole second <= ``t`` not yet recorded."""
        if self._next_second is None:
            return
        frames = self.config.frames
        while self._next_second <= t:
            bid, ask, _, imbalance, ma = self.cob.row(self._next_second)
            slot = (self._next_second // NS_PER_SECOND) % frames
            self._row_time[slot] = self._next_second
            self._row_bid[slot], self._row_ask[slot] = bid, ask
            self._row_imb[slot], self._row_ma[slot] = imbalance, ma
            self._next_second += NS_PER_SECOND

    def on_book_event(
        self, code: int, ts: int, side: int = 0, price: float = 0.0, qty: float = 0.0
    ) -> None:
        """Apply one entry of the primary symbol's book application log."""
        if self._next_second is None:
            self._next_second = -(-ts // NS_PER_SECOND) * NS_PER_SECOND
        self._rows_until(ts - 1)
        self.cob.apply(code, ts, side, price, qty)

    # -- the primary book, for what trades on it (a venue walking it, the decision price) -------

    @property
    def book_known(self) -> bool:
        """Whether any book event arrived: from then on, a book is expected."""
        return self.cob.known

    @property
    def book_valid(self) -> bool:
        """Whether the book is synced and not broken since."""
        return self.cob.valid

    def book_levels(self, depth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Return the top ``depth`` ``(bid prices, bid qtys, ask prices, ask qtys)``; empty while invalid."""
        return self.cob.levels(depth)

    def book_mid(self, t: int) -> float:
        """Return the book's mid at ``t``; NaN when it is invalid, one-sided, or stale at ``t``.

        A book with no event for ``book_stale_s`` (a recording that ended, a silent feed) is
        not the market at ``t``: its features are unknown, and so is its mid.
        """
        if t - self.cob.last_ts > self.cob.stale_ns:
            return float("nan")
        bid, ask = self.cob.best()
        return (bid + ask) / 2.0 if np.isfinite(bid) and np.isfinite(ask) else float("nan")

    def on_model_output(self, name: str, vector: np.ndarray) -> None:
        """Keep the latest output vector of an upstream model."""
        self.outputs[name] = np.asarray(vector, np.float32)

    def build(self, at: int, outputs: dict[str, np.ndarray] | None = None) -> ModelInput:
        """Assemble the input for decision time ``at`` (everything fed so far must be <= at).

        ``outputs`` replaces the kept upstream outputs for this input only (``{}``: every slot
        masked, as a model without upstream models was trained).
        """
        return self.assemble(self.windows(at), outputs)

    def assemble(self, windows: InputWindows, outputs: dict[str, np.ndarray] | None = None
                 ) -> ModelInput:  # fmt: skip
        """Assemble the input of ``windows`` (from :meth:`windows`), as :meth:`build` does."""
        chosen = self.outputs if outputs is None else outputs
        return assemble_windows(self.layout, windows, chosen, self._pivot_cache)

    def windows(self, at: int) -> InputWindows:
        """Return the raw windows of the input at ``at``.

        The bar windows are views of this builder's buffers, valid until the next event: copy
        what must outlive it.
        """
        self._rows_until(at)
        cfg = self.config
        times = decision_seconds(at, cfg.frames)
        slots = (times // NS_PER_SECOND) % cfg.frames
        known = self._row_time[slots] == times
        bid = np.where(known[:, None], self._row_bid[slots], np.nan)
        ask = np.where(known[:, None], self._row_ask[slots], np.nan)
        imb = np.where(known, self._row_imb[slots], np.nan)
        ma = np.where(known[:, None], self._row_ma[slots], np.nan)
        bars = {key: ring.window() for key, ring in self.rings.items()}
        return InputWindows(at, bars, (bid, ask, imb, ma))
