"""The event loop at 1 s decisions on the bundled real window (book + 1 s bars), all experts.

Features (step driver), CNN -> DQN chain, the two rule experts, the mixture, risk, and the
simulated venue walking the book: decisions/s over the ~11 minutes of recorded 1 s data, and
the projected time for a full day of 1 s decisions (86,400). Untrained networks of the default
experiment's sizes: the cost does not depend on the weights.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from mmts.backtest.replay import replay_events
from mmts.core.time import to_ns
from mmts.data import open_store
from mmts.execution.portfolio import Portfolio
from mmts.execution.venue import SimulatedVenue
from mmts.models.experiment import load_experiment
from mmts.runtime.engine import Runtime, RuntimeConfig
from mmts.strategy.moe import MixtureOfExperts
from mmts.strategy.risk import RiskConfig
from mmts.testing.experts import untrained_experts


def run(root: Path) -> list[dict[str, object]]:
    torch.set_num_threads(1)
    exp = load_experiment(root / "experiments" / "default.toml")
    store = open_store(root / "data")
    start, end = to_ns("2024-08-08T23:54:30Z"), to_ns("2024-08-09T00:05:00Z")
    experts = untrained_experts(exp, store, start)
    cfg = RuntimeConfig(decision_every_ns=10**9, horizon_ns=60 * 10**9, costs=exp.costs)
    rt = Runtime(cfg, exp.features, experts, MixtureOfExperts(), RiskConfig(), SimulatedVenue(),
                 Portfolio(cash=10_000.0), start=start)  # fmt: skip
    events = list(replay_events(store, exp.features, start, end))
    t0 = time.perf_counter()
    for event in events:
        rt.feed(event)
    rt.finish(end)
    seconds = time.perf_counter() - t0
    n = len(rt.decisions)
    day = 86_400 * seconds / n
    fast_s, fast_n = _fast_path(store, exp, experts)
    return [{
        "benchmark": f"event loop, 1 s decisions, real window ({n} decisions, {len(events):,} events, all experts)",
        "mmts": f"{n / seconds:,.0f} decisions/s ({seconds / n * 1e3:.2f} ms each)",
        "reference": f"a day of 1 s decisions: {day:.0f} s projected (target < 60 s)", "speedup": "-",
    }, {
        "benchmark": f"fast path, a full day of 1 s decisions on bars ({fast_n:,} decisions, 2 worker processes)",
        "mmts": f"{fast_s:.1f} s ({fast_n / fast_s:,.0f} decisions/s)",
        "reference": "target < 60 s on 2 cores", "speedup": "-",
    }]  # fmt: skip


def _fast_path(store: object, exp: object, experts: dict[str, object]) -> tuple[float, int]:
    """Seconds and decisions of the fast path over a day of 1 s decisions on bar-only history."""
    import numpy as np

    from mmts.backtest.fast import batch_outputs
    from mmts.backtest.replay import replay_events
    from mmts.core.events import BarEvent

    features = exp.features  # type: ignore[attr-defined]
    start, end = to_ns("2024-08-20T00:00:00Z"), to_ns("2024-08-20T23:59:59Z")
    times = np.arange(start, end + 1, 10**9, dtype=np.int64)
    bars = [e for e in replay_events(store, features, start, end)
            if isinstance(e, BarEvent) and e.timeframe == "1m" and e.symbol == features.primary_symbol]  # fmt: skip
    for expert in experts.values():
        if hasattr(expert, "reset"):
            expert.reset()
    # The runner pins itself to one core; this measurement is on two (workers inherit it).
    pinned = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if pinned is not None:
        os.sched_setaffinity(0, set(range(min(2, os.cpu_count() or 1))))
    t0 = time.perf_counter()
    try:
        table = batch_outputs(store, features, experts, times, workers=2)
    finally:
        if pinned is not None:
            os.sched_setaffinity(0, pinned)
    cfg = RuntimeConfig(decision_every_ns=10**9, horizon_ns=60 * 10**9, costs=exp.costs)  # type: ignore[attr-defined]
    rt = Runtime(cfg, features, experts, MixtureOfExperts(), RiskConfig(), SimulatedVenue(),
                 Portfolio(cash=10_000.0), start=start, outputs_at=table.__getitem__)  # fmt: skip
    for event in bars:
        rt.feed(event)
    rt.finish(end)
    return time.perf_counter() - t0, len(rt.decisions)


if __name__ == "__main__":
    for row in run(Path(__file__).resolve().parent.parent):
        print(row)
