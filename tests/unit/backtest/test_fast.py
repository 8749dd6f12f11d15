"""The fast path (batched expert outputs, bars only) makes the event loop's orders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mmts.backtest.fast import batch_outputs
from mmts.backtest.replay import replay_events
from mmts.config import FeatureConfig
from mmts.core.events import BarEvent
from mmts.core.time import to_ns
from mmts.data import open_store
from mmts.execution.portfolio import Portfolio
from mmts.execution.venue import SimulatedVenue
from mmts.features.history import InputHistory
from mmts.features.inputs import ModelInputLayout
from mmts.models.cnn import CnnNet
from mmts.models.predictors import CnnPredictor, DqnPredictor
from mmts.models.rl.dqn import DuelingQNet
from mmts.models.summary import summary_features
from mmts.runtime.engine import Runtime, RuntimeConfig
from mmts.strategy.moe import MixtureOfExperts, MoeConfig
from mmts.strategy.risk import RiskConfig
from mmts.strategy.rules import ImbalanceRule, MovingAverageRule

CFG = FeatureConfig(tick={"ETH/USDT": 0.01})
START, END = to_ns("2024-08-20T00:00:00Z"), to_ns("2024-08-20T16:00:00Z")
STEP = 5 * 60 * 10**9


def _experts(store) -> dict:
    torch.manual_seed(3)
    layout = ModelInputLayout(config=CFG)
    rl_layout = ModelInputLayout(config=CFG, model_slots=("cnn",))
    probe = InputHistory(store, START, START, CFG, ("cnn",)).at(START)
    return {
        "cnn": CnnPredictor(CnnNet(layout.shapes(), 8, 16, 0.0), layout),
        "rl": DqnPredictor(DuelingQNet(summary_features(probe).shape[0] + 3, 16), rl_layout),
        "ma_cross": MovingAverageRule(), "imbalance": ImbalanceRule(),
    }  # fmt: skip


def _runtime(experts: dict, outputs_at=None) -> Runtime:
    cfg = RuntimeConfig(decision_every_ns=STEP, horizon_ns=15 * 60 * 10**9)
    return Runtime(cfg, CFG, experts, MixtureOfExperts(MoeConfig(cooldown_s=0.0, buy_threshold=0.4,
                   sell_threshold=0.4)), RiskConfig(stop_loss=0.002), SimulatedVenue(),
                   Portfolio(cash=10_000.0), start=START, outputs_at=outputs_at)  # fmt: skip


@pytest.mark.slow
def test_fast_path_orders_equal_the_event_loop(sample_store_path) -> None:
    store = open_store(sample_store_path)
    loop = _runtime(_experts(store))
    events = list(replay_events(store, CFG, START, END))
    for event in events:
        loop.feed(event)
    loop.finish(END)

    experts = _experts(store)
    times = np.arange(START, END + 1, STEP, dtype=np.int64)
    table = batch_outputs(store, CFG, experts, times)
    fast = _runtime(experts, outputs_at=table.__getitem__)
    for event in events:  # only the bars the venue fills against
        if (
            isinstance(event, BarEvent)
            and event.timeframe == "1m"
            and event.symbol == CFG.primary_symbol
        ):
            fast.feed(event)
    fast.finish(END)

    assert len(loop.orders) >= 8
    assert [o.time for o in fast.orders] == [o.time for o in loop.orders]
    np.testing.assert_allclose(
        [o.qty for o in fast.orders], [o.qty for o in loop.orders], rtol=1e-6
    )
    assert [d["action"] for d in fast.decisions] == [d["action"] for d in loop.decisions]
    assert fast.portfolio.equity(100.0) == pytest.approx(loop.portfolio.equity(100.0), rel=1e-6)

    # Two worker processes, each a slice of the decisions, give the same outputs.
    parallel = batch_outputs(store, CFG, _experts(store), times, batch=64, workers=2)
    for t in times:
        assert parallel[int(t)][1] == table[int(t)][1]  # the same experts left out, same reasons
        for name, out in table[int(t)][0].items():
            other = parallel[int(t)][0][name]
            if out is None:  # the book rule: no book on these days
                assert other is None and name == "imbalance"
                continue
            assert other is not None
            assert out.action == other.action, (int(t), name)
            np.testing.assert_allclose(out.probabilities, other.probabilities, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_mmts_backtest_fast_engine_equals_the_event_loop_on_a_recorded_book(
    book_toml: str, backtest_untrained: Any, tmp_path: Path
) -> None:
    """Where the store holds a book, fills walk it the same way in both engines."""
    import pandas as pd

    from mmts.backtest.fast import FAST_BATCH

    results = backtest_untrained(book_toml, tmp_path, {"event": ("event", None), "fast": ("fast", 2)},
                                 batch=FAST_BATCH)  # fmt: skip
    store = results["store"]
    runs = {}
    for engine in ("event", "fast"):
        assert results[engine]["engine"] == engine
        runs[engine] = {k: pd.read_parquet(Path(results[engine]["run_dir"]) / f"{k}.parquet")
                        for k in ("orders", "fills", "decisions")}  # fmt: skip
    event, fast = runs["event"], runs["fast"]
    assert len(event["fills"]) >= 5 and (event["fills"]["liquidity"] == "taker").all()
    assert (event["decisions"]["action"] == fast["decisions"]["action"]).all()
    for table in ("orders", "fills"):
        assert len(fast[table]) == len(event[table])
        assert (fast[table]["time"] == event[table]["time"]).all()
    np.testing.assert_allclose(fast["fills"]["signed_qty"], event["fills"]["signed_qty"], rtol=1e-6)
    np.testing.assert_allclose(fast["fills"]["price"], event["fills"]["price"], rtol=1e-12)
    # The fills walked the recorded book: prices between the ticks of its levels, not bar opens.
    assert not np.isin(fast["fills"]["price"], store.bars("ETH/USDT", "1m")["open"]).all()
