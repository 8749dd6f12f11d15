"""Decisions to learn from: a time grid, cost-aware labels and the standardized inputs as tensors.

A :class:`DecisionSet` pairs each decision time with its label and forward return and builds
the input on demand from an :class:`~mmts.features.history.InputHistory` (about 0.4 ms each),
so no epoch ever holds every 300-frame input in memory at once.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from mmts.core.stores import MarketData
from mmts.core.time import iso, to_ns
from mmts.core.timeframes import timeframe_ns
from mmts.features.history import InputHistory
from mmts.features.inputs import ModelInput
from mmts.models.experiment import Experiment
from mmts.models.labels import UNKNOWN, cost_aware_labels, forward_returns


def decision_grid(start: int, end: int, step: int) -> np.ndarray:
    """Return decision times: multiples of ``step`` in ``[start, end)``."""
    first = -(-start // step) * step
    return np.arange(first, end, step, dtype=np.int64)


@dataclass(frozen=True)
class Decisions:
    """Decision times with what a trade taken at each would have earned."""

    times: np.ndarray  # int64 ns, increasing
    prices: np.ndarray  # decision price: the close of the bar that closed at the time
    returns: np.ndarray  # forward return over the label horizon (NaN: unknown)
    labels: np.ndarray  # Action class index, or labels.UNKNOWN


def decision_span(store: MarketData, exp: Experiment, start: object = None, end: object = None
                  ) -> tuple[int, int]:  # fmt: skip
    """Return ``[start, end)`` of the decisions, in ns: the given bounds, or the store's own.

    A missing bound is the store's: the first decision is at the close of the primary symbol's
    first decision bar (within ``end``), the last at the close of its last one (from ``start``).
    """
    lo, hi = to_ns(start), to_ns(end)
    if lo is None or hi is None:
        tf = exp.data.decision_timeframe
        step = timeframe_ns(tf)
        symbol = exp.features.primary_symbol
        bars = store.bars(symbol, tf, start=None if lo is None else lo - step, end=hi)
        if len(bars) == 0:
            raise ValueError(
                f"no {symbol} {tf} bars in store {str(store.root)!r}: no decision there"
            )
        opens = pd.DatetimeIndex(bars.index).as_unit("ns").asi8
        lo = int(opens[0]) + step if lo is None else lo
        hi = int(opens[-1]) + step + 1 if hi is None else hi
    return int(lo), int(hi)


def label_decisions(store: MarketData, exp: Experiment, start: object, end: object) -> Decisions:
    """Return the decision grid in ``[start, end)`` with prices, forward returns and labels.

    Decisions whose bar is missing are dropped; labels whose exit bar is missing are UNKNOWN.
    """
    lo, hi = to_ns(start), to_ns(end)
    if lo is None or hi is None or hi <= lo:
        raise ValueError(f"need start < end; were {start} and {end}")
    tf = exp.data.decision_timeframe
    step = timeframe_ns(tf)
    symbol = exp.features.primary_symbol
    bars = store.bars(symbol, tf, start=lo - step, end=hi + (exp.labels.horizon + 1) * step)
    opens = pd.DatetimeIndex(bars.index).as_unit("ns").asi8
    if opens.shape[0] == 0:
        raise ValueError(
            f"no {symbol} {tf} bars in {iso(lo)} .. {iso(hi)} in store "
            f"{str(store.root)!r}: no decision to label there"
        )
    closes = bars["close"].to_numpy(np.float64)
    fwd = forward_returns(opens, closes, step, exp.labels.horizon)
    times = decision_grid(lo, hi, exp.decision_step)
    j = np.searchsorted(opens, times - step)
    ok = (j < opens.shape[0]) & (opens[np.minimum(j, opens.shape[0] - 1)] == times - step)
    times, j = times[ok], j[ok]
    returns = fwd[j]
    return Decisions(
        times, closes[j], returns, cost_aware_labels(returns, exp.costs, exp.labels.dead_zone)
    )


def stretches(times: np.ndarray, exp: Experiment) -> list[slice]:
    """Cut sorted decision ``times`` at the holes of the history: one slice per stretch.

    A hole is a gap between two decisions longer than the label horizon (and than two decision
    steps): no label spans it, and a position is closed before it (nobody trades through
    months of missing data; a short outage within a stretch is held through, as it would be).
    """
    times = np.asarray(times, np.int64)
    if times.shape[0] == 0:
        return []
    hole = max(exp.horizon_ns, 2 * exp.decision_step)
    cuts = np.flatnonzero(np.diff(times) > hole) + 1
    edges = [0, *cuts.tolist(), times.shape[0]]
    return [slice(a, b) for a, b in itertools.pairwise(edges)]


def input_tensors(x: ModelInput) -> dict[str, torch.Tensor]:
    """Return a ModelInput's blocks and masks as tensors (``mask_<block>`` for masks)."""
    out = {name: torch.from_numpy(block) for name, block in x.blocks.items()}
    out.update({f"mask_{name}": torch.from_numpy(mask) for name, mask in x.masks.items()})
    return out


class DecisionSet(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """Inputs and labels of selected decisions (only those with a known label)."""

    def __init__(self, history: InputHistory, decisions: Decisions, index: np.ndarray) -> None:
        index = np.asarray(index, np.int64)
        self.history = history
        self.index = index[decisions.labels[index] != UNKNOWN]
        self.decisions = decisions

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        k = int(self.index[i])
        item = input_tensors(self.history.at(int(self.decisions.times[k])))
        item["label"] = torch.tensor(int(self.decisions.labels[k]))
        item["forward_return"] = torch.tensor(float(self.decisions.returns[k]))
        return item

    def class_counts(self) -> np.ndarray:
        """Return how many samples each class has (SELL, HOLD, BUY)."""
        return np.bincount(self.decisions.labels[self.index], minlength=3)
