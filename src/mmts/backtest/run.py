"""``mmts backtest``: replay the store through the runtime and write one folder per run.

The folder holds ``manifest.json`` (resolved config, data range and hash, model versions, seed,
git commit), ``orders``/``fills``/``equity``/``decisions`` as Parquet, ``metrics.json`` (beside
buy-and-hold) and ``report.png`` + ``report.html``. Two runs with the same manifest write
byte-identical orders, fills, decisions, equity and metrics.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd

from mmts.backtest.metrics import equity_metrics, trade_metrics
from mmts.backtest.replay import replay_events
from mmts.backtest.report import write_report
from mmts.core.files import write_json
from mmts.core.time import iso, to_ns
from mmts.core.timeframes import timeframe_ns
from mmts.models.experiment import Experiment
from mmts.runtime.config import TradingConfig
from mmts.runtime.setup import build_experts, new_runtime, runtime_frames


def data_hash(store: Any, exp: Experiment, start: int, end: int) -> str:
    """Hash the stored partitions a run reads (same data → same hash)."""
    digest = hashlib.sha256()
    kinds = [(exp.features.primary_symbol, f"bars_{tf}") for tf in exp.features.timeframes]
    kinds += [(exp.features.reference_symbol, "bars_1s"), (exp.features.primary_symbol, "book")]
    for symbol, kind in kinds:
        try:
            exchange = store.resolve_exchange(symbol, kind, None)
        except KeyError:
            continue
        for path in store.partitions(exchange, symbol, kind):
            digest.update(f"{symbol}/{kind}/{path.name}".encode())
            digest.update(path.read_bytes())
    digest.update(f"{start}-{end}".encode())
    return digest.hexdigest()[:16]


def run_backtest(store: Any, exp: Experiment, trading: TradingConfig, start: object, end: object,
                 *, out: str | Path | None = None, checkpoint_dir: str | Path | None = None,
                 progress: bool = False) -> dict[str, Any]:  # fmt: skip
    """Run the experiment's experts over ``[start, end]`` and write the run folder."""
    from mmts.models.train import git_commit

    lo, hi = to_ns(start), to_ns(end)
    if lo is None or hi is None or hi <= lo:
        raise ValueError(f"need start < end; were {start} and {end}")
    bt = trading.backtest
    experts, versions = build_experts(exp, trading, checkpoint_dir)
    runtime = new_runtime(exp, trading, experts, start=lo)
    started = time.perf_counter()
    events = replay_events(store, exp.features, lo, hi, bt.fill_timeframe)
    if progress:
        from tqdm import tqdm

        events = tqdm(events, desc="replay", unit=" events", mininterval=1.0)
    n_events = 0
    for event in events:
        runtime.feed(event)
        n_events += 1
    runtime.finish(hi)
    seconds = time.perf_counter() - started
    manifest = {
        "experiment": exp.to_dict(), "trading": json.loads(json.dumps(dataclasses.asdict(trading), default=list)),
        "data": {"store": str(getattr(store, "root", "")), "start": iso(lo), "end": iso(hi),
                 "hash": data_hash(store, exp, lo, hi)},
        "models": versions, "seed": exp.seed, "git_commit": git_commit(),
        "costs": exp.costs.resolved(),
    }  # fmt: skip
    frames = runtime_frames(runtime)
    if frames["equity"].empty:
        raise ValueError(_why_no_decision(runtime, lo, hi, n_events))
    metrics = _metrics(frames, bt.initial_cash, exp)
    metrics["events"] = n_events
    name = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}_{exp.name}"
    run_dir = Path(out or bt.out) / name
    suffix = 1
    while run_dir.exists():
        suffix += 1
        run_dir = Path(out or bt.out) / f"{name}-{suffix}"
    run_dir.mkdir(parents=True)
    try:
        for key in ("orders", "fills", "equity", "decisions"):
            frames[key].to_parquet(run_dir / f"{key}.parquet", index=False)
        write_json(run_dir / "manifest.json", manifest)
        write_json(run_dir / "metrics.json", metrics)
        write_report(run_dir, frames["decisions"], frames["fills"], frames["equity"], metrics,
                     f"{exp.name}: {iso(lo)[:16]} .. {iso(hi)[:16]}")  # fmt: skip
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)  # a failed run leaves no half-written folder
        raise
    return {"run_dir": str(run_dir), "metrics": metrics, "seconds": round(seconds, 2)}


def _why_no_decision(runtime: Any, lo: int, hi: int, n_events: int) -> str:
    """Say why a period gave no decision with a price (nothing was written)."""
    period = f"{iso(lo)} .. {iso(hi)}"
    if runtime.paused:
        reasons = sorted({why for _, why in runtime.paused})
        return (f"every decision in {period} was paused ({len(runtime.paused)}: "
                f"{'; '.join(reasons)}); nothing was written")  # fmt: skip
    if n_events == 0:
        return f"the store holds no bars or book events in {period}; nothing was written"
    return (f"no decision in {period} had a known price ({n_events} events, none a primary "
            "bar or a valid book); nothing was written")  # fmt: skip


def _metrics(frames: dict[str, pd.DataFrame], cash: float, exp: Experiment) -> dict[str, Any]:
    equity = frames["equity"]
    times = equity["time"].astype("int64").to_numpy()
    ours = equity_metrics(times, equity["equity"].to_numpy(), cash)
    prices = equity["price"].to_numpy()
    hold = cash * prices / prices[0]  # buy-and-hold on the same decision prices (no costs)
    bh = equity_metrics(times, hold, cash)
    return {
        **ours, **trade_metrics(frames["fills"], equity, cash), "start_equity": cash,
        "end_equity": float(equity["equity"].iloc[-1]), "decisions": len(frames["decisions"]),
        "decision_every": f"{exp.data.decision_every} x {exp.data.decision_timeframe}",
        "buy_and_hold": bh, "bar_ns": timeframe_ns(exp.data.decision_timeframe),
    }  # fmt: skip
