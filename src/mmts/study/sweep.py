"""``mmts sweep``: many walk-forward studies of one experiment, one per set of parameter values.

Each trial is a whole study (:func:`mmts.study.run.run_study`) of the experiment with the
trial's values set, in ``<sweep dir>/trials/trial-<id>`` (the id is a hash of the values, so the
same values are never run twice). Its objective is one metric of one model averaged over the
trial's folds; a trial with a failed fold has none (it is reported, and never "best").

Grid trials come in order; Optuna's come from a TPE sampler with a fixed seed, asked and told
one by one. A rerun replays the same trials: their folds are found finished (each keyed by its
tables and data), so the sampler is told the same objectives and asks the same next values: a
sweep stopped anywhere resumes where it stopped and ends as an uninterrupted one would.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import tomllib
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import pandas as pd

from mmts.core.files import write_json
from mmts.core.progress import duration, note
from mmts.core.settings import SettingsError
from mmts.runtime.config import trading_from_dict
from mmts.study.executors import engine_session
from mmts.study.fold import METRICS
from mmts.study.run import check_study_tables, checked_tables, run_study
from mmts.study.space import (
    Parameter,
    SweepConfig,
    apply,
    edge_values,
    from_optuna,
    grid,
    optuna_distribution,
    parse_space,
    spread_metric,
    trial_id,
)
from mmts.study.stats import explained_share
from mmts.study.summary import BASELINES
from mmts.study.sweep_report import write_sweep_report

#: Models every trial reports besides its experts.
ALWAYS = ("mixture", *BASELINES)


def read_space(path: str | Path) -> dict[str, Any]:
    """Read a space file's tables."""
    target = Path(path)
    if not target.exists():
        raise FileNotFoundError(f"space file {target} does not exist")
    try:
        with target.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as e:
        raise SettingsError(f"space file {target}: not valid TOML ({e})") from e


def run_sweep(experiment: str | Path | dict[str, Any] | None, space: str | Path | dict[str, Any],
              *, store: str | Path | None = None, trials: int | None = None,
              engine: str = "serial", workers: int | None = None,
              ray_address: str | None = None, out: str | Path = "sweeps",
              progress: bool = False) -> dict[str, Any]:  # fmt: skip
    """Run (or resume) a sweep; return ``{"sweep_dir", "best"}``.

    ``experiment``: a TOML path (default ``experiments/default.toml``) or its tables; ``space``:
    a space file or its tables (the sweep folder is ``<out>/<space file's stem>``, or
    ``<out>/sweep`` for tables); ``trials`` overrides ``[sweep] trials``.
    """
    base = dict(experiment) if isinstance(experiment, dict) else checked_tables(experiment)
    name = "sweep" if isinstance(space, dict) else Path(space).stem
    config, params = parse_space(space if isinstance(space, dict) else read_space(space))
    if trials is not None:
        config = dataclasses.replace(config, trials=trials)
    if config.folds is not None:
        base = {**base, "study": {**base.get("study", {}), "folds": config.folds}}
    proposals = plan_trials(config, params, base)
    folder = Path(out) / name
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    records: list[dict[str, Any]] = []
    table = pd.DataFrame()
    with engine_session(engine, workers, ray_address):
        for n in range(proposals.count):
            values = proposals.ask()
            if progress:
                note(f"sweep: trial {n} ({n + 1} of {proposals.count}) {json.dumps(values)}")
            record = _run_trial(n, values, base, config, store=store, engine=engine,
                                workers=workers, ray_address=ray_address, folder=folder,
                                progress=progress)  # fmt: skip
            proposals.tell(record["objective"])
            records.append(record)
            table = trials_table(records, params)
            table.to_parquet(folder / "trials.parquet", index=False)  # after every trial
            if progress:
                shown = "failed" if record["objective"] is None else f"{record['objective']:.6g}"
                note(f"sweep: trial {n} {config.metric} of {config.model} = {shown} "
                     f"({duration(time.perf_counter() - started)})")  # fmt: skip
    best = best_trial(records, config)
    importance = parameter_importance(records, params)
    write_json(folder / "sweep.json", {
        "objective": {"model": config.model, "metric": config.metric,
                      "direction": config.direction},
        "method": config.method, "seed": config.seed, "trials": len(records),
        "failed": [{"trial": r["trial"], "error": r["error"]} for r in records
                   if r["status"] != "ok"],
        "best": best, "importance": importance,
        "wall_s": round(time.perf_counter() - started, 2),
    })  # fmt: skip
    write_sweep_report(folder, table, config, params, best, importance)
    return {"sweep_dir": str(folder), "best": best}


