"""Mixture of experts: weights learn only from resolved outcomes; thresholds, churn, fallback."""

from __future__ import annotations

import numpy as np
import pytest

from mmts.config import FeatureConfig
from mmts.data import open_store
from mmts.features import model_input
from mmts.models.output import Action, InputUnavailable, ModelOutput
from mmts.strategy.moe import MixtureOfExperts, MoeConfig
from mmts.strategy.rules import ImbalanceRule, MovingAverageRule

S = 10**9


def _out(name: str, probs: list[float], at: int = 0) -> ModelOutput:
    p = np.array(probs)
    action = Action(int(np.argmax(p)))
    return ModelOutput(model_name=name, model_type="test", model_version="1", symbol="ETH/USDT",
                       at=at, action=action, probabilities=p, confidence=float(p.max()))  # fmt: skip


def test_weights_move_only_when_outcomes_are_resolved() -> None:
    moe = MixtureOfExperts(MoeConfig(cooldown_s=0.0, learning_rate=0.2))
    good, bad = [0.1, 0.1, 0.8], [0.8, 0.1, 0.1]
    before = moe.weights(["a", "b"])
    for k in range(20):
        moe.decide(k * S, {"a": _out("a", good), "b": _out("b", bad)})
    assert moe.weights(["a", "b"]) == before  # nothing resolved yet: no look-ahead
    for k in range(20):
        moe.resolve(k * S, Action.BUY)
    w = moe.weights(["a", "b"])
    assert w["a"] > 0.7
    assert w["b"] < 0.3
    decision = moe.decide(21 * S, {"a": _out("a", good), "b": _out("b", bad)})
    assert decision.action is Action.BUY and decision.weights == w
    assert set(decision.experts) == {"a", "b"} and "p_buy" in decision.why


def test_thresholds_hysteresis_and_cooldown() -> None:
    moe = MixtureOfExperts(MoeConfig(buy_threshold=0.6, hysteresis=0.1, cooldown_s=60.0))
    assert moe.decide(0, {"a": _out("a", [0.3, 0.2, 0.5])}).action is Action.HOLD
    assert moe.decide(100 * S, {"a": _out("a", [0.1, 0.2, 0.7])}).action is Action.BUY
    flip = moe.decide(130 * S, {"a": _out("a", [0.8, 0.1, 0.1])})
    assert flip.action is Action.BUY and "cool-down" in flip.why  # 30 s after the change
    held = moe.decide(200 * S, {"a": _out("a", [0.2, 0.25, 0.55])})
    assert held.action is Action.BUY and "held" in held.why  # 0.55 >= 0.6 - 0.1
    later = moe.decide(400 * S, {"a": _out("a", [0.8, 0.1, 0.1])})
    assert later.action is Action.SELL


def test_failed_or_missing_experts_leave_the_mixture_and_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    moe = MixtureOfExperts(MoeConfig(cooldown_s=0.0))
    decision = moe.decide(
        0, {"a": _out("a", [0.1, 0.1, 0.8]), "b": None}, failures={"c": "RuntimeError: boom"}
    )
    assert decision.left_out == {"b": "no output", "c": "RuntimeError: boom"}
    assert decision.weights == {"a": 1.0} and decision.action is Action.BUY
    assert "left the mixture" in caplog.text
    nothing = moe.decide(S, {"b": None})
    assert nothing.action is Action.HOLD and "no expert" in nothing.why


def test_rule_experts_read_the_standardized_input(sample_store_path) -> None:
    store = open_store(sample_store_path)
    cfg = FeatureConfig(tick={"ETH/USDT": 0.01})
    with_book = model_input(store, "2024-08-09T00:03:00Z", cfg)
    without = model_input(store, "2024-08-20T00:00:00Z", cfg)
    imbalance = ImbalanceRule(threshold=0.0)
    assert imbalance.predict(with_book).action in (Action.BUY, Action.SELL)
    with pytest.raises(InputUnavailable, match="no order book"):  # no opinion, not a HOLD vote
        imbalance.predict(without)
    ma = MovingAverageRule()
    out = ma.predict(without)
    closes = without.blocks["ohlcv_1m"][without.masks["ohlcv_1m"], 3]
    want = Action.BUY if closes[-20:].mean() > closes[-100:].mean() else Action.SELL
    assert out.action is want


def test_the_mixture_saves_and_restores_its_own_memory() -> None:
    import json

    moe = MixtureOfExperts(MoeConfig(cooldown_s=0.0, learning_rate=0.2))
    for k in range(6):
        moe.decide(k * S, {"a": _out("a", [0.1, 0.1, 0.8]), "b": _out("b", [0.7, 0.2, 0.1])})
    for k in range(3):
        moe.resolve(k * S, Action.SELL)
    again = MixtureOfExperts(moe.config)
    again.restore(json.loads(json.dumps(moe.state())))  # it goes through state.json
    assert again.records == moe.records and again.stance is moe.stance
    assert again.last_change == moe.last_change and set(again.pending) == set(moe.pending)
    later = {"a": _out("a", [0.2, 0.2, 0.6]), "b": _out("b", [0.6, 0.3, 0.1])}
    assert again.decide(9 * S, later).why == moe.decide(9 * S, later).why
