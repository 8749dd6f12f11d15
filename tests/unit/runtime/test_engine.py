"""The runtime on the bundled real window: deterministic, no look-ahead, survives a bad expert."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mmts.backtest.replay import replay_events
from mmts.config import FeatureConfig
from mmts.core.time import to_ns
from mmts.data import open_store
from mmts.execution.portfolio import Portfolio
from mmts.execution.venue import SimulatedVenue
from mmts.runtime.engine import Runtime, RuntimeConfig
from mmts.strategy.moe import MixtureOfExperts, MoeConfig
from mmts.strategy.risk import RiskConfig
from mmts.strategy.rules import ImbalanceRule, MovingAverageRule

CFG = FeatureConfig(tick={"ETH/USDT": 0.01})
START, END = to_ns("2024-08-08T23:55:00Z"), to_ns("2024-08-09T00:05:00Z")


class Broken:
    """An expert that always fails."""

    name = "broken"
    model_type = "test"

    def predict(self, x: Any) -> Any:
        raise RuntimeError("model file corrupt")


def _run(store: Any, end: int, experts: dict[str, Any] | None = None) -> Runtime:
    experts = experts or {
        "imbalance": ImbalanceRule(threshold=0.1),
        "ma_cross": MovingAverageRule(),
    }
    rt = Runtime(RuntimeConfig(decision_every_ns=10 * 10**9, horizon_ns=60 * 10**9), CFG, experts,
                 MixtureOfExperts(MoeConfig(cooldown_s=30)), RiskConfig(), SimulatedVenue(),
                 Portfolio(cash=10_000.0), start=START)  # fmt: skip
    for event in replay_events(store, CFG, START, END):
        if event.time > end:
            break
        rt.feed(event)
    rt.finish(end)
    return rt


@pytest.fixture(scope="module")
def full(sample_store_path) -> Runtime:
    return _run(open_store(sample_store_path), END)


def test_trades_the_real_window_and_books_every_fill(full: Runtime) -> None:
    assert len(full.decisions) == 61 and full.fills and len(full.orders) >= len(full.fills)
    position = sum(f.qty for f in full.fills)
    assert full.portfolio.position == pytest.approx(position)
    assert full.portfolio.fees == pytest.approx(sum(f.fee for f in full.fills))
    assert {d["action"] for d in full.decisions} <= {"BUY", "SELL", "HOLD"}
    assert all(d["why"] for d in full.decisions)


def test_same_events_same_decisions_and_fills(sample_store_path, full: Runtime) -> None:
    again = _run(open_store(sample_store_path), END)
    assert again.decisions == full.decisions
    assert again.fills == full.fills


def test_decisions_ignore_events_after_them(sample_store_path, full: Runtime) -> None:
    cut = START + 4 * 60 * 10**9 + 3 * 10**9
    truncated = _run(open_store(sample_store_path), cut)
    before = [d for d in full.decisions if d["time"] <= cut]
    assert truncated.decisions == before and len(before) > 20


def test_a_failing_expert_leaves_the_mixture_and_trading_goes_on(sample_store_path) -> None:
    experts = {"ma_cross": MovingAverageRule(), "broken": Broken()}
    rt = _run(open_store(sample_store_path), START + 60 * 10**9, experts)
    assert rt.decisions
    for decision in rt.decisions:
        assert "model file corrupt" in decision["left_out"]
        assert "broken" not in decision["expert_weights"]
    assert np.isfinite([d["confidence"] for d in rt.decisions]).all()


def test_outcome_labels_match_the_model_labels() -> None:
    from mmts.execution.costs import CostModel
    from mmts.history.outcomes import PendingDecision
    from mmts.models.labels import cost_aware_labels
    from mmts.models.output import Action

    class Recorder(MixtureOfExperts):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[tuple[int, Action]] = []

        def resolve(self, time: int, outcome: Action) -> None:
            self.seen.append((time, outcome))

    cfg = RuntimeConfig(
        decision_every_ns=10**9, horizon_ns=2 * 10**9, costs=CostModel(), dead_zone=0.0005
    )
    moe = Recorder()
    rt = Runtime(cfg, CFG, {}, moe, RiskConfig(), SimulatedVenue(), start=0)
    returns = [0.004, -0.004, 0.001, 0.0]
    for k, r in enumerate(returns):
        rt.outcomes.add(PendingDecision(k * 10**9, 100.0))
        rt.price = 100.0 * (1 + r)  # no book: the decision price is the last close
        rt._resolve((k + 2) * 10**9)
    want = cost_aware_labels(np.array(returns), CostModel(), 0.0005)
    assert [int(o) for _, o in moe.seen] == want.tolist()


@pytest.mark.slow
def test_state_and_restore_continue_a_run_exactly(sample_store_path) -> None:
    """Stop mid-run, restart from Runtime.state(): the same decisions as an uninterrupted run.

    With the DQN reading the CNN (its carried position is part of the state) and the mixture's
    track record (the restarted run resolves outcomes of decisions made before the stop).
    """
    import json

    from mmts.testing.experts import untrained_experts

    store = open_store(sample_store_path)

    def runtime(start: int) -> Runtime:
        experts = untrained_experts(_experiment(), store, START, seed=5, rules=())
        experts |= {"imbalance": ImbalanceRule(threshold=0.1), "ma_cross": MovingAverageRule()}
        return Runtime(RuntimeConfig(decision_every_ns=10 * 10**9, horizon_ns=60 * 10**9), CFG,
                       experts, MixtureOfExperts(MoeConfig(cooldown_s=30)), RiskConfig(),
                       SimulatedVenue(), Portfolio(cash=10_000.0), start=start)  # fmt: skip

    events = list(replay_events(store, CFG, START, END))
    whole = runtime(START)
    for event in events:
        whole.feed(event)
    whole.finish(END)
    stop = START + 200 * 10**9 + 10**9  # one second after a decision: its order has filled
    first = runtime(START)
    for event in events:
        if event.time > stop:
            break
        first.feed(event)
    state = json.loads(json.dumps(first.state()))  # through JSON, as state.json
    second = runtime(stop)
    second.restore(state)
    for event in events:  # earlier events only warm the features up again
        second.feed(event)
    second.finish(END)
    after = [d for d in whole.decisions if d["time"] > stop]
    assert len(after) > 20
    # There is something to carry over: the DQN holds a position, the mixture a track record.
    assert state["experts"]["rl"]["position"] != 0.0
    assert all(r["resolved"] > 0 for r in state["moe"]["records"].values())
    keys = ("time", "action", "size", "expert_weights", "experts")
    assert [[d[k] for k in keys] for d in second.decisions] == [[d[k] for k in keys] for d in after]


def _experiment() -> Any:
    import dataclasses

    from mmts.models.experiment import load_experiment

    exp = load_experiment()
    return dataclasses.replace(exp, features=CFG)


def test_past_the_recorded_book_decisions_price_at_the_bars_not_the_stale_mid(
    sample_store_path: Any,
) -> None:
    store = open_store(sample_store_path)
    start, end = to_ns("2024-08-09T00:04:00Z") or 0, to_ns("2024-08-09T00:09:00Z") or 0
    rt = Runtime(RuntimeConfig(decision_every_ns=10 * 10**9, horizon_ns=60 * 10**9), CFG,
                 {"ma_cross": MovingAverageRule()}, MixtureOfExperts(MoeConfig()), RiskConfig(),
                 SimulatedVenue(), Portfolio(cash=10_000.0), start=start)  # fmt: skip
    for event in replay_events(store, CFG, start, end):
        rt.feed(event)
    rt.finish(end)
    last_book = int(store.book_events("ETH/USDT")["local_ts"][-1])  # 00:05:04.53
    closes = store.bars("ETH/USDT", "1m", start="2024-08-09T00:00:00Z", end="2024-08-09T00:10:00Z")
    close_at = {
        int(t) + 60 * 10**9: c for t, c in zip(closes.index.asi8, closes["close"], strict=True)
    }
    for d in rt.decisions:
        if d["time"] <= last_book + CFG.book_stale_s * 10**9:
            continue  # the book's mid while it is fresh
        latest = max(t for t in close_at if t <= d["time"])
        assert d["price"] == close_at[latest], d["time"]  # the last 1 m close, not the old mid
    assert sum(d["time"] > last_book + 5 * 10**9 for d in rt.decisions) >= 20