class TrialPlan:
    """The trials' values, one at a time: the grid in order, or Optuna's ask and tell."""

    def __init__(self, config: SweepConfig, params: list[Parameter],
                 points: list[dict[str, Any]] | None) -> None:  # fmt: skip
        self.params = params
        self.points = points
        self.count = len(points) if points is not None else int(config.n_trials or 20)
        self.study: Any = None
        self.pending: Any = None
        if points is None:
            try:
                import optuna
            except ImportError as e:
                raise RuntimeError(
                    "[sweep] method = 'optuna' needs Optuna: pip install 'mmts[optuna]' "
                    "(or use method = 'grid')"
                ) from e
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            self.study = optuna.create_study(
                direction=cast(Literal["minimize", "maximize"], config.direction),
                sampler=optuna.samplers.TPESampler(seed=config.seed),
            )
        self.asked = 0

    def ask(self) -> dict[str, Any]:
        """Return the next trial's values."""
        self.asked += 1
        if self.points is not None:
            return self.points[self.asked - 1]
        self.pending = self.study.ask({p.key: optuna_distribution(p) for p in self.params})
        return {p.key: from_optuna(p, self.pending.params[p.key]) for p in self.params}

    def tell(self, objective: float | None) -> None:
        """Report the last trial's objective (None: it failed) to the sampler."""
        if self.study is None:
            return
        from optuna.trial import TrialState

        if objective is None:
            self.study.tell(self.pending, state=TrialState.FAIL)
        else:
            self.study.tell(self.pending, objective)


def plan_trials(config: SweepConfig, params: list[Parameter], base: dict[str, Any]) -> TrialPlan:
    """Check every value the sweep may set, then return its proposals.

    A grid's every combination is checked as a whole experiment; an Optuna space's every choice
    and both ends of every range, one key at a time.
    """
    if config.method == "grid":
        points = grid(params)
        if config.n_trials is not None:
            points = points[: config.n_trials]
        for values in points:
            _check_trial(base, values, config)
        return TrialPlan(config, params, points)
    for param in params:
        for value in edge_values(param):
            _check_trial(base, {param.key: value}, config)
    return TrialPlan(config, params, None)


def _check_trial(base: dict[str, Any], values: dict[str, Any], config: SweepConfig) -> None:
    tables = apply(base, values)
    try:
        check_study_tables(tables)
    except SettingsError as e:
        raise SettingsError(f"sweep values {json.dumps(values)}: {e}") from e
    experts = trading_from_dict(tables).backtest.experts
    if config.model not in ALWAYS and config.model not in experts:
        raise SettingsError(
            f"[sweep] model: {config.model!r} is not among the experts {list(experts)} of "
            f"values {json.dumps(values)}; choose mixture, a baseline, or an expert every "
            "trial trades"
        )


def _run_trial(n: int, values: dict[str, Any], base: dict[str, Any], config: SweepConfig, *,
               store: str | Path | None, engine: str, workers: int | None,
               ray_address: str | None, folder: Path, progress: bool) -> dict[str, Any]:  # fmt: skip
    """Run one trial's study; return its record (status, objective, summary, per-fold rows)."""
    tid = trial_id(values)
    tables = apply(base, values)
    tables["experiment"] = {**tables.get("experiment", {}), "name": f"trial-{tid}"}
    record: dict[str, Any] = {"trial": n, "trial_id": tid, "parameters": values, "status": "failed",
                              "error": None, "study_dir": None, "objective": None,
                              "models": {}, "folds": None}  # fmt: skip
    try:
        result = run_study(tables, store=store, engine=engine, workers=workers,
                           ray_address=ray_address, out=folder / "trials", progress=progress)  # fmt: skip
    except Exception as e:  # noqa: BLE001 - a failed trial is reported; the sweep goes on
        record["error"] = f"{type(e).__name__}: {e}"
        return record
    summary = result["summary"]
    record.update(study_dir=result["study_dir"], models=summary["models"],
                  folds=pd.read_parquet(Path(result["study_dir"]) / "folds.parquet"))  # fmt: skip
    if summary["failed"]:
        record["error"] = "; ".join(f"fold {f['fold']}: {f['error']}" for f in summary["failed"])
        return record
    value = summary["models"].get(config.model, {}).get(config.metric)
    if value is None or not math.isfinite(value):
        record["error"] = f"no {config.metric} of {config.model} in this trial's results"
        return record
    record.update(status="ok", objective=float(value))
    return record


