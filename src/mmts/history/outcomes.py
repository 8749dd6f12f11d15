"""Outcomes: what the market did after each prediction, joined to it once its horizon passed.

A decision at ``t`` is judged at the first decision at or after ``t + horizon``, on the same
price the runtime decides on at both ends (the mid of a valid, fresh book, else the last
primary close), so nothing after that decision's data can change it. Per prediction:

- ``realized_return``: ``price(exit) / price(t) - 1``;
- ``outcome``: its cost-aware label (``models.labels.cost_aware_labels``, the rule training
  uses), ``correct``: whether the predicted action was that label;
- ``follow_return``: what following the prediction alone would have netted per unit of
  notional: ``position * r - |position| * round_trip`` (HOLD: 0);
- ``pnl``: quote currency the prediction contributed. The mixture's row: its target position
  held over the horizon, ``size * price(t) * r`` (gross; overlapping horizons overlap). An
  expert's row: its weight's share of that where the mixture took the expert's own action
  (BUY or SELL), else 0 — a shadow model is never followed, so 0;
- ``log_loss`` (``-ln p[outcome]``, p clipped at 1e-6) and ``brier``
  (``sum (p - onehot(outcome))^2``): the proper scores promotion and monitoring compare.

The runtime keeps the pending decisions in :class:`OutcomeTracker`, the same in replay and live.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmts.execution.costs import CostModel
from mmts.history.schema import OUTCOMES
from mmts.models.labels import UNKNOWN, cost_aware_labels
from mmts.models.output import ACTION_NAMES, Action

#: Probabilities are clipped here before the log in ``log_loss`` (a sure miss is not infinite).
LOG_LOSS_EPS = 1e-6


@dataclass(slots=True)
class PendingDecision:
    """A decision's predictions waiting for their horizon."""

    when: int
    price: float
    names: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    input_ids: list[str | None] = field(default_factory=list)
    actions: list[int] = field(default_factory=list)
    probabilities: list[tuple[float, float, float]] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    #: The mixture's action (a class index) and target position.
    action: int = int(Action.HOLD)
    size: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready copy (a live session's state file)."""
        return {
            "when": self.when, "price": self.price, "names": self.names, "roles": self.roles,
            "input_ids": self.input_ids, "actions": self.actions,
            "probabilities": [list(p) for p in self.probabilities],
            "weights": [None if not np.isfinite(w) else w for w in self.weights],
            "action": self.action, "size": self.size,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PendingDecision:
        """Rebuild from :meth:`to_json`."""
        return cls(
            int(data["when"]), float(data["price"]), list(data["names"]), list(data["roles"]),
            list(data["input_ids"]), [int(a) for a in data["actions"]],
            [tuple(float(v) for v in p) for p in data["probabilities"]],  # type: ignore[misc]
            [float("nan") if w is None else float(w) for w in data["weights"]],
            int(data["action"]), float(data["size"]),
        )  # fmt: skip


def judge(pending: PendingDecision, exit_time: int, exit_price: float, costs: CostModel,
          dead_zone: float) -> tuple[int, dict[str, list[Any]]]:  # fmt: skip
    """Return the decision's label and the ``outcomes`` rows of its predictions (columns).

    Plain lists, not an Arrow table: this runs once per decision on the decision loop, and
    the ledger's thread builds one table per flush.
    """
    r = exit_price / pending.price - 1.0
    label = int(cost_aware_labels(np.array([r]), costs, dead_zone)[0])
    known = label != UNKNOWN
    round_trip = costs.round_trip
    mixture_pnl = pending.size * pending.price * r
    rows: dict[str, list[Any]] = {name: [] for name in OUTCOMES.names}
    outcome = ACTION_NAMES[label] if known else None
    for k, name in enumerate(pending.names):
        action = pending.actions[k]
        position = action - 1
        probs = pending.probabilities[k]
        weight = pending.weights[k]
        followed = action == pending.action and pending.action != int(Action.HOLD)
        if known:
            p_label = probs[label]
            loss = -math.log(min(max(p_label, LOG_LOSS_EPS), 1.0))
            brier = sum((p - (1.0 if j == label else 0.0)) ** 2 for j, p in enumerate(probs))
        _add(rows, pending.when, name, pending.roles[k], pending.input_ids[k], exit_time, r, outcome,
             action == label if known else None, position * r - abs(position) * round_trip,
             (weight if math.isfinite(weight) else 0.0) * mixture_pnl if followed else 0.0,
             loss if known else None, brier if known else None)  # fmt: skip
    position = pending.action - 1
    _add(rows, pending.when, "mixture", "active", pending.input_ids[0] if pending.names else None,
         exit_time, r, outcome, pending.action == label if known else None,
         position * r - abs(position) * round_trip, mixture_pnl, None, None)  # fmt: skip
    return label, rows


def _add(rows: dict[str, list[Any]], *values: Any) -> None:
    for column, value in zip(rows.values(), values, strict=True):
        column.append(value)


class OutcomeTracker:
    """The decisions whose horizon has not passed yet, oldest first."""

    def __init__(self, horizon_ns: int) -> None:
        self.horizon_ns = int(horizon_ns)
        self.pending: deque[PendingDecision] = deque()

    def add(self, pending: PendingDecision) -> None:
        """Keep a decision until its horizon passes."""
        self.pending.append(pending)

    def due(self, t: int) -> list[PendingDecision]:
        """Remove and return the decisions whose horizon has passed at ``t``."""
        out = []
        while self.pending and t - self.pending[0].when >= self.horizon_ns:
            out.append(self.pending.popleft())
        return out

    def state(self) -> list[dict[str, Any]]:
        """Return the pending decisions (JSON-ready)."""
        return [p.to_json() for p in self.pending]

    def restore(self, state: list[Any]) -> None:
        """Continue from :meth:`state` (or an older state's ``[time, price]`` pairs)."""
        self.pending = deque(
            PendingDecision(int(p[0]), float(p[1])) if isinstance(p, list | tuple)
            else PendingDecision.from_json(p)
            for p in state
        )  # fmt: skip
