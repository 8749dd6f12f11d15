"""``report.html`` of a sweep: the best trials with their spread across folds, not one number.

Beside each trial's objective stand its worst, median and best fold, and the same metric of
flat and buy-and-hold in that trial; then each parameter's importance (the share of the
objective's variance it explains) and the objective against each parameter's values.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmts.backtest.report import figure_html
from mmts.study.report import number_text, page_html
from mmts.study.space import Parameter, SweepConfig, spread_metric

#: Trials listed in the best-trials table.
TOP = 10


def _value_text(value: Any, metric: str) -> str:
    percent = metric in ("net_return", "max_drawdown", "median_net_return")
    if value is None or pd.isna(value):
        return ""
    return f"{float(value):+.2%}" if percent else number_text(value, ".4g")


def _against_flat(best: dict[str, Any], config: SweepConfig) -> str:
    """Say so when even the best trial is no better than staying flat."""
    flat = best["baselines"].get("flat")
    if flat is None or config.metric != "net_return":
        return ""
    better = (
        best["objective"] > flat if config.direction == "maximize" else best["objective"] < flat
    )
    return "" if better else " <b>Even the best trial is no better than staying flat.</b>"


def _trial_rows(table: pd.DataFrame, config: SweepConfig) -> pd.DataFrame:
    """One row per trial: the objective model's row, with its fold spread and the baselines'."""
    metric = spread_metric(config.metric)
    rows = []
    for trial, part in table.groupby("trial", sort=True):
        own = part[part["model"] == config.model]
        base = {m: part.loc[part["model"] == m, config.metric] for m in ("flat", "buy_and_hold")}
        first = part.iloc[0]
        folds = [v for v in (own[f"{metric}_by_fold"].iloc[0] if len(own) else []) if v is not None]
        rows.append({
            "trial": trial, "status": first["status"], "error": first["error"],
            "parameters": first["parameters"], "objective": first["objective"],
            "folds": folds,
            "worst": min(folds) if folds else None, "median": float(np.median(folds)) if folds else None,
            "best": max(folds) if folds else None, "std": float(np.std(folds)) if folds else None,
            "flat": base["flat"].iloc[0] if len(base["flat"]) else None,
            "buy_and_hold": base["buy_and_hold"].iloc[0] if len(base["buy_and_hold"]) else None,
            "beats_buy_and_hold": own["beats_buy_and_hold"].iloc[0] if len(own) else None,
        })  # fmt: skip
    return pd.DataFrame(rows)


def _spread_figure(trials: pd.DataFrame, config: SweepConfig) -> Any:
    import plotly.graph_objects as go

    metric = spread_metric(config.metric)
    fig = go.Figure()
    ok = trials[trials["status"] == "ok"]
    xs = [f"trial {t}" for t in ok["trial"]]
    fig.add_trace(go.Box(x=[x for x, f in zip(xs, ok["folds"], strict=True) for _ in f],
                         y=[v for f in ok["folds"] for v in f], boxpoints="all", jitter=0.3,
                         name=f"{config.model}: {metric} per fold"))  # fmt: skip
    fig.add_trace(go.Scatter(x=xs, y=ok["objective"], mode="markers", name="objective (mean)",
                             marker={"symbol": "diamond", "size": 10}))  # fmt: skip
    fig.add_trace(go.Scatter(x=xs, y=ok["buy_and_hold"], mode="markers",
                             name=f"buy-and-hold {config.metric}", marker={"symbol": "x"}))  # fmt: skip
    fig.update_layout(height=420, yaxis_title=metric, hovermode="closest")
    return fig


def _parameter_figure(table: pd.DataFrame, param: Parameter, config: SweepConfig) -> Any:
    import plotly.graph_objects as go

    ok = table[(table["status"] == "ok") & (table["model"] == config.model)]
    fig = go.Figure(go.Scatter(x=[str(v) if isinstance(v, str) else v
                                  for v in ok[f"param.{param.key}"]],
                               y=ok["objective"], mode="markers",
                               text=[f"trial {t}" for t in ok["trial"]], name=param.key))  # fmt: skip
    fig.update_layout(height=300, xaxis_title=param.key, yaxis_title=config.metric,
                      hovermode="closest", xaxis_type="log" if param.log else None)  # fmt: skip
    return fig


def sweep_report_html(table: pd.DataFrame, config: SweepConfig, params: list[Parameter],
                      best: dict[str, Any] | None, importance: dict[str, float | None]) -> str:  # fmt: skip
    """Return the sweep's report as one offline HTML page."""
    trials = _trial_rows(table, config)
    metric = config.metric
    title = (f"Sweep: {len(trials)} trials, objective = mean {metric} of {config.model} "
             f"({config.direction})")  # fmt: skip
    if best is None:
        answer = "<p>No trial finished every fold: there is no best trial (see the failures).</p>"
    else:
        answer = (f"<p>Trial {best['trial']}: {html.escape(json.dumps(best['parameters']))}, "
                  f"mean {metric} {_value_text(best['objective'], metric)} over its folds "
                  f"(flat {_value_text(best['baselines']['flat'], metric)}, buy-and-hold "
                  f"{_value_text(best['baselines']['buy_and_hold'], metric)}); beats "
                  f"buy-and-hold in {best['beats_buy_and_hold']} folds.{_against_flat(best, config)} "
                  "The best of many trials is an optimistic estimate: read its spread and the "
                  "trials around it.</p>")  # fmt: skip
    sign = -1 if config.direction == "maximize" else 1
    ranked = trials[trials["status"] == "ok"].copy()
    ranked = ranked.iloc[np.argsort(sign * ranked["objective"].to_numpy(), kind="stable")]
    head = ("<tr><th>trial</th><th class='l'>parameters</th><th>objective</th><th>worst fold</th>"
            "<th>median fold</th><th>best fold</th><th>fold std</th><th>flat</th>"
            "<th>buy-and-hold</th><th>beats B&amp;H</th></tr>")  # fmt: skip

    def row(r: Any) -> str:
        return (f"<tr><td>{r.trial}</td><td class='l'>{html.escape(r.parameters)}</td>"
                f"<td>{_value_text(r.objective, metric)}</td><td>{_value_text(r.worst, metric)}</td>"
                f"<td>{_value_text(r.median, metric)}</td><td>{_value_text(r.best, metric)}</td>"
                f"<td>{number_text(r.std, '.4g')}</td><td>{_value_text(r.flat, metric)}</td>"
                f"<td>{_value_text(r.buy_and_hold, metric)}</td>"
                f"<td>{'' if pd.isna(r.beats_buy_and_hold) else int(r.beats_buy_and_hold)}</td></tr>")  # fmt: skip

    top = "".join(row(r) for r in ranked.head(TOP).itertuples())
    everything = "".join(row(r) for r in trials.itertuples())
    shares = "".join(
        f"<tr><td class='l'>{html.escape(k)}</td><td>{'' if v is None else f'{v:.2f}'}</td></tr>"
        for k, v in importance.items()
    )  # fmt: skip
    failed = "".join(f"<li>trial {r.trial}: {html.escape(str(r.error))}</li>"
                     for r in trials.itertuples() if r.status != "ok")  # fmt: skip
    figures = "".join(figure_html(_parameter_figure(table, p, config), f"param-{i}")
                      for i, p in enumerate(params))  # fmt: skip
    sections = [
        ("Best trial", answer),
        (f"Best trials (of {len(ranked)} finished)", f"<table>{head}{top}</table>"),
        ("Spread across folds", figure_html(_spread_figure(trials, config), "spread", first=True)),
        ("Parameter importance", ("<table><tr><th class='l'>parameter</th><th>share of the "
         f"objective's variance (eta²)</th></tr>{shares}</table><p class='sub'>What each "
         "parameter explains alone across finished trials (continuous ranges in quartiles); "
         "empty: fewer than three trials or one value.</p>" + figures)),
        ("Failed trials", f"<ul>{failed}</ul>" if failed else "<p>None.</p>"),
        ("All trials", f"<table>{head}{everything}</table>"),
    ]  # fmt: skip
    return page_html(title, sections)


def write_sweep_report(folder: Path, table: pd.DataFrame, config: SweepConfig,
                       params: list[Parameter], best: dict[str, Any] | None,
                       importance: dict[str, float | None]) -> Path:  # fmt: skip
    """Write ``report.html`` into the sweep's folder."""
    path = folder / "report.html"
    path.write_text(sweep_report_html(table, config, params, best, importance))
    return path
