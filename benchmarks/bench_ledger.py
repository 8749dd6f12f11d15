"""The inference ledger: disk per decision against the raw inputs, append cost, query time.

Through the product's own command path (``run_backtest``), with every default expert (the
untrained CNN -> DQN chain of the default sizes and the two rules):

- **dense**: the bundled L2 window, a decision every second: each decision brings a new 1 s bar
  of both symbols and a COB row, the most a decision adds to the ledger. Event engine, so the
  append is timed on the decision loop itself (``Runtime._to_ledger``: the frame pick and the
  hand-over; the ledger's thread writes).
- **a day**: 2024-08-20, a decision every second on bar-only history (the bundled 1 m bars),
  the fast engine on 2 cores, then the time to query that day's predictions.

Raw: the float32 bytes of every input a model read (the base input, and the DQN's own with the
CNN's output in its slot), as a naive ledger would store them. Checked before timing: inputs
rebuilt from the ledger hash equal to the ones recorded.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from mmts.core.time import to_ns
from mmts.data import open_store
from mmts.features.inputs import input_hash
from mmts.history import open_ledger
from mmts.models.experiment import load_experiment
from mmts.runtime.config import load_trading
from mmts.runtime.engine import Runtime
from mmts.testing.experts import untrained_experts


def _run(root: Path, toml: Path, start: str, end: str, engine: str, out: Path,
         every: int) -> tuple[dict[str, Any], list[float]]:  # fmt: skip
    import dataclasses

    from mmts.backtest import run as run_module

    exp = load_experiment(toml)
    exp = dataclasses.replace(exp, data=dataclasses.replace(exp.data, decision_timeframe="1s",
                                                            decision_every=every))  # fmt: skip
    trading = load_trading(toml)
    store = open_store(root / "data")
    made = untrained_experts(exp, store, to_ns(start) or 0, seed=1)
    original_build, original_to_ledger = run_module.build_experts, Runtime._to_ledger
    appends: list[float] = []

    def timed(self: Runtime, *args: Any) -> None:
        t0 = time.perf_counter_ns()
        original_to_ledger(self, *args)
        appends.append((time.perf_counter_ns() - t0) / 1e6)

    run_module.build_experts = lambda *_: (made, dict.fromkeys(made, "untrained"))  # type: ignore[assignment]
    Runtime._to_ledger = timed  # type: ignore[method-assign]
    try:
        result = run_module.run_backtest(store, exp, trading, start, end, out=out, engine=engine,
                                         workers=2)  # fmt: skip
    finally:
        run_module.build_experts = original_build
        Runtime._to_ledger = original_to_ledger  # type: ignore[method-assign]
    return result, appends


def _sizes(run_dir: Path) -> tuple[int, int, int, float]:
    """Return decisions, ledger bytes, raw float32 bytes of the inputs read, and a check."""
    ledger = open_ledger(run_dir)
    inputs = ledger.inputs()
    sample = list(inputs["input_id"].iloc[[0, len(inputs) // 2, -1]])
    for x, iid in zip(ledger.inputs_for(sample), sample, strict=True):  # checked before counting
        assert input_hash(x) == inputs.set_index("input_id").loc[iid, "hash"]
    one = ledger.input(sample[0])
    raw = sum(b.nbytes for b in one.blocks.values()) * len(inputs)
    decisions = len(ledger.predictions(model="mixture"))
    return decisions, ledger.disk_bytes(), raw, 0.0


def run(root: Path) -> list[dict[str, object]]:
    toml = root / "experiments" / "default.toml"
    rows: list[dict[str, object]] = []
    pinned = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if pinned is not None:  # the fast engine's workers: two cores, as `mmts backtest` gets
        os.sched_setaffinity(0, set(range(min(2, os.cpu_count() or 1))))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            result, appends = _run(root, toml, "2024-08-08T23:55:00Z", "2024-08-09T00:05:00Z",
                                   "event", Path(tmp) / "dense", every=1)  # fmt: skip
            n, disk, raw, _ = _sizes(Path(result["run_dir"]))
            a = np.asarray(appends)
            rows.append({
                "benchmark": f"ledger, dense: L2 window, 1 s decisions, all experts ({n} decisions)",
                "mmts": f"{disk / n:,.0f} B per decision on disk ({disk / 1e6:.2f} MB)",
                "reference": f"raw float32 inputs: {raw / n:,.0f} B per decision",
                "speedup": f"{raw / disk:.0f}x less disk",
            })  # fmt: skip
            rows.append({
                "benchmark": f"ledger append on the decision loop ({a.shape[0]} decisions, event engine)",
                "mmts": f"p50 {np.percentile(a, 50):.3f} ms, p99 {np.percentile(a, 99):.3f} ms, "
                        f"max {a.max():.2f} ms (target p99 <= 0.2 ms)",
                "reference": "-", "speedup": "-",
            })  # fmt: skip
            t0 = time.perf_counter()
            result, _ = _run(root, toml, "2024-08-20T00:00:00Z", "2024-08-20T23:59:59Z", "fast",
                             Path(tmp) / "day", every=1)  # fmt: skip
            wall = time.perf_counter() - t0
            n, disk, raw, _ = _sizes(Path(result["run_dir"]))
            rows.append({
                "benchmark": f"ledger, a day of 1 s decisions on bars, all experts ({n:,} decisions, fast engine, 2 cores, {wall:.0f} s)",
                "mmts": f"{disk / n:,.0f} B per decision on disk ({disk / 1e6:.1f} MB)",
                "reference": f"raw float32 inputs: {raw / n:,.0f} B per decision ({raw / 1e9:.1f} GB)",
                "speedup": f"{raw / disk:.0f}x less disk",
            })  # fmt: skip
            ledger = open_ledger(result["run_dir"])
            t0 = time.perf_counter()
            day = ledger.predictions(start="2024-08-20", end="2024-08-21")
            query = time.perf_counter() - t0
            t0 = time.perf_counter()
            joined = ledger.predictions(start="2024-08-20", end="2024-08-21", with_outcomes=True)
            query_outcomes = time.perf_counter() - t0
            assert len(joined) == len(day)
            rows.append({
                "benchmark": f"ledger query, a day ({len(day):,} predictions)",
                "mmts": f"{query:.2f} s; with outcomes joined {query_outcomes:.2f} s",
                "reference": "-", "speedup": "-",
            })  # fmt: skip
    finally:
        if pinned is not None:
            os.sched_setaffinity(0, pinned)
    return rows


if __name__ == "__main__":
    for row in run(Path(__file__).resolve().parent.parent):
        print(row)