def trials_table(records: list[dict[str, Any]], params: list[Parameter]) -> pd.DataFrame:
    """One row per trial and model: parameters, the objective, aggregate and per-fold metrics."""
    rows = []
    for r in records:
        head = {"trial": r["trial"], "trial_id": r["trial_id"], "status": r["status"],
                "error": r["error"], "study_dir": r["study_dir"], "objective": r["objective"],
                "parameters": json.dumps(r["parameters"], sort_keys=True),
                **{f"param.{p.key}": r["parameters"][p.key] for p in params}}  # fmt: skip
        if not r["models"]:
            rows.append({**head, "model": None})
            continue
        folds = r["folds"]
        for model, m in r["models"].items():
            per_fold = folds[folds["model"] == model].sort_values("fold")
            row = {**head, "model": model, "kind": m["kind"], "folds": m["folds"],
                   **{k: m.get(k) for k in (*METRICS, "median_net_return", "beats_flat",
                                            "beats_buy_and_hold")}}  # fmt: skip
            for key in ("mean_step_return", "edge_vs_flat", "edge_vs_buy_and_hold"):
                row[key] = (m.get(key) or {}).get("mean")
            for metric in METRICS:
                row[f"{metric}_by_fold"] = [None if pd.isna(v) else float(v)
                                            for v in per_fold[metric]]  # fmt: skip
            rows.append(row)
    frame = pd.DataFrame(rows)
    for p in params:  # a column of lists, or of mixed types, is stored as JSON text
        column = f"param.{p.key}"
        values = frame[column].tolist()
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        if not numeric and not all(isinstance(v, str) for v in values):
            frame[column] = [json.dumps(v) for v in values]
    return frame


def best_trial(records: list[dict[str, Any]], config: SweepConfig) -> dict[str, Any] | None:
    """Return the finished trial with the best objective (the earlier of equals), or None."""
    ok = [r for r in records if r["status"] == "ok"]
    if not ok:
        return None
    sign = 1.0 if config.direction == "maximize" else -1.0
    best = max(ok, key=lambda r: (sign * r["objective"], -r["trial"]))
    folds = best["folds"]
    metric = spread_metric(config.metric)
    by_fold = folds[folds["model"] == config.model].sort_values("fold")[metric].tolist()
    baselines = {b: best["models"].get(b, {}).get(config.metric) for b in ("flat", "buy_and_hold")}
    entry = best["models"][config.model]
    return {"trial": best["trial"], "trial_id": best["trial_id"], "parameters": best["parameters"],
            "objective": best["objective"], "model": config.model, "metric": config.metric,
            f"{metric}_by_fold": by_fold, "baselines": baselines,
            "beats_flat": entry.get("beats_flat"),
            "beats_buy_and_hold": entry.get("beats_buy_and_hold"),
            "study_dir": best["study_dir"]}  # fmt: skip


def parameter_importance(records: list[dict[str, Any]], params: list[Parameter]
                         ) -> dict[str, float | None]:  # fmt: skip
    """Each parameter's share of the objective's variance across finished trials (eta²).

    Values of a continuous range are grouped into quartiles first. A parameter's share is what
    it explains alone; correlated parameters (Optuna's later trials) can share credit.
    """
    ok = [r for r in records if r["status"] == "ok"]
    objective = np.array([r["objective"] for r in ok], np.float64)
    out: dict[str, float | None] = {}
    for p in params:
        values = [r["parameters"][p.key] for r in ok]
        groups: list[object] = list(values)
        continuous = p.choices is None and p.step is None and len(set(map(repr, values))) > 4
        if continuous:
            ranks = pd.Series(values, dtype=float).rank(method="first")
            groups = pd.qcut(ranks, 4, labels=False).tolist()
        out[p.key] = explained_share(groups, objective)
    return out
