"""Training signal from outcomes: weighted examples for classifiers, transitions for the DQN.

Classifiers (the CNN and any model with class probabilities) get ``(input_id, label, weight)``
per judged prediction of theirs. The weight says how much the example should move the model:

- a mistake is **corrective**: ``weight = 1 + 2 * confidence`` (1 to 3), so a confident
  mistake counts up to three times an ordinary example;
- a right call is **reinforcing**: ``weight = 1 - confidence / 2`` (0.5 to 1), so what the
  model already knows confidently counts least.

The DQN gets the transitions it actually lived through: for consecutive predictions of its own
at ``t_k`` and ``t_(k+1)``, the state it read (its input, and the position it held), the
action it took, the reward the training environment defines (``execution.costs.step_reward``):
``position_k * (price_(k+1) / price_k - 1) - per_fill * |position_k - position_(k-1)|`` on
the decision prices, and the next state (the input at ``t_(k+1)``, holding ``position_k``).
Optionally also the actions it did not take from the same states (see :func:`dqn_transitions`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmts.execution.costs import CostModel, step_reward
from mmts.history.ledger import Ledger
from mmts.models.output import ACTION_NAMES, Action

CORRECTIVE_SLOPE = 2.0
REINFORCING_SLOPE = 0.5


def example_weight(correct: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """Return each example's weight by the rule in the module docstring."""
    confidence = np.clip(np.asarray(confidence, np.float64), 0.0, 1.0)
    return np.where(np.asarray(correct, bool), 1.0 - REINFORCING_SLOPE * confidence,
                    1.0 + CORRECTIVE_SLOPE * confidence)  # fmt: skip


def classification_examples(ledger: Ledger, model: str, start: object = None, end: object = None,
                            role: str = "active") -> pd.DataFrame:  # fmt: skip
    """Return ``time, input_id, label, weight, correct, confidence`` of ``model``'s judged predictions."""
    rows = ledger.predictions(model=model, start=start, end=end, with_outcomes=True, role=role)
    rows = rows[rows["outcome"].notna() & rows["action"].notna()]
    label = rows["outcome"].map({name: k for k, name in enumerate(ACTION_NAMES)}).astype(np.int64)
    correct = rows["correct"].astype(bool).to_numpy()
    return pd.DataFrame({
        "time": rows["time"].to_numpy(), "input_id": rows["input_id"].to_numpy(),
        "label": label.to_numpy(), "weight": example_weight(correct, rows["confidence"].to_numpy()),
        "correct": correct, "confidence": rows["confidence"].to_numpy(),
    })  # fmt: skip


TRANSITION_COLUMNS = ["time", "input_id", "position_before", "action", "reward",
                      "next_input_id", "market_return", "lived"]  # fmt: skip


def dqn_transitions(ledger: Ledger, costs: CostModel, model: str = "rl", start: object = None,
                    end: object = None, *, all_actions: bool = False) -> pd.DataFrame:  # fmt: skip
    """Return the DQN's lived transitions (columns ``TRANSITION_COLUMNS``, ``action`` by name).

    The run's first prediction starts flat; with a ``start``, the window's first prediction
    only tells the position held at the second.

    ``all_actions``: at each lived step, also the two actions not taken, from the same state
    (``lived`` False). Their reward is known exactly: in the cost model our fills do not move
    the price, so an action's reward depends only on the position held, the action and the
    market's return (``execution.costs.step_reward``). Offline data then covers every action
    of the states the agent actually met, not only the ones it chose.
    """
    rows = ledger.predictions(model=model, start=start, end=end, role="active")
    rows = rows[rows["action"].notna() & np.isfinite(rows["price"])].reset_index(drop=True)
    if len(rows) < 2:
        return pd.DataFrame(columns=TRANSITION_COLUMNS)
    position = rows["action"].map({a.name: a.position for a in Action}).to_numpy(np.float64)
    before = np.concatenate([[0.0], position[:-1]])[:-1]
    price = rows["price"].to_numpy(np.float64)
    market = price[1:] / price[:-1] - 1.0
    lived = pd.DataFrame({
        "time": rows["time"].to_numpy()[:-1], "input_id": rows["input_id"].to_numpy()[:-1],
        "position_before": before, "action": rows["action"].to_numpy()[:-1],
        "reward": step_reward(position[:-1], before, market, costs),
        "next_input_id": rows["input_id"].to_numpy()[1:], "market_return": market,
        "lived": True,
    })  # fmt: skip
    if start is not None:  # the position held before the first row is not in the window
        lived = lived.iloc[1:].reset_index(drop=True)
    if not all_actions:
        return lived
    others = []
    for action in Action:
        other = lived[lived["action"] != action.name].copy()
        other["action"] = action.name
        other["reward"] = step_reward(float(action.position), other["position_before"].to_numpy(),
                                      other["market_return"].to_numpy(), costs)  # fmt: skip
        other["lived"] = False
        others.append(other)
    every = pd.concat([lived, *others])
    order = {a.name: int(a) for a in Action}
    every["_order"] = every["action"].map(order)
    return (every.sort_values(["time", "_order"], kind="stable").drop(columns="_order")
            .reset_index(drop=True))  # fmt: skip


def rolling_accuracy(
    outcomes: pd.DataFrame, window: int = 100, role: str = "active"
) -> pd.DataFrame:
    """Return each model's rolling accuracy over its last ``window`` judged predictions.

    ``outcomes``: ``Ledger.outcomes()``. Columns of the result: ``time`` (of the prediction),
    ``model``, ``accuracy`` (from a quarter of the window on).
    """
    judged = outcomes[(outcomes["role"] == role) & outcomes["correct"].notna()]
    parts = []
    for model, rows in judged.groupby("model", sort=True):
        accuracy = (
            rows["correct"].astype(float).rolling(window, min_periods=max(1, window // 4)).mean()
        )
        parts.append(pd.DataFrame({"time": rows["time"].to_numpy(), "model": model,
                                   "accuracy": accuracy.to_numpy()}))  # fmt: skip
    if not parts:
        return pd.DataFrame(columns=["time", "model", "accuracy"])
    return pd.concat(parts, ignore_index=True).dropna(subset=["accuracy"])
