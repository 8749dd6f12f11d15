"""``report.html`` of a study: the answer first, then the aggregate, regimes and every fold."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pandas as pd

from mmts.backtest.report import REPORT_STYLE, figure_html


def percent_text(value: Any) -> str:
    """Return a fraction as a signed percentage; empty for a missing value."""
    return "" if value is None or pd.isna(value) else f"{float(value):+.2%}"


def number_text(value: Any, spec: str = ".2f") -> str:
    """Return a number in ``spec``; empty for a missing value."""
    return "" if value is None or pd.isna(value) else format(float(value), spec)


def _fold_figure(table: pd.DataFrame) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    ok = table[table["status"] == "ok"]
    for model, rows in ok.groupby("model", sort=False):
        fig.add_trace(go.Bar(
            x=[f"fold {k} ({r})" for k, r in zip(rows["fold"], rows["regime"], strict=True)],
            y=rows["net_return"], name=str(model),
            error_y={"type": "data", "symmetric": False,
                     "array": (rows["net_return_high"] - rows["net_return"]).clip(lower=0).tolist(),
                     "arrayminus": (rows["net_return"] - rows["net_return_low"]).clip(lower=0).tolist()},
        ))  # fmt: skip
    fig.update_layout(barmode="group", yaxis_tickformat=".1%", height=420,
                      yaxis_title="net return on the test segment")  # fmt: skip
    return fig


def report_html(table: pd.DataFrame, summary: dict[str, Any], title: str) -> str:
    """Return the study's report as one offline HTML page."""
    answer = "".join(f"<li>{html.escape(line)}</li>" for line in summary["answer"])
    head = ("<tr><th class='l'>model</th><th>folds</th><th>mean net</th><th>median net</th>"
            "<th>beats flat</th><th>beats B&amp;H</th><th>Sharpe</th><th>max DD</th>"
            "<th>trades</th><th>macro-F1</th><th>calib. error</th><th>edge vs B&amp;H / step</th></tr>")  # fmt: skip
    rows = ""
    for name, m in summary["models"].items():
        edge = m.get("edge_vs_buy_and_hold")
        shown = (f"{edge['mean'] * 1e4:+.2f} bp [{edge['low'] * 1e4:+.2f}, {edge['high'] * 1e4:+.2f}]"
                 if edge else "")  # fmt: skip
        rows += (f"<tr><td class='l'>{html.escape(name)} ({m['kind']})</td><td>{m['folds']}</td>"
                 f"<td>{percent_text(m['net_return'])}</td><td>{percent_text(m['median_net_return'])}</td>"
                 f"<td>{m.get('beats_flat', '')}</td><td>{m.get('beats_buy_and_hold', '')}</td>"
                 f"<td>{number_text(m['sharpe'])}</td><td>{percent_text(m['max_drawdown'])}</td>"
                 f"<td>{number_text(m['trades'], '.0f')}</td><td>{number_text(m['f1_macro'], '.3f')}</td>"
                 f"<td>{number_text(m['calibration_error'], '.3f')}</td><td>{shown}</td></tr>")  # fmt: skip
    regimes = ""
    for name, r in summary["regimes"].items():
        cells = "".join(f"<td class='l'>{html.escape(m)} {percent_text(v)}</td>"
                        for m, v in r["mean_net_return"].items())  # fmt: skip
        regimes += f"<tr><td class='l'>{name} ({r['folds']} folds)</td>{cells}</tr>"
    ok = table[table["status"] == "ok"]
    pivot = ok.pivot_table(index=["fold", "regime"], columns="model", values="net_return",
                           aggfunc="first", sort=False)  # fmt: skip
    fold_rows = "".join(
        f"<tr><td class='l'>{k} ({html.escape(str(reg))})</td>"
        + "".join(f"<td>{percent_text(v)}</td>" for v in values) + "</tr>"
        for (k, reg), values in zip(pivot.index, pivot.to_numpy(), strict=True)
    )  # fmt: skip
    fold_head = "<tr><th class='l'>fold</th>" + "".join(
        f"<th>{html.escape(str(c))}</th>" for c in pivot.columns) + "</tr>"  # fmt: skip
    spans = table.drop_duplicates("fold")[["fold", "status", "error", "train_start", "val_start",
                                           "test_start", "test_end"]]  # fmt: skip
    span_rows = "".join(
        f"<tr><td class='l'>{r.fold}</td><td class='l'>{r.status}</td>"
        f"<td class='l'>{r.train_start:%Y-%m-%d %H:%M}</td><td class='l'>{r.val_start:%Y-%m-%d %H:%M}</td>"
        f"<td class='l'>{r.test_start:%Y-%m-%d %H:%M}</td><td class='l'>{r.test_end:%Y-%m-%d %H:%M}</td>"
        f"<td class='l'>{html.escape(str(r.error or ''))}</td></tr>"
        for r in spans.itertuples()
    )  # fmt: skip
    sections = [
        ("The answer", f"<ul>{answer}</ul>"),
        ("Across folds", (f"<table>{head}{rows}</table><p class='sub'>Experts and baselines trade "
         "their signal at decision prices with the cost model; the mixture is the event-driven "
         "backtest (costs, latency, slippage, risk sizing). Edge: the mean per-step difference to "
         "buy-and-hold on the same decisions, with its block-bootstrap interval.</p>")),
        ("Net return per fold", figure_html(_fold_figure(table), "folds", first=True)
         + f"<table>{fold_head}{fold_rows}</table>"),
        ("By regime (the test segment's price change against [study] trend)",
         f"<table>{regimes}</table>"),
        ("Folds", ("<table><tr><th class='l'>fold</th><th class='l'>status</th><th class='l'>train "
         "from</th><th class='l'>validate from</th><th class='l'>test from</th><th class='l'>test "
         f"to</th><th class='l'>error</th></tr>{span_rows}</table>")),
        ("Summary (summary.json)", f"<pre>{html.escape(json.dumps(summary, indent=2))}</pre>"),
    ]  # fmt: skip
    return page_html(title, sections)


def page_html(title: str, sections: list[tuple[str, str]]) -> str:
    """Return one offline HTML page: the title, then each ``(heading, html)`` section."""
    body = "".join(f"<h2>{html.escape(name)}</h2>{content}" for name, content in sections)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{REPORT_STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}"
            "</body></html>")  # fmt: skip


def write_report(folder: Path, table: pd.DataFrame, summary: dict[str, Any], title: str) -> Path:
    """Write ``report.html`` into the study's folder."""
    path = folder / "report.html"
    path.write_text(report_html(table, summary, title))
    return path
