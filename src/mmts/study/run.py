"""``mmts study``: every fold of the stored history, trained, tested and summarised.

The study folder (``<out>/<experiment name>``) holds one folder per fold (named by number and
key: its checkpoints, ``result.json``, ``returns.parquet``), and the study's ``folds.parquet``,
``summary.json`` and ``report.html``. A rerun skips every fold already finished under the same
key; a failed fold is reported, run again next time, and never stops the others.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd

from mmts.core.files import write_json
from mmts.core.progress import duration, note
from mmts.core.settings import build_table
from mmts.core.time import iso
from mmts.models.experiment import experiment_from_dict, read_tables
from mmts.models.splits import StudyConfig
from mmts.runtime.config import trading_from_dict
from mmts.study.executors import run_tasks
from mmts.study.fold import FoldTask, run_fold
from mmts.study.plan import describe, finished, plan_folds
from mmts.study.report import write_report
from mmts.study.summary import fold_table, summarize


def checked_tables(path: str | Path | None) -> dict[str, Any]:
    """Read an experiment file's tables, checked: unknown tables or keys are errors."""
    tables = read_tables(path)
    check_study_tables(tables)
    return tables


def check_study_tables(tables: dict[str, Any]) -> None:
    """Refuse tables a study cannot run: unknown tables or keys, wrong types, out of range."""
    experiment_from_dict(tables)
    trading_from_dict(tables)
    build_table(StudyConfig, tables.get("study", {}))


def run_study(experiment: str | Path | dict[str, Any] | None = None, *,
              store: str | Path | None = None, folds: int | None = None,
              engine: str = "serial", workers: int | None = None,
              ray_address: str | None = None, out: str | Path = "studies",
              progress: bool = False) -> dict[str, Any]:  # fmt: skip
    """Run (or resume) the walk-forward study of ``experiment``; return its folder and summary.

    ``experiment``: a TOML path (default ``experiments/default.toml``) or its tables.
    ``store``: the history to study (default: the experiment's store); ``folds`` overrides
    ``[study] folds``; ``engine`` is ``serial``, ``process`` or ``ray``.
    """
    from mmts.data import open_store

    tables = dict(experiment) if isinstance(experiment, dict) else checked_tables(experiment)
    if folds is not None:
        tables["study"] = {**tables.get("study", {}), "folds": folds}
    exp = experiment_from_dict(tables)
    study = build_table(StudyConfig, tables.get("study", {}))
    trading = trading_from_dict(tables)
    store_path = str(Path(store or exp.store).resolve())
    market = open_store(store_path, must_exist=True)
    started = time.perf_counter()
    plan = plan_folds(market, exp, tables, study)
    folder = Path(out) / exp.name
    folder.mkdir(parents=True, exist_ok=True)
    results: dict[int, dict[str, Any]] = {}
    tasks = []
    for fold in plan:
        done = finished(folder, fold)
        if done is not None:
            results[fold.index] = done
        else:
            tasks.append(FoldTask(fold.index, fold.key, fold.segments, str(folder / fold.name),
                                  store_path, tables))  # fmt: skip
    if progress:
        note(f"study: {len(plan)} folds of {exp.name} on {store_path} ({len(results)} finished "
             f"before, {len(tasks)} to run on the {engine} engine)")  # fmt: skip

    def failed(task: FoldTask, message: str) -> dict[str, Any]:
        result = {"fold": task.index, "key": task.key, "status": "failed", "error": message,
                  "rows": [], "timing": {}}  # fmt: skip
        write_json(task.path / "result.json", result)
        return result

    for result in run_tasks(run_fold, tasks, engine=engine, workers=workers,
                            ray_address=ray_address, on_error=failed):  # fmt: skip
        results[result["fold"]] = result
        if progress:
            state = result["status"] if result["status"] == "ok" else f"FAILED ({result['error']})"
            note(f"study: fold {result['fold']} {state} ({len(results)}/{len(plan)}, "
                 f"{duration(time.perf_counter() - started)})")  # fmt: skip
    returns = {
        f.index: pd.read_parquet(folder / f.name / "returns.parquet")
        for f in plan
        if results[f.index]["status"] == "ok"
    }
    models = [*trading.backtest.experts, "mixture", "flat", "buy_and_hold", "logistic"]
    spans = {f.index: describe(f) for f in plan}
    ordered = [results[f.index] for f in plan]
    table = fold_table(ordered, spans, returns, models, study, exp.seed)
    summary = summarize(table, returns, study, exp.seed)
    summary.update(
        experiment=exp.name, store=store_path, engine=engine, scheme=study.scheme,
        history={"start": iso(plan[0].segments.start), "end": iso(plan[-1].segments.end)},
        timing=_timing(ordered, time.perf_counter() - started),
    )  # fmt: skip
    table.to_parquet(folder / "folds.parquet", index=False)
    write_json(folder / "summary.json", summary)
    write_report(folder, table, summary, f"Walk-forward study: {exp.name}, {len(plan)} folds")
    return {"study_dir": str(folder), "summary": summary}


def _timing(results: list[dict[str, Any]], wall: float) -> dict[str, Any]:
    """Wall time of this run, and the folds' own shares: training, evaluation, backtest."""
    train = sum(sum(r.get("timing", {}).get("train_s", {}).values()) for r in results)
    evaluate = sum(r.get("timing", {}).get("evaluate_s", 0.0) for r in results)
    backtest = sum(r.get("timing", {}).get("backtest_s", 0.0) for r in results)
    total = sum(r.get("timing", {}).get("total_s", 0.0) for r in results)
    return {"wall_s": round(wall, 2), "folds_s": round(total, 2), "train_s": round(train, 2),
            "evaluate_s": round(evaluate, 2), "backtest_s": round(backtest, 2)}  # fmt: skip
