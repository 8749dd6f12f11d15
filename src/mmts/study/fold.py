"""One fold of a study, start to end, in whichever process (or machine) runs it.

A :class:`FoldTask` is small plain data: the experiment's TOML tables, the store's path, the
fold's spans and its folder. The worker opens the store itself (every worker must see the same
filesystem), trains every trained expert of the experiment on the fold's training span (each
selects its best checkpoint on the validation span), then scores the experts and the baselines
on the test span and backtests the mixture there. It writes ``result.json`` and
``returns.parquet`` into the fold's folder and returns the result; a failure is a result too.
"""

from __future__ import annotations

import dataclasses
import math
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmts.core.files import write_json
from mmts.core.time import iso
from mmts.data.store import Store
from mmts.models.dataset import Decisions
from mmts.models.experiment import Experiment
from mmts.models.splits import Segments
from mmts.runtime.config import TradingConfig

#: What every row of a fold's table reports (None where it does not apply).
METRICS = ("net_return", "sharpe", "max_drawdown", "trades", "decisions", "accuracy", "f1_macro",
           "calibration_error")  # fmt: skip


@dataclass(frozen=True)
class FoldTask:
    """Everything a worker needs to run fold ``index``: plain data, cheap to send anywhere."""

    index: int
    key: str
    segments: Segments
    folder: str
    store: str
    tables: dict[str, Any]

    @property
    def path(self) -> Path:
        """The fold's folder."""
        return Path(self.folder)


def fold_configs(tables: dict[str, Any], folder: Path) -> tuple[Any, Any]:
    """Return the fold's experiment (checkpoints in its folder) and trading tables.

    The mixture is backtested frozen and without a ledger: a study measures the trained models,
    and thousands of ledger rows per fold would only cost time.
    """
    from mmts.models.experiment import experiment_from_dict
    from mmts.runtime.config import trading_from_dict

    exp = experiment_from_dict(tables)
    exp = dataclasses.replace(
        exp, checkpoints=dataclasses.replace(exp.checkpoints, dir=str(folder / "models"))
    )
    trading = trading_from_dict(tables)
    trading = dataclasses.replace(
        trading,
        online=dataclasses.replace(trading.online, enabled=False),
        history=dataclasses.replace(trading.history, enabled=False),
        backtest=dataclasses.replace(trading.backtest, out=str(folder / "backtest")),
    )
    return exp, trading


def run_fold(task: FoldTask) -> dict[str, Any]:
    """Run one fold; write and return its result (``status`` ``ok`` or ``failed``)."""
    from threadpoolctl import threadpool_limits

    from mmts.backtest.run import one_torch_thread

    started = time.perf_counter()
    task.path.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"fold": task.index, "key": task.key,
                              "segments": task.segments.to_dict(), "timing": {}}  # fmt: skip
    try:
        # One thread for torch and for BLAS (the logistic fit) on every engine: a Ray worker
        # starts with one BLAS thread, this process may have more, and a multi-threaded BLAS
        # sums in another order (the 2020-2023 study's logistic calibration differed in fold 8).
        with one_torch_thread(), threadpool_limits(limits=1):
            rows, returns, timing, extra = _fold(task)
        result.update(status="ok", error=None, rows=rows, **extra)
        result["timing"] = timing
        pd.DataFrame(returns).to_parquet(task.path / "returns.parquet", index=False)
    except Exception as e:  # noqa: BLE001 - a failed fold is reported; the study goes on
        result.update(status="failed", error=f"{type(e).__name__}: {e}", rows=[])
        (task.path / "error.txt").write_text(traceback.format_exc())
    result["timing"]["total_s"] = round(time.perf_counter() - started, 2)
    write_json(task.path / "result.json", result)
    return result


