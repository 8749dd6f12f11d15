"""``mmts backtest``: replay the store through the runtime and write one folder per run.

The folder holds ``manifest.json`` (resolved config, data range and hash, model versions, seed,
git commit), ``orders``/``fills``/``equity``/``decisions`` as Parquet, ``metrics.json`` (beside
buy-and-hold) and ``report.png`` + ``report.html``. Two runs with the same manifest write
byte-identical orders, fills, decisions, equity and metrics.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmts.backtest.fast import FAST_BATCH
from mmts.backtest.metrics import equity_metrics, trade_metrics
from mmts.backtest.replay import replay_events
from mmts.backtest.report import LearningView, write_report
from mmts.core.files import write_json
from mmts.core.progress import duration, note
from mmts.core.time import iso, to_ns
from mmts.core.timeframes import NS_PER_SECOND
from mmts.data.layout import period_bounds, period_unit
from mmts.data.store import Store
from mmts.history.writer import LedgerWriter
from mmts.models.experiment import Experiment
from mmts.models.expert import check_experts
from mmts.runtime.config import TradingConfig, retention_policy
from mmts.runtime.setup import build_experts, new_runtime, runtime_frames


def data_hash(store: Store, exp: Experiment, start: int, end: int, *,
              within: tuple[int, int] | None = None) -> str:  # fmt: skip
    """Hash the stored partitions a run reads (same data → same hash).

    ``within``: only the partitions whose period overlaps ``[lo, hi)`` (a study fold's span
    with its input look-back and label look-ahead), so data added elsewhere changes no fold.
    """
    digest = hashlib.sha256()
    series = [(exp.features.primary_symbol, tf) for tf in exp.features.timeframes]
    series.append((exp.features.reference_symbol, "1s"))
    read: dict[tuple[str, str], str] = {}  # (symbol, stored kind) -> exchange
    for symbol, tf in series:
        try:  # a derived timeframe reads its stored source: hash that
            exchange, source = store.bar_source(symbol, tf)
        except KeyError:
            continue
        read[(symbol, f"bars_{source}")] = exchange
    with contextlib.suppress(KeyError):  # no book stored: nothing to hash
        read[(exp.features.primary_symbol, "book")] = store.resolve_exchange(
            exp.features.primary_symbol, "book", None
        )
    for (symbol, kind), exchange in read.items():
        for path in store.partitions(exchange, symbol, kind):
            if within is not None:
                lo, hi = period_bounds(path.stem, period_unit(kind))
                if hi <= within[0] or lo >= within[1]:
                    continue
            digest.update(f"{symbol}/{kind}/{path.name}".encode())
            digest.update(path.read_bytes())
    digest.update(f"{start}-{end}".encode())
    return digest.hexdigest()[:16]


def run_backtest(store: Store, exp: Experiment, trading: TradingConfig, start: object, end: object,
                 *, out: str | Path | None = None, checkpoint_dir: str | Path | None = None,
                 progress: bool = False, engine: str = "auto", workers: int | None = None,
                 batch: int = FAST_BATCH, report: bool = True) -> dict[str, Any]:  # fmt: skip
    """Run the experiment's experts over ``[start, end]`` and write the run folder.

    ``report``: also draw ``report.png`` and ``report.html`` (a study's many runs do without).

    ``engine``: ``event`` runs every expert at every decision in the event loop; ``fast``
    computes the experts' outputs first, in batches of ``batch`` in ``workers`` processes
    (default: one per core), then runs the same event loop on them — same orders and fills
    (tested); ``auto`` takes ``fast`` whenever every expert allows it (:func:`fast_engine_problem`).
    """
    from mmts.models.train import git_commit

    lo, hi = to_ns(start), to_ns(end)
    if lo is None or hi is None or hi <= lo:
        raise ValueError(f"need start < end; were {start} and {end}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}; was {engine!r}")
    bt = trading.backtest
    experts, versions = build_experts(exp, trading, checkpoint_dir)
    problem = fast_engine_problem(experts)
    if engine == "fast" and problem:
        raise ValueError(f"the fast engine cannot run these experts: {problem}; use --engine event")
    chosen = "event" if engine == "event" or problem else "fast"
    run_dir = _new_run_dir(Path(out or bt.out), exp.name)
    try:
        runtime, n_events, seconds, timing, ledger_stats = _run_into(
            run_dir, store, exp, trading, experts, lo, hi, chosen, workers, batch, progress
        )
        manifest = {
            "experiment": exp.to_dict(), "trading": json.loads(json.dumps(dataclasses.asdict(trading), default=list)),
            "data": {"store": str(store.root), "start": iso(lo), "end": iso(hi),
                     "hash": data_hash(store, exp, lo, hi)},
            "models": versions, "seed": exp.seed, "git_commit": git_commit(),
            "costs": exp.costs.resolved(), "engine": chosen,
        }  # fmt: skip
        frames = runtime_frames(runtime)
        if frames["equity"].empty:
            raise ValueError(_why_no_decision(runtime, lo, hi, n_events))
        metrics = _metrics(frames, bt.initial_cash, exp)
        metrics["events"] = n_events
        metrics["engine"] = chosen
        for key in ("orders", "fills", "equity", "decisions"):
            frames[key].to_parquet(run_dir / f"{key}.parquet", index=False)
        write_json(run_dir / "manifest.json", manifest)
        write_json(run_dir / "metrics.json", metrics)
        learning = None
        if trading.online.enabled:
            if progress:
                note("backtest: the same period with the models frozen, for the report")
            learning = _frozen_twin(run_dir, store, exp, trading, checkpoint_dir, lo, hi, chosen,
                                    workers, batch, metrics)  # fmt: skip
            metrics["frozen"] = learning.frozen_metrics
            write_json(run_dir / "metrics.json", metrics)
        if report:
            write_report(run_dir, frames["decisions"], frames["fills"], frames["equity"], metrics,
                         f"{exp.name}: {iso(lo)[:16]} .. {iso(hi)[:16]}", manifest, learning)  # fmt: skip
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)  # a failed run leaves no half-written folder
        raise
    if ledger_stats is not None:
        timing["ledger"] = {
            "rows": ledger_stats.rows_written,
            "failed_writes": ledger_stats.failed_writes,
        }
    return {"run_dir": str(run_dir), "metrics": metrics, "seconds": round(seconds, 2),
            "engine": chosen, "engine_note": problem if engine == "auto" and problem else "",
            "timing": timing}  # fmt: skip


def _run_into(folder: Path, store: Store, exp: Experiment, trading: TradingConfig,
              experts: dict[str, Any], lo: int, hi: int, engine: str, workers: int | None,
              batch: int, progress: bool) -> tuple[Any, int, float, dict[str, Any], Any]:  # fmt: skip
    """Replay into ``folder``'s ledger (when ``[history]`` keeps one); close it, whatever happens."""
    ledger = None
    if trading.history.enabled:
        ledger = LedgerWriter(
            folder / "ledger", kind="backtest", retention=retention_policy(trading)
        )
    try:
        with one_torch_thread():
            runtime, n_events, seconds, timing = _replay(store, exp, trading, experts, lo, hi,
                                                         engine, workers, batch, progress, ledger)  # fmt: skip
    finally:
        stats = ledger.close() if ledger is not None else None
    return runtime, n_events, seconds, timing, stats


def _frozen_twin(run_dir: Path, store: Store, exp: Experiment, trading: TradingConfig,
                 checkpoint_dir: str | Path | None, lo: int, hi: int, engine: str,
                 workers: int | None, batch: int, metrics: dict[str, Any]) -> LearningView:  # fmt: skip
    """Backtest the same period with learning off (``<run_dir>/frozen``): the report's comparison."""
    from mmts.history.examples import rolling_accuracy
    from mmts.history.ledger import open_ledger

    frozen = dataclasses.replace(trading, online=dataclasses.replace(trading.online, enabled=False))
    experts, _ = build_experts(exp, frozen, checkpoint_dir)  # fresh: the online run changed its own
    folder = run_dir / "frozen"
    folder.mkdir()
    runtime, _, _, _, _ = _run_into(folder, store, exp, frozen, experts, lo, hi, engine,
                                           workers, batch, False)  # fmt: skip
    frames = runtime_frames(runtime)
    twin = _metrics(frames, trading.backtest.initial_cash, exp)
    for key in ("fills", "equity", "decisions"):
        frames[key].to_parquet(folder / f"{key}.parquet", index=False)
    write_json(folder / "metrics.json", twin)
    online, still = open_ledger(run_dir), open_ledger(folder)
    window = max(20, trading.online.min_outcomes)
    return LearningView(online.promotions(), rolling_accuracy(online.outcomes(), window),
                        rolling_accuracy(still.outcomes(), window), twin, frames["equity"])  # fmt: skip


def _new_run_dir(parent: Path, name: str) -> Path:
    """Create and return a new run folder ``<parent>/<time>_<name>`` (suffixed when taken)."""
    stem = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}_{name}"
    parent.mkdir(parents=True, exist_ok=True)
    suffix = 1
    while True:
        run_dir = parent / (stem if suffix == 1 else f"{stem}-{suffix}")
        try:
            run_dir.mkdir()
        except FileExistsError:
            suffix += 1
            continue
        return run_dir


