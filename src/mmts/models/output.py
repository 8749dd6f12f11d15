"""One model output for every model type (the seed's ModelOutput), and its slot vector.

Other models read an output through the standardized input's ``model_outputs`` block, as a
fixed-length vector (:meth:`ModelOutput.to_slot`): class probabilities, confidence, then the
hidden state, zero-padded or truncated to the slot size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np


class Action(IntEnum):
    """A trading decision; the value is the class index models predict."""

    SELL = 0
    HOLD = 1
    BUY = 2

    @property
    def position(self) -> int:
        """Target position of the action: -1, 0 or +1."""
        return int(self) - 1


#: Class index → name, in class order.
ACTION_NAMES = tuple(a.name for a in Action)

#: How ``left_out`` names an expert that had nothing to decide on (see :class:`InputUnavailable`).
NO_USABLE_INPUT = "no usable input"


class InputUnavailable(Exception):
    """An expert's input is entirely masked: it has no opinion, and must not vote HOLD.

    An expert raises it (say, the order-book rule on history without a book); the runtime then
    leaves the expert out of that decision's mixture (``left_out``), so its weight reflects
    only decisions it could make.
    """


@dataclass(frozen=True)
class ModelOutput:
    """What any model returns for one decision.

    ``probabilities`` follow :class:`Action` order (SELL, HOLD, BUY); ``confidence`` is the
    probability of the chosen action unless the model defines it otherwise; ``hidden`` is a
    vector other models may consume; ``q_values`` and ``value`` are for value-based models;
    ``extras`` holds model-specific arrays and ``metadata`` anything JSON-ready.
    """

    model_name: str
    model_type: str
    model_version: str
    symbol: str
    at: int
    action: Action
    probabilities: np.ndarray
    confidence: float
    hidden: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    q_values: np.ndarray | None = None
    value: float | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        probs = np.asarray(self.probabilities, np.float64)
        if probs.shape != (len(Action),) or not np.isfinite(probs).all():
            raise ValueError(
                f"{self.model_name}: probabilities must be 3 finite numbers; got {probs}"
            )
        if abs(probs.sum() - 1.0) > 1e-4 or (probs < 0).any():
            raise ValueError(f"{self.model_name}: probabilities must sum to 1; got {probs}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(
                f"{self.model_name}: confidence must be in [0, 1]; got {self.confidence}"
            )

    def to_slot(self, size: int) -> np.ndarray:
        """Return ``[p_sell, p_hold, p_buy, confidence, hidden...]`` as float32[size]."""
        head = np.concatenate([self.probabilities, [self.confidence], np.ravel(self.hidden)])
        slot = np.zeros(size, np.float32)
        slot[: min(size, head.shape[0])] = head[:size]
        return slot

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (arrays as lists)."""
        return {
            "model_name": self.model_name,
            "model_type": self.model_type,
            "model_version": self.model_version,
            "symbol": self.symbol,
            "at": self.at,
            "action": self.action.name,
            "probabilities": [float(p) for p in self.probabilities],
            "confidence": float(self.confidence),
            "hidden": [float(h) for h in np.ravel(self.hidden)],
            "q_values": None if self.q_values is None else [float(q) for q in self.q_values],
            "value": self.value,
            "extras": {k: np.asarray(v).tolist() for k, v in self.extras.items()},
            "metadata": dict(self.metadata),
        }