def _fold(task: FoldTask) -> tuple[list[dict[str, Any]], dict[str, list[Any]], dict[str, Any],
                                   dict[str, Any]]:  # fmt: skip
    from mmts.data import open_store
    from mmts.models.dataset import label_decisions
    from mmts.models.evaluate import evaluate
    from mmts.models.predictors import load_active_models
    from mmts.models.registry import create_model, model_kind, training_order
    from mmts.study.stats import regime

    exp, trading = fold_configs(task.tables, task.path)
    store = open_store(task.store, must_exist=True)
    seg = task.segments
    timing: dict[str, Any] = {"train_s": {}}
    trained: dict[str, Any] = {}
    for name in training_order(trading.backtest.experts):
        train = model_kind(name).train
        if train is None:
            raise ValueError(f"model type {name!r} is trained but registered no train function")
        t0 = time.perf_counter()
        summary = train(store, exp, progress=False, checkpoint_dir=exp.checkpoints.dir,
                             segments=seg)  # fmt: skip
        timing["train_s"][name] = round(time.perf_counter() - t0, 2)
        metric = next(
            (summary[k] for k in ("val_loss", "val_return", "val_metric") if k in summary), None
        )
        if metric is None or not math.isfinite(float(metric)):
            raise ValueError(f"{name} diverged: its validation metric is {metric}")
        trained[name] = {"best": summary["best"], "validation": float(metric),
                         "samples": summary.get("samples")}  # fmt: skip
    t0 = time.perf_counter()
    models, _ = load_active_models(exp.checkpoints.dir, exp.features, exp.checkpoints.keep,
                                   experiment=exp)  # fmt: skip
    models = {n: m for n, m in models.items() if n in trading.backtest.experts}
    for name in trading.backtest.experts:  # the rules are scored alone too
        if not model_kind(name).trained:
            models[name] = create_model(name, name=name)
    report = evaluate(store, exp, seg.test[0], seg.test[1], models, train_store=store,
                      segments=seg, keep_returns=True)  # fmt: skip
    timing["evaluate_s"] = round(time.perf_counter() - t0, 2)
    t0 = time.perf_counter()
    test = label_decisions(store, exp, seg.test[0], seg.test[1])  # once: the regime and the mixture
    mixture, mixture_returns = _mixture(store, exp, trading, test)
    timing["backtest_s"] = round(time.perf_counter() - t0, 2)
    period = report["period"]
    prices = test.prices
    rows = []
    for role, group in (("expert", report["models"]), ("baseline", report["baselines"])):
        for name, m in group.items():
            rows.append({"model": name, "kind": role, **{k: m.get(k) for k in METRICS}})
    rows.append({"model": "mixture", "kind": "mixture", **mixture})
    returns: dict[str, list[Any]] = {"model": [], "step": [], "return": []}
    series = {**report["returns"], "mixture": mixture_returns}
    for name, r in series.items():
        returns["model"] += [name] * len(r)
        returns["step"] += list(range(len(r)))
        returns["return"] += [float(x) for x in r]
    extra = {
        "regime": regime(prices, _trend(task.tables)),
        "market_return": float(prices[-1] / prices[0] - 1.0) if prices.shape[0] > 1 else 0.0,
        "period": period, "trained": trained, "warnings": report.get("warnings", []),
    }  # fmt: skip
    return rows, returns, timing, extra


def _trend(tables: dict[str, Any]) -> float:
    from mmts.core.settings import build_table
    from mmts.models.splits import StudyConfig

    return float(build_table(StudyConfig, tables.get("study", {})).trend)


def _mixture(
    store: Store, exp: Experiment, trading: TradingConfig, period: Decisions
) -> tuple[dict[str, Any], np.ndarray]:
    """Backtest the mixture on every stretch of the test span; chain the stretches' returns.

    A stretch starts flat with the initial cash; at a hole the runtime has nothing to trade on,
    so each stretch is its own backtest, as :func:`mmts.models.evaluate.signal_returns` closes a
    signal's position at a hole.
    """
    from mmts.backtest.run import run_backtest
    from mmts.core.performance import YEAR_NS, max_drawdown, sharpe_ratio
    from mmts.models.dataset import stretches
    from mmts.models.labels import UNKNOWN
    from mmts.models.metrics import macro_f1
    from mmts.models.output import Action

    steps: list[np.ndarray] = []
    trades = 0
    matrix = np.zeros((3, 3))
    for part in stretches(period.times, exp):
        times = period.times[part]
        if times.shape[0] < 2:
            continue
        run = run_backtest(store, exp, trading, iso(int(times[0])), iso(int(times[-1])),
                           checkpoint_dir=exp.checkpoints.dir, workers=1, report=False)  # fmt: skip
        folder = Path(run["run_dir"])
        equity = pd.read_parquet(folder / "equity.parquet")["equity"].to_numpy(np.float64)
        steps.append(equity[1:] / equity[:-1] - 1.0)
        trades += int(run["metrics"].get("trades", 0) or 0)
        decisions = pd.read_parquet(folder / "decisions.parquet")
        at = decisions["time"].astype("int64").to_numpy()
        idx = np.searchsorted(period.times, at)
        found = period.times[np.minimum(idx, len(period.times) - 1)] == at
        ok = (idx < period.times.shape[0]) & found
        labels = period.labels[idx[ok]]
        acts = np.array([int(Action[a]) for a in decisions["action"].to_numpy()[ok]])
        known = labels != UNKNOWN
        np.add.at(matrix, (labels[known], acts[known]), 1)
    r = np.concatenate(steps) if steps else np.empty(0)
    total = int(matrix.sum())
    metrics = {
        "net_return": float(np.prod(1.0 + r) - 1.0) if r.size else 0.0,
        "sharpe": sharpe_ratio(r, YEAR_NS / exp.decision_step) if r.size else None,
        "max_drawdown": max_drawdown(np.concatenate([[1.0], np.cumprod(1.0 + r)])),
        "trades": trades, "decisions": int(period.times.shape[0]),
        "accuracy": float(np.trace(matrix) / total) if total else None,
        "f1_macro": macro_f1(matrix), "calibration_error": None,
    }  # fmt: skip
    return metrics, r