#: The backtest engines (see :func:`run_backtest`).
ENGINES = ("auto", "event", "fast")


def fast_engine_problem(experts: dict[str, Any]) -> str:
    """Say why the fast engine cannot compute these experts' outputs ahead (``""``: it can).

    It can when every expert is stateless (its output depends only on the decision's input), or
    keeps its state in a way it can score ahead and walk (``scores`` and ``walk``, the DQN).
    """
    stateful = [n for n, a in check_experts(experts).items() if a.keeps_state and not a.walkable]
    if stateful:
        return f"{', '.join(sorted(stateful))} keep state between decisions that cannot be scored ahead"
    return ""


def default_workers() -> int:
    """Worker processes for the fast engine: one per core this process may use."""
    import os

    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run networks with one torch intra-op thread, restored after.

    One decision's networks are too small for more to help, and the fast engine's workers use
    every core already.
    """
    import sys

    if "torch" not in sys.modules:  # rule experts only: torch is never imported
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _replay(store: Store, exp: Experiment, trading: TradingConfig, experts: dict[str, Any],
            lo: int, hi: int, engine: str, workers: int | None, batch: int,
            progress: bool, ledger: LedgerWriter | None = None,
            ) -> tuple[Any, int, float, dict[str, Any]]:  # fmt: skip
    """Replay ``[lo, hi]`` through a new runtime; return it, the events, seconds and timings.

    The fast engine first computes every decision's expert outputs (``backtest.fast``); the
    event loop then takes them from that table instead of running the experts.
    """
    started = time.perf_counter()
    outputs_at = None
    timing: dict[str, Any] = {}
    online = trading.online.enabled
    if engine == "fast" and not online:
        from mmts.backtest.fast import batch_outputs

        step = exp.decision_step
        times = np.arange(-(-lo // step) * step, hi + 1, step, dtype=np.int64)
        n_workers = workers or default_workers()
        if progress:
            note(f"backtest: the experts' outputs at {times.shape[0]:,} decisions, in batches of "
                 f"{batch} in {n_workers} process(es)")  # fmt: skip
        cpu: dict[str, float] = {}
        target = None if ledger is None else (str(ledger.folder), ledger.epoch)
        summaries: dict[int, Any] = {}
        table = batch_outputs(store, exp.features, experts, times, batch=batch, workers=n_workers,
                              timing=cpu, ledger=target, summaries=summaries)  # fmt: skip
        outputs_at = table.__getitem__
        timing.update(outputs_s=round(time.perf_counter() - started, 2), workers=n_workers,
                      batch=batch, cpu={k: round(v, 2) for k, v in cpu.items()})  # fmt: skip
        if progress:
            note(f"backtest: expert outputs done ({duration(timing['outputs_s'])})")
    runtime = new_runtime(exp, trading, experts, start=lo, outputs_at=outputs_at, ledger=ledger,
                          store=store)  # fmt: skip
    if outputs_at is not None:
        runtime.summaries_at = summaries.get
    learner, chunked = None, None
    if online:
        learner, chunked = _online(store, exp, trading, runtime, ledger, lo, hi, engine, batch)
    loop_started = time.perf_counter()
    events = replay_events(store, exp.features, lo, hi, trading.backtest.fill_timeframe)
    n_events = 0
    bar = None
    if progress:
        from tqdm import tqdm

        # Progress in market time: its total is known before the replay starts, so is the ETA.
        span_s = max(1, (hi - lo) // NS_PER_SECOND)
        bar = tqdm(total=span_s, desc="replay", unit=" market s", mininterval=1.0, unit_scale=True)
    for event in events:
        runtime.feed(event)
        n_events += 1
        if bar is not None and (reached := min(span_s, (event.time - lo) // NS_PER_SECOND)) > bar.n:
            bar.update(reached - bar.n)
    if bar is not None:
        bar.update(span_s - bar.n)
        bar.close()
    runtime.finish(hi)
    if runtime.monitor is not None:
        runtime.monitor.close()
    if chunked is not None:
        chunked.close()
        timing["cpu"] = {k: round(v, 2) for k, v in chunked.timing.items()}
    if learner is not None:
        learner.close()
        timing["online"] = {name: t.retrains for name, t in learner.tracks.items()}
    timing["loop_s"] = round(time.perf_counter() - loop_started, 2)
    return runtime, n_events, time.perf_counter() - started, timing


def _online(store: Store, exp: Experiment, trading: TradingConfig, runtime: Any,
            ledger: LedgerWriter | None, lo: int, hi: int, engine: str,
            batch: int) -> tuple[Any, Any]:  # fmt: skip
    """Attach the online learner (``[online]``): retrains run at once, at simulated time.

    With the fast engine the outputs come a chunk at a time (``backtest.fast.ChunkedOutputs``),
    computed again from wherever the learner changes the experts.
    """
    from mmts.backtest.fast import ChunkedOutputs
    from mmts.learning.learner import OnlineLearner
    from mmts.models.checkpoints import CheckpointStore

    if ledger is None:
        raise ValueError("[online] learning needs the ledger: set [history] enabled = true")
    checkpoints = CheckpointStore(ledger.folder.parent / "checkpoints", keep=10**6)
    learner = OnlineLearner(trading.online, runtime, ledger, checkpoints, horizon_ns=exp.horizon_ns,
                            seed=exp.seed, experiment=exp.to_dict(), costs=exp.costs,
                            gamma=exp.rl.gamma)  # fmt: skip
    chunked = None
    if engine == "fast":
        step = exp.decision_step
        times = np.arange(-(-lo // step) * step, hi + 1, step, dtype=np.int64)
        chunked = ChunkedOutputs(store, exp.features, runtime, times, chunk=batch,
                                 ledger=(str(ledger.folder), ledger.epoch))  # fmt: skip
        runtime.outputs_at = chunked
        runtime.summaries_at = chunked.summaries.get
        learner.on_change.append(chunked.invalidate)
        learner.flushes.append(chunked.flush)
    return learner, chunked


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
        "buy_and_hold": bh,
    }  # fmt: skip
