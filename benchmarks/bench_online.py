"""Tick-to-decision of a live paper session with online learning training in the background.

Two paper sessions against the simulator (``bench_live``: the bundled window at speed 1, every
default expert, a decision every second): one with the models frozen, one with ``[online]``
retraining the CNN back to back (a retrain starts as soon as the last shadow is judged, each
one several seconds of fine-tuning in the background process). Reported: p50/p99 of
tick-to-decision in both, the retrains that finished, and the share of the session's wall time
a retrain was running.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any

import bench_live
import numpy as np

from mmts.core.time import to_ns
from mmts.data import open_store
from mmts.learning import background
from mmts.learning.config import OnlineConfig
from mmts.models.experiment import load_experiment
from mmts.runtime.config import load_trading
from mmts.testing.experts import untrained_experts

#: Retrain back to back: judged quickly, each retrain a few seconds of work.
BUSY = OnlineConfig(enabled=True, retrain_every=1, window=300, min_outcomes=3, max_outcomes=6,
                    epochs=30, batch_size=16, regression_window=10)  # fmt: skip


def run(root: Path, shared: Path, seconds: float = 60.0) -> list[dict[str, object]]:
    toml = root / "experiments" / "paper_rules.toml"
    exp = load_experiment(toml)
    exp = dataclasses.replace(exp, data=dataclasses.replace(exp.data, decision_every=1))
    trading = load_trading(toml)
    store = open_store(root / "data")
    busy: list[tuple[float, float]] = []
    submit, finished = background.BackgroundTrainer.submit, background.BackgroundTrainer._finished

    def timed_submit(self: Any, job: Any) -> None:
        busy.append((time.perf_counter(), float("nan")))
        submit(self, job)

    def timed_finished(self: Any, job: Any, future: Any) -> None:
        finished(self, job, future)
        busy[-1] = (busy[-1][0], time.perf_counter())

    results = {}
    for label, online in (("frozen", trading.online), ("training", BUSY)):
        experts = untrained_experts(exp, store, to_ns("2024-08-08T23:54:30Z") or 0, seed=1)
        background.BackgroundTrainer.submit = timed_submit  # type: ignore[method-assign]
        background.BackgroundTrainer._finished = timed_finished  # type: ignore[method-assign]
        try:
            t0 = time.perf_counter()
            live, _, cpu, wall, _ = bench_live._session(
                root, shared, exp, dataclasses.replace(trading, online=online), experts, seconds
            )
        finally:
            background.BackgroundTrainer.submit = submit  # type: ignore[method-assign]
            background.BackgroundTrainer._finished = finished  # type: ignore[method-assign]
        done = [(a, b) for a, b in busy if np.isfinite(b)]
        share = sum(b - a for a, b in done) / wall if label == "training" else 0.0
        results[label] = (live, cpu, wall, len(done), share, t0)
        busy.clear()
    (frozen, *_), (training, cpu, wall, retrains, share, _) = results["frozen"], results["training"]
    f50, f99 = np.percentile(frozen, [50, 99])
    t50, t99 = np.percentile(training, [50, 99])
    return [{
        "benchmark": f"live paper session, tick to decision while the CNN retrains in the background "
                     f"({len(training)} decisions in {wall:.0f} s, {retrains} retrains, training "
                     f"{share:.0%} of the time; {os.cpu_count()} cores)",
        "mmts": f"p50 {t50:.2f} ms, p99 {t99:.2f} ms, max {training.max():.1f} ms",
        "reference": f"frozen: p50 {f50:.2f} ms, p99 {f99:.2f} ms ({len(frozen)} decisions)",
        "speedup": f"{f99 / t99:.2f}x (p99)",
    }]  # fmt: skip


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    shared = Path(os.environ.get("MMTS_SHARED_DATA", here.parent.parent / "shared" / "data"))
    sys.path.insert(0, str(here))
    for row in run(here.parent, shared, float(sys.argv[1]) if len(sys.argv) > 1 else 60.0):
        print(row)
