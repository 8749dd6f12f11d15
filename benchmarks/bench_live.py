"""Tick-to-decision latency and CPU of a paper session against the simulator, in real time.

``mmts sim-exchange`` (another process) replays the bundled real window at speed 1 over a
websocket: ETH diff depth at 10 Hz, ETH and BTC trades. This process runs ``mmts live``'s
session with every expert (untrained CNN -> DQN chain and the two rules, the default
experiment's sizes) deciding every second. Latency: from the arrival of the input that releases
a decision (a frame, or a kline answer) to the decision, order and paper fill done. CPU: this
process's CPU seconds over wall seconds (all its threads), the simulator excluded.

Reference, same run: the same runtime and experts fed the same window by ``replay_events``
in-process (no network, no ordering), timed per decision-making event.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from mmts.backtest.replay import replay_events
from mmts.core.time import to_ns
from mmts.data import open_store
from mmts.live.session import LiveConfig, LiveSession
from mmts.models.experiment import load_experiment
from mmts.runtime.config import load_trading
from mmts.runtime.setup import new_runtime
from mmts.testing.experts import untrained_experts


def _replay_latencies(exp: Any, trading: Any, experts: dict[str, Any], store: Any) -> np.ndarray:
    start, end = to_ns("2024-08-08T23:54:15Z"), to_ns("2024-08-09T00:05:00Z")
    runtime = new_runtime(exp, trading, experts, start=start)
    out = []
    for event in replay_events(store, exp.features, start, end):
        before = len(runtime.decisions)
        t0 = time.perf_counter_ns()
        runtime.feed(event)
        if len(runtime.decisions) > before:
            out.append(time.perf_counter_ns() - t0)
    return np.asarray(out, np.float64) / 1e6


def _session(root: Path, shared: Path, exp: Any, trading: Any, experts: dict[str, Any],
             seconds: float, exchange: str = "binance"
             ) -> tuple[np.ndarray, np.ndarray, float, float, dict[str, Any]]:  # fmt: skip
    """Return tick-to-decision latencies, the runtime's own step in them, CPU s, wall s, summary."""
    spot = root / "data" / "raw" / "binance-ws" / "spot"
    files = [str(spot / f"{s}usdt_2024080{d}.gz") for s in ("eth", "btc") for d in (8, 9)]
    sim = subprocess.Popen(
        [sys.executable, "-m", "mmts.cli", "sim-exchange", "--data", *files, "--store",
         str(root / "data"), "--port", "0", "--speed", "1", "--exchange", exchange],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert sim.stdout is not None
        rest = sim.stdout.readline().split()[-1]
        ws = sim.stdout.readline().split()[-1]
        with tempfile.TemporaryDirectory() as tmp:
            cfg = LiveConfig(
                out=Path(tmp), exchange=exchange, ws_url=ws, rest_url=rest, duration_s=seconds
            )
            session = LiveSession(exp, trading, cfg, experts=experts, status_stream=io.StringIO())
            steps: list[int] = []
            emit = session._emit

            def timed(event: Any) -> None:  # the runtime's step alone, for decision events
                runtime = session.runtime
                before = len(runtime.decisions) + len(runtime.paused) if runtime else 0
                t0 = time.perf_counter_ns()
                emit(event)
                if runtime is not None and len(runtime.decisions) + len(runtime.paused) > before:
                    steps.append(time.perf_counter_ns() - t0)

            session._emit = timed  # type: ignore[method-assign]
            cpu0, wall0 = time.process_time(), time.perf_counter()
            summary = asyncio.run(session.run())
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        sim.terminate()
        sim.wait(timeout=20)
    return (np.asarray(session.latencies_ns, np.float64) / 1e6, np.asarray(steps, np.float64) / 1e6,
            cpu, wall, summary)  # fmt: skip


def run(root: Path, shared: Path, seconds: float = 60.0) -> list[dict[str, object]]:
    toml = root / "experiments" / "paper_rules.toml"
    exp = load_experiment(toml)
    exp = dataclasses.replace(exp, data=dataclasses.replace(exp.data, decision_every=1))
    trading = load_trading(toml)
    store = open_store(root / "data")
    rows: list[dict[str, object]] = []
    everything = untrained_experts(exp, store, to_ns("2024-08-08T23:54:30Z"))
    rules = {k: everything[k] for k in ("ma_cross", "imbalance")}
    for label, experts, exchange in (("all experts", everything, "binance"),
                                     ("rule experts", rules, "binance"),
                                     ("rule experts, MEXC protobuf feed", rules, "mexc")):  # fmt: skip
        live, step, cpu, wall, summary = _session(
            root, shared, exp, trading, experts, seconds, exchange
        )
        for expert in experts.values():
            if hasattr(expert, "reset"):
                expert.reset()
        replay = _replay_latencies(exp, trading, experts, store)
        p50, p99 = np.percentile(live, [50, 99])
        s50, s99 = np.percentile(step, [50, 99])
        r50, r99 = np.percentile(replay, [50, 99])
        rows.append({
            "benchmark": f"live paper session, tick to decision, {label} ({len(live)} decisions in {wall:.0f} s, 1 s grid)",
            "mmts": f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {live.max():.1f} ms (target p99 < 5 ms); "
                    f"the runtime's step in it: p50 {s50:.2f} ms, p99 {s99:.2f} ms",
            "reference": f"same runtime fed by replay: p50 {r50:.2f} ms, p99 {r99:.2f} ms",
            "speedup": f"{r50 / p50:.2f}x (p50)",
        })  # fmt: skip
        rows.append({
            "benchmark": f"live paper session CPU, {label}: 10 Hz ETH depth + ETH/BTC trades ({summary['events']:,} events)",
            "mmts": f"{100 * cpu / wall:.1f} % of one core ({cpu:.1f} CPU s / {wall:.1f} s)",
            "reference": "-", "speedup": "-",
        })  # fmt: skip
    return rows


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    shared = Path(os.environ.get("MMTS_SHARED_DATA", here.parent.parent / "shared" / "data"))
    for row in run(here.parent, shared, float(sys.argv[1]) if len(sys.argv) > 1 else 60.0):
        print(row)
