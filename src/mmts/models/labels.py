"""Cost-aware labels: what a trade decided at t would have earned, net of costs.

For a decision at the close of bar ``i`` (time t), the forward return over ``horizon`` bars is
``r = close[i + h] / close[i] - 1``. A long entered at t and closed at t + h nets
``r - round_trip``; a short nets ``-r - round_trip`` (``CostModel.round_trip``: taker fee and
half the spread on both fills). The label is BUY when the long nets more than ``dead_zone``,
SELL when the short does, HOLD otherwise. A label uses ``close[i]`` (the decision price, known
at t) and the closes after t only; it is unknown (-1) where bar ``i + h`` is missing.
"""

from __future__ import annotations

import numpy as np

from mmts.execution.costs import CostModel
from mmts.models.output import Action

UNKNOWN = -1


def forward_returns(opens: np.ndarray, closes: np.ndarray, step: int, horizon: int) -> np.ndarray:
    """Return ``close[open + horizon * step] / close[i] - 1`` per bar; NaN where that bar is missing.

    ``opens`` (int ns, increasing) may have gaps: the exit bar is looked up by time, never by
    position, so a gap never turns into a longer horizon.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1 bar; was {horizon}")
    opens = np.asarray(opens, np.int64)
    closes = np.asarray(closes, np.float64)
    target = opens + horizon * step
    j = np.searchsorted(opens, target)
    found = (j < opens.shape[0]) & (opens[np.minimum(j, opens.shape[0] - 1)] == target)
    out = np.full(opens.shape[0], np.nan)
    out[found] = closes[j[found]] / closes[found] - 1.0
    return out


def cost_aware_labels(returns: np.ndarray, costs: CostModel, dead_zone: float = 0.0) -> np.ndarray:
    """Map forward returns to :class:`Action` class indices (``UNKNOWN`` where NaN)."""
    if dead_zone < 0:
        raise ValueError(f"dead_zone must be >= 0; was {dead_zone}")
    r = np.asarray(returns, np.float64)
    labels = np.full(r.shape[0], int(Action.HOLD), np.int64)
    labels[r - costs.round_trip > dead_zone] = int(Action.BUY)
    labels[-r - costs.round_trip > dead_zone] = int(Action.SELL)
    labels[~np.isfinite(r)] = UNKNOWN
    return labels
