"""A study's answer: the fold table, the aggregate with intervals, regimes, and a plain verdict.

Per fold and model: the fold's metrics and a block-bootstrap interval of its net return. Across
folds: mean and median net return, how often it beat flat and buy-and-hold, and the pooled mean
per-step return with its interval; for experts and the logistic baseline, also the paired
per-step difference to buy-and-hold and to flat (same decisions, same costs), whose interval
says whether the edge is more than noise. The verdict is written from those numbers alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mmts.models.splits import StudyConfig
from mmts.study.fold import METRICS
from mmts.study.stats import REGIMES, pooled_mean_interval, return_interval

#: The columns of ``folds.parquet`` before the metrics.
FOLD_COLUMNS = ("fold", "key", "status", "error", "train_start", "train_end", "val_start",
                "val_end", "test_start", "test_end", "regime", "market_return", "model", "kind")  # fmt: skip
#: The baselines every model is compared with.
BASELINES = ("flat", "buy_and_hold", "logistic")


def fold_table(results: list[dict[str, Any]], spans: dict[int, dict[str, str]],
               returns: dict[int, pd.DataFrame], models: list[str],
               study: StudyConfig, seed: int) -> pd.DataFrame:  # fmt: skip
    """One row per fold and model (experts, mixture, baselines); a failed fold's rows say why."""
    rows = []
    for result in sorted(results, key=lambda r: r["fold"]):
        k = result["fold"]
        head = {"fold": k, "key": result["key"], "status": result["status"],
                "error": result.get("error"), **spans[k], "regime": result.get("regime"),
                "market_return": result.get("market_return")}  # fmt: skip
        if result["status"] != "ok":
            rows += [{**head, "model": m, "kind": None} for m in models]
            continue
        by_model = returns[k].groupby("model", sort=False)["return"]
        for row in result["rows"]:
            r = (by_model.get_group(row["model"]).to_numpy() if row["model"] in by_model.groups
                 else np.empty(0))  # fmt: skip
            ci = return_interval(r, block=study.block, resamples=study.bootstrap,
                                 confidence=study.confidence, seed=seed + k)  # fmt: skip
            rows.append({**head, **row, "net_return_low": ci[0] if ci else None,
                         "net_return_high": ci[1] if ci else None})  # fmt: skip
    frame = pd.DataFrame(rows)
    for column in (*FOLD_COLUMNS, *METRICS, "net_return_low", "net_return_high"):
        if column not in frame:
            frame[column] = None
    for part in ("train", "val", "test"):
        for end in ("start", "end"):
            frame[f"{part}_{end}"] = pd.to_datetime(frame[f"{part}_{end}"], utc=True)
    ordered = [*FOLD_COLUMNS, *METRICS, "net_return_low", "net_return_high"]
    return frame[ordered + [c for c in frame.columns if c not in ordered]]


def summarize(table: pd.DataFrame, returns: dict[int, pd.DataFrame], study: StudyConfig,
              seed: int) -> dict[str, Any]:  # fmt: skip
    """Aggregate the fold table: per model, per regime, and the plain answer."""
    ok = table[table["status"] == "ok"]
    folds = sorted(table["fold"].unique().tolist())
    failed = (table[table["status"] != "ok"].drop_duplicates("fold")[["fold", "error"]]
              .to_dict("records"))  # fmt: skip
    out: dict[str, Any] = {"folds": len(folds), "finished": int(ok["fold"].nunique()),
                           "failed": failed, "models": {}, "regimes": {}}  # fmt: skip
    net = ok.pivot_table(index="fold", columns="model", values="net_return", aggfunc="first")
    for model, rows in ok.groupby("model", sort=False):
        series = [returns[k].loc[returns[k]["model"] == model, "return"].to_numpy()
                  for k in rows["fold"]]  # fmt: skip
        entry: dict[str, Any] = {"kind": rows["kind"].iloc[0], "folds": len(rows)}
        for metric in METRICS:
            values = pd.to_numeric(rows[metric], errors="coerce").dropna()
            entry[metric] = float(values.mean()) if len(values) else None
        entry["median_net_return"] = float(rows["net_return"].median())
        for base in ("flat", "buy_and_hold"):
            if base in net and model != base:
                wins = net[model] > net[base]
                entry[f"beats_{base}"] = int(wins.sum())
        pooled = pooled_mean_interval(series, block=study.block, resamples=study.bootstrap,
                                      confidence=study.confidence, seed=seed)  # fmt: skip
        entry["mean_step_return"] = _interval(pooled)
        if rows["kind"].iloc[0] != "mixture":  # same decisions as the baselines: paired
            for base in ("flat", "buy_and_hold"):
                if model == base:
                    continue
                diffs = [s - returns[k].loc[returns[k]["model"] == base, "return"].to_numpy()
                         for k, s in zip(rows["fold"], series, strict=True)]  # fmt: skip
                found = pooled_mean_interval(diffs, block=study.block, resamples=study.bootstrap,
                                             confidence=study.confidence, seed=seed)  # fmt: skip
                entry[f"edge_vs_{base}"] = _interval(found)
        out["models"][str(model)] = entry
    for name in REGIMES:
        part = ok[ok["regime"] == name]
        if part.empty:
            continue
        regime_net = part.pivot_table(index="fold", columns="model", values="net_return",
                                      aggfunc="first")  # fmt: skip
        out["regimes"][name] = {
            "folds": int(part["fold"].nunique()),
            "mean_net_return": {str(m): float(v) for m, v in regime_net.mean().items()},
            "beats_buy_and_hold": {
                str(m): int((regime_net[m] > regime_net["buy_and_hold"]).sum())
                for m in regime_net
                if m != "buy_and_hold" and "buy_and_hold" in regime_net
            },
        }
    out["answer"] = answer(out, study.confidence)
    return out


def _interval(found: tuple[float, float, float] | None) -> dict[str, float] | None:
    if found is None:
        return None
    return {"mean": found[0], "low": found[1], "high": found[2]}


def answer(summary: dict[str, Any], confidence: float) -> list[str]:
    """Say, per expert and the mixture, whether it beats flat and buy-and-hold out of sample."""
    lines = []
    n = summary["finished"]
    if n == 0:
        return ["No fold finished: nothing can be concluded (see the failed folds)."]
    pct = f"{confidence:.0%}"
    for name, m in summary["models"].items():
        if m["kind"] == "baseline" and name != "logistic":
            continue
        parts = [(f"{name}: mean net return {m['net_return']:+.2%} per fold (median "
                  f"{m['median_net_return']:+.2%}); beats flat in {m.get('beats_flat', 0)} of "
                  f"{m['folds']} folds, buy-and-hold in {m.get('beats_buy_and_hold', 0)}.")]  # fmt: skip
        for base, label in (("flat", "flat"), ("buy_and_hold", "buy-and-hold")):
            edge = m.get(f"edge_vs_{base}")
            if edge is None:
                continue
            if edge["low"] > 0:
                verdict = f"beats {label} out of sample, net of costs ({pct} interval above 0)"
            elif edge["high"] < 0:
                verdict = f"loses to {label} ({pct} interval below 0)"
            else:
                verdict = f"no clear edge over {label} ({pct} interval spans 0)"
            parts.append(f"Per step vs {label}: {edge['mean'] * 1e4:+.2f} bp "
                         f"[{edge['low'] * 1e4:+.2f}, {edge['high'] * 1e4:+.2f}]: {verdict}.")  # fmt: skip
        lines.append(" ".join(parts))
    return lines
