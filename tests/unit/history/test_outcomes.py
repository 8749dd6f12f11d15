"""Outcomes: judged at the horizon on the decision price, never from later data (property)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmts.backtest.replay import replay_events
from mmts.config import FeatureConfig
from mmts.core.events import BarEvent
from mmts.core.time import to_ns
from mmts.data import open_store
from mmts.execution.costs import CostModel
from mmts.execution.portfolio import Portfolio
from mmts.execution.venue import SimulatedVenue
from mmts.history.outcomes import PendingDecision, judge
from mmts.runtime.engine import Runtime, RuntimeConfig
from mmts.strategy.moe import MixtureOfExperts, MoeConfig
from mmts.strategy.risk import RiskConfig
from mmts.strategy.rules import MovingAverageRule

CFG = FeatureConfig(tick={"ETH/USDT": 0.01}, timeframes=("1m", "1h"), frames=60)
START, END = to_ns("2024-08-20T00:00:00Z"), to_ns("2024-08-20T03:00:00Z")
STEP, HORIZON = 5 * 60 * 10**9, 15 * 60 * 10**9


@pytest.fixture(scope="module")
def events(sample_store_path: Any) -> list[Any]:
    return list(replay_events(open_store(sample_store_path), CFG, START, END))


def _outcomes(events: list[Any]) -> pd.DataFrame:
    rt = Runtime(RuntimeConfig(decision_every_ns=STEP, horizon_ns=HORIZON), CFG,
                 {"fast": MovingAverageRule(fast=3, slow=8), "slow": MovingAverageRule(fast=5, slow=20)},
                 MixtureOfExperts(MoeConfig(cooldown_s=0)), RiskConfig(), SimulatedVenue(),
                 Portfolio(cash=10_000.0), start=START)  # fmt: skip
    rows: list[Any] = []
    rt.on_outcomes.append(lambda _, table: rows.append(pd.DataFrame(table)))
    for event in events:
        rt.feed(event)
    rt.finish(END)
    return pd.concat(rows, ignore_index=True)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut_step=st.integers(6, 30), seed=st.integers(0, 2**16))
def test_prices_after_the_horizon_change_no_earlier_outcome(events: list[Any], cut_step: int,
                                                            seed: int) -> None:  # fmt: skip
    cut = START + cut_step * STEP  # a decision time
    rng = np.random.default_rng(seed)
    changed = []
    for event in events:
        if isinstance(event, BarEvent) and event.time > cut:
            scale = float(rng.uniform(0.9, 1.1))
            o, h, lo, c, v = event.ohlcv
            event = event._replace(ohlcv=(o * scale, h * scale, lo * scale, c * scale, v))
        changed.append(event)
    before, after = _outcomes(events), _outcomes(changed)
    keep = before["time"] + HORIZON <= cut  # times in ns, as the runtime hands them over
    assert keep.sum() > 0
    pd.testing.assert_frame_equal(before[keep], after[after["time"].isin(before.loc[keep, "time"])])
    assert not before.equals(after)  # later outcomes did change: the perturbation was real


def test_judging_one_decision_by_hand() -> None:
    costs = CostModel(taker_fee=0.001, half_spread=0.0)
    pending = PendingDecision(0, 100.0, names=["a", "b"], roles=["active", "active"],
                              input_ids=["0:0", "0:0"], actions=[2, 0],
                              probabilities=[(0.1, 0.2, 0.7), (0.6, 0.3, 0.1)],
                              weights=[0.75, 0.25], action=2, size=2.0)  # fmt: skip
    label, table = judge(pending, 60, 101.0, costs, dead_zone=0.0005)
    rows = pd.DataFrame(table).set_index("model")
    assert label == 2 and list(rows["outcome"]) == ["BUY"] * 3  # +1 % beats 0.2 % round trip
    assert list(rows["correct"]) == [True, False, True]
    assert rows.loc["a", "follow_return"] == pytest.approx(0.01 - 0.002)
    assert rows.loc["b", "follow_return"] == pytest.approx(-0.01 - 0.002)
    assert rows.loc["mixture", "pnl"] == pytest.approx(2.0 * 100.0 * 0.01)
    assert rows.loc["a", "pnl"] == pytest.approx(0.75 * 2.0)  # followed: its weight's share
    assert rows.loc["b", "pnl"] == 0.0  # not followed
    assert rows.loc["a", "log_loss"] == pytest.approx(-np.log(0.7))
    assert rows.loc["b", "brier"] == pytest.approx(0.6**2 + 0.3**2 + 0.9**2)
