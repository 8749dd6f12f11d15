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
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmts.backtest.config import TradingConfig
from mmts.backtest.metrics import equity_metrics, trade_metrics
from mmts.backtest.replay import replay_events
from mmts.backtest.report import write_report
from mmts.core.timeframes import timeframe_ns
from mmts.execution.portfolio import Portfolio
from mmts.execution.venue import SimulatedVenue
from mmts.features.cob import time_ns
from mmts.models.experiment import Experiment
from mmts.runtime.engine import Runtime, RuntimeConfig
from mmts.strategy.moe import MixtureOfExperts
from mmts.strategy.rules import ImbalanceRule, MovingAverageRule

RULES = {"ma_cross": MovingAverageRule, "imbalance": ImbalanceRule}


def build_experts(exp: Experiment, trading: TradingConfig, checkpoint_dir: str | Path | None = None
                  ) -> tuple[dict[str, Any], dict[str, str]]:  # fmt: skip
    """Create the configured experts; return them and their versions (checkpoint ids, 'rule')."""
    from mmts.models.predictors import load_active_models

    wanted = trading.backtest.experts
    models: dict[str, Any] = {}
    if {"cnn", "rl"} & set(wanted):
        models, _ = load_active_models(
            checkpoint_dir or exp.checkpoints.dir, exp.features, exp.checkpoints.keep
        )
    experts: dict[str, Any] = {}
    versions: dict[str, str] = {}
    for name in wanted:
        if name in RULES:
            experts[name] = RULES[name](name=name)
            versions[name] = "rule"
        elif name in models:
            experts[name] = models[name]
            versions[name] = models[name].version
        elif name in ("cnn", "rl"):
            raise FileNotFoundError(
                f"expert {name!r} has no checkpoint: run `mmts train {name}` (or `nox -s backtest`)"
            )
        else:
            raise ValueError(f"unknown expert {name!r}; known: cnn, rl, {', '.join(RULES)}")
    return experts, versions


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


def _iso(ns: int) -> str:
    return pd.Timestamp(int(ns), tz="UTC").isoformat()


def run_backtest(store: Any, exp: Experiment, trading: TradingConfig, start: object, end: object,
                 *, out: str | Path | None = None, checkpoint_dir: str | Path | None = None,
                 progress: bool = False) -> dict[str, Any]:  # fmt: skip
    """Run the experiment's experts over ``[start, end]`` and write the run folder."""
    from mmts.models.train import git_commit

    lo, hi = time_ns(start), time_ns(end)
    if lo is None or hi is None or hi <= lo:
        raise ValueError(f"need start < end; were {start} and {end}")
    bt = trading.backtest
    experts, versions = build_experts(exp, trading, checkpoint_dir)
    venue = SimulatedVenue(
        bt.venue, latency_ns=int(bt.latency_ms * 1e6), slippage_bps=bt.slippage_bps
    )
    runtime_cfg = RuntimeConfig(decision_every_ns=exp.decision_step, horizon_ns=exp.horizon_ns, costs=exp.costs,
                                dead_zone=exp.labels.dead_zone, fill_timeframe=bt.fill_timeframe)  # fmt: skip
    runtime = Runtime(runtime_cfg, exp.features, experts, MixtureOfExperts(trading.strategy), trading.risk,
                      venue, Portfolio(cash=bt.initial_cash), start=lo)  # fmt: skip
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
        "data": {"store": str(getattr(store, "root", "")), "start": _iso(lo), "end": _iso(hi),
                 "hash": data_hash(store, exp, lo, hi)},
        "models": versions, "seed": exp.seed, "git_commit": git_commit(),
    }  # fmt: skip
    name = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}_{exp.name}"
    run_dir = Path(out or bt.out) / name
    suffix = 1
    while run_dir.exists():
        suffix += 1
        run_dir = Path(out or bt.out) / f"{name}-{suffix}"
    run_dir.mkdir(parents=True)
    frames = _frames(runtime)
    metrics = _metrics(frames, bt.initial_cash, exp)
    metrics["events"] = n_events
    for key in ("orders", "fills", "equity", "decisions"):
        frames[key].to_parquet(run_dir / f"{key}.parquet", index=False)
    (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    if len(frames["equity"]):
        write_report(run_dir, frames["decisions"], frames["fills"], frames["equity"], metrics,
                     f"{exp.name}: {_iso(lo)[:16]} .. {_iso(hi)[:16]}")  # fmt: skip
    return {"run_dir": str(run_dir), "metrics": metrics, "seconds": round(seconds, 2)}


def _frames(runtime: Runtime) -> dict[str, pd.DataFrame]:
    fills = pd.DataFrame({
        "time": [f.time for f in runtime.fills], "order_id": [f.order_id for f in runtime.fills],
        "side": [1 if f.qty > 0 else -1 for f in runtime.fills],
        "qty": [abs(float(f.qty)) for f in runtime.fills], "signed_qty": [float(f.qty) for f in runtime.fills],
        "price": [float(f.price) for f in runtime.fills], "fee": [float(f.fee) for f in runtime.fills],
        "liquidity": [f.liquidity for f in runtime.fills],
    })  # fmt: skip
    orders = pd.DataFrame({
        "time": [o.time for o in runtime.orders], "order_id": [o.id for o in runtime.orders],
        "qty": [float(o.qty) for o in runtime.orders],
        "limit": [np.nan if o.limit is None else float(o.limit) for o in runtime.orders],
    })  # fmt: skip
    equity = pd.DataFrame(runtime.equity, columns=["time", "equity", "position", "price"])
    decisions = pd.DataFrame(runtime.decisions)
    for frame in (fills, orders, equity, decisions):
        if "time" in frame:
            frame["time"] = pd.to_datetime(frame["time"].astype("int64"), utc=True)
    return {"fills": fills, "orders": orders, "equity": equity, "decisions": decisions}


def _metrics(frames: dict[str, pd.DataFrame], cash: float, exp: Experiment) -> dict[str, Any]:
    equity = frames["equity"]
    if equity.empty:
        raise ValueError("the run made no decision with a known price: no bars in the period?")
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
