"""The run report: a tearsheet in ``report.html`` (interactive) and a summary in ``report.png``.

``report.html`` is one self-contained file (Plotly's script inlined, no network): the metrics
beside buy-and-hold with units and definitions; equity against buy-and-hold with the underwater
curve; price with every fill and the exposure; gross PnL against fees; monthly returns; the
trade list with each trade's PnL; the mixture's confidence and expert weights; and the run's
configuration and model versions. Every chart zooms and pans. Numbers come from
``backtest.tearsheet``; this module only draws.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmts.backtest import tearsheet

#: The metrics the online-learning section puts side by side (``tearsheet.METRICS`` keys).
LEARNING_METRICS = ("total_return", "sharpe", "max_drawdown", "round_trips", "fees")
#: Trades listed in the report (all of them are in ``fills.parquet``).
MAX_TRADES_SHOWN = 500

REPORT_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em 2em;color:#222;max-width:1400px}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
.sub{color:#666;margin-top:0} table{border-collapse:collapse;font-size:.9em}
td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:right} th{background:#f6f6f6}
td.l,th.l{text-align:left} .def{color:#666;text-align:left} .pos{color:#1a7f37} .neg{color:#c62828}
.scroll{max-height:420px;overflow:auto;display:inline-block} pre{background:#f6f6f6;padding:1em;
font-size:.8em;overflow:auto;max-height:420px}
"""


@dataclass
class LearningView:
    """What the report shows of online learning: the run beside its frozen twin."""

    promotions: pd.DataFrame
    #: ``time, model, accuracy`` of the online run's and the frozen run's active models.
    online_accuracy: pd.DataFrame
    frozen_accuracy: pd.DataFrame
    frozen_metrics: dict[str, Any]
    frozen_equity: pd.DataFrame


def write_report(run_dir: Path, decisions: pd.DataFrame, fills: pd.DataFrame, equity: pd.DataFrame,
                 metrics: dict[str, Any], title: str, manifest: dict[str, Any] | None = None,
                 learning: LearningView | None = None) -> None:  # fmt: skip
    """Write ``report.html`` (the tearsheet) and ``report.png`` (its summary) into ``run_dir``."""
    _write_png(run_dir / "report.png", decisions, fills, equity, metrics, title)
    (run_dir / "report.html").write_text(
        report_html(decisions, fills, equity, metrics, title, manifest or {}, learning),
        encoding="utf-8",
    )


def report_html(decisions: pd.DataFrame, fills: pd.DataFrame, equity: pd.DataFrame,
                metrics: dict[str, Any], title: str, manifest: dict[str, Any],
                learning: LearningView | None = None) -> str:  # fmt: skip
    """Return the tearsheet as one HTML page (see the module docstring)."""
    start = float(metrics["start_equity"])
    sections = [
        ("Metrics", _metrics_table(metrics)),
        ("Equity and drawdown", figure_html(_equity_figure(equity, start), "equity", first=True)),
        ("Price, fills and exposure", figure_html(_price_figure(equity, fills), "price")),
        ("Gross PnL and fees", _pnl_section(fills, equity, start)),
        ("Monthly returns", _monthly_table(tearsheet.monthly_returns(equity, start))),
        ("Trades", _trades_table(tearsheet.trade_list(fills) if len(fills) else None)),
        ("The mixture: confidence and expert weights", figure_html(_mixture_figure(decisions), "mixture")),
        ("The run", _run_section(metrics, manifest)),
    ]  # fmt: skip
    if learning is not None:
        sections.insert(1, ("Online learning, beside the same period frozen",
                            _learning_section(learning, metrics, equity)))  # fmt: skip
    period = f"{metrics.get('decisions', 0):,} decisions every {metrics.get('decision_every', '?')}"
    body = "".join(f"<h2>{html.escape(name)}</h2>{content}" for name, content in sections)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{REPORT_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p class='sub'>{html.escape(period)}; engine {html.escape(str(metrics.get('engine', '?')))}"
            f"; {metrics.get('events', 0):,} events replayed</p>{body}</body></html>")  # fmt: skip


# -- online learning -------------------------------------------------------------------------------


def _learning_section(view: LearningView, metrics: dict[str, Any], equity: pd.DataFrame) -> str:
    """Return the online run beside its frozen twin: metrics, equity, accuracy, promotions."""
    rows = []
    frozen, hold = view.frozen_metrics, metrics.get("buy_and_hold", {})
    for key in LEARNING_METRICS:
        m = tearsheet.METRICS[key]
        cells = [tearsheet.format_value(source.get(key), m.unit) if key in source else ""
                 for source in (metrics, frozen, hold)]  # fmt: skip
        rows.append(f"<tr><td class='l'>{html.escape(m.label)}</td>"
                    + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")  # fmt: skip
    table = ("<table><tr><th class='l'>metric</th><th>online</th><th>frozen</th><th>buy-and-hold</th>"
             f"</tr>{''.join(rows)}</table>")  # fmt: skip
    events = view.promotions
    listing = "<p>No retrain happened in this period.</p>"
    if len(events):
        body = "".join(
            f"<tr><td class='l'>{html.escape(str(r['time'])[:19])}</td><td class='l'>{html.escape(str(r['model']))}</td>"
            f"<td class='l'>{html.escape(str(r['event']))}</td><td class='l'>{html.escape(str(r['from_version']))}</td>"
            f"<td class='l'>{html.escape(str(r['to_version']))}</td><td class='def'>{html.escape(str(r['why']))}</td></tr>"
            for r in events.to_dict("records")
        )  # fmt: skip
        listing = ("<div class='scroll'><table><tr><th class='l'>time</th><th class='l'>model</th>"
                   "<th class='l'>event</th><th class='l'>from</th><th class='l'>to</th>"
                   f"<th class='l'>why</th></tr>{body}</table></div>")  # fmt: skip
    return (table + figure_html(_learning_figure(view, equity, float(metrics["start_equity"])), "learning")
            + listing)  # fmt: skip


def _learning_figure(view: LearningView, equity: pd.DataFrame, start: float) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.5, 0.5],
                        vertical_spacing=0.06)  # fmt: skip
    t = pd.to_datetime(equity["time"], utc=True)
    fig.add_trace(go.Scatter(x=t, y=equity["equity"], name="online", line={"width": 1.4}), 1, 1)
    frozen = view.frozen_equity
    fig.add_trace(go.Scatter(x=pd.to_datetime(frozen["time"], utc=True), y=frozen["equity"],
                             name="frozen", line={"width": 1.2, "dash": "dot"}), 1, 1)  # fmt: skip
    fig.add_trace(go.Scatter(x=t, y=start * equity["price"] / equity["price"].iloc[0],
                             name="buy-and-hold", line={"width": 1, "color": "#999"}), 1, 1)  # fmt: skip
    for label, acc, dash in (
        ("online", view.online_accuracy, None),
        ("frozen", view.frozen_accuracy, "dot"),
    ):
        for model, rows in acc.groupby("model"):
            fig.add_trace(go.Scatter(x=pd.to_datetime(rows["time"], utc=True), y=100 * rows["accuracy"],
                                     name=f"{model} ({label})", line={"width": 1, "dash": dash}), 2, 1)  # fmt: skip
    shown = view.promotions[view.promotions["event"].isin(["promoted", "rolled_back"])]
    for when, event in zip(shown["time"], shown["event"], strict=True):
        fig.add_vline(x=when, line={"width": 1, "color": "#1a7f37" if event == "promoted"
                                    else "#c62828", "dash": "dash"})  # fmt: skip
    fig.update_yaxes(title_text="equity", row=1, col=1)
    fig.update_yaxes(title_text="rolling accuracy %", ticksuffix=" %", row=2, col=1)
    fig.update_layout(height=560)
    return fig


# -- tables ----------------------------------------------------------------------------------------


def _metrics_table(metrics: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td class='l'>{html.escape(r['metric'])}</td><td>{html.escape(r['strategy'])}</td>"
        f"<td>{html.escape(r['buy_and_hold'])}</td><td class='def'>{html.escape(r['definition'])}</td></tr>"
        for r in tearsheet.metric_rows(metrics)
    )  # fmt: skip
    return ("<table><tr><th class='l'>metric</th><th>strategy</th><th>buy-and-hold</th>"
            f"<th class='l'>definition</th></tr>{rows}</table>")  # fmt: skip


def _signed(value: float, text: str) -> str:
    css = "pos" if value > 0 else "neg" if value < 0 else ""
    return f"<td class='{css}'>{html.escape(text)}</td>"


def _monthly_table(table: pd.DataFrame) -> str:
    months = "".join(f"<th>{m}</th>" for m in ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
                                                "Aug", "Sep", "Oct", "Nov", "Dec"))  # fmt: skip
    rows = []
    for year, values in table.iterrows():
        cells = "".join("<td></td>" if not np.isfinite(v) else _signed(v, f"{100 * v:.2f} %")
                        for v in values.to_numpy(np.float64))  # fmt: skip
        rows.append(f"<tr><td class='l'>{year}</td>{cells}</tr>")
    return f"<table><tr><th class='l'>year</th>{months}</tr>{''.join(rows)}</table>"


def _trades_table(trades: pd.DataFrame | None) -> str:
    if trades is None or trades.empty:
        return "<p>No trade was closed in this run.</p>"
    shown = trades.iloc[:MAX_TRADES_SHOWN]
    note = (f"<p>The first {MAX_TRADES_SHOWN} of {len(trades):,} trades; every fill is in "
            "fills.parquet.</p>" if len(trades) > MAX_TRADES_SHOWN else "")  # fmt: skip
    rows = "".join(_trade_row(r) for r in shown.to_dict("records"))
    wins = int((trades["pnl"] > 0).sum())
    summary = (f"<p>{len(trades):,} closed trades, {wins:,} won; net PnL "
               f"{trades['pnl'].sum():,.2f} (net of fees).</p>")  # fmt: skip
    return (f"{summary}{note}<div class='scroll'><table><tr><th class='l'>entry (UTC)</th>"
            "<th class='l'>exit (UTC)</th><th class='l'>side</th><th>qty</th><th>entry price</th>"
            f"<th>exit price</th><th>PnL</th><th>return</th></tr>{rows}</table></div>")  # fmt: skip


def _trade_row(r: dict[Any, Any]) -> str:
    pnl, ret = float(r["pnl"]), float(r["return"])
    return (f"<tr><td class='l'>{r['entry_time']:%Y-%m-%d %H:%M:%S}</td>"
            f"<td class='l'>{r['exit_time']:%Y-%m-%d %H:%M:%S}</td>"
            f"<td class='l'>{'long' if r['side'] > 0 else 'short'}</td><td>{r['qty']:.6g}</td>"
            f"<td>{r['entry_price']:,.4f}</td><td>{r['exit_price']:,.4f}</td>"
            f"{_signed(pnl, f'{pnl:,.2f}')}{_signed(pnl, f'{100 * ret:.3f} %')}</tr>")  # fmt: skip


def _pnl_section(fills: pd.DataFrame, equity: pd.DataFrame, start: float) -> str:
    pnl = tearsheet.pnl_breakdown(fills, equity, start)
    last = pnl.iloc[-1]
    text = (f"<p>Gross PnL (before fees) {last['gross']:,.2f}; fees {last['fees']:,.2f} "
            f"({_share(last['fees'], last['gross'])} of gross); net PnL {last['net']:,.2f}.</p>")  # fmt: skip
    return text + figure_html(_pnl_figure(pnl), "pnl")


def _share(part: float, whole: float) -> str:
    return f"{100 * part / abs(whole):.0f} %" if whole else "n/a"


def _run_section(metrics: dict[str, Any], manifest: dict[str, Any]) -> str:
    models = manifest.get("models", {})
    model_rows = "".join(f"<tr><td class='l'>{html.escape(n)}</td><td class='l'>{html.escape(str(v))}</td></tr>"
                         for n, v in models.items())  # fmt: skip
    data = manifest.get("data", {})
    facts = {
        "data": f"{data.get('store', '?')} {data.get('start', '')} .. {data.get('end', '')}",
        "data hash": data.get("hash", "?"), "git commit": manifest.get("git_commit", "?"),
        "engine": metrics.get("engine", "?"), "events": f"{metrics.get('events', 0):,}",
        "decisions": f"{metrics.get('decisions', 0):,} every {metrics.get('decision_every', '?')}",
        "costs": json.dumps(manifest.get("costs", {})),
    }  # fmt: skip
    fact_rows = "".join(f"<tr><td class='l'>{html.escape(k)}</td><td class='l'>{html.escape(str(v))}</td></tr>"
                        for k, v in facts.items())  # fmt: skip
    config = {k: manifest[k] for k in ("experiment", "trading") if k in manifest}
    return (f"<table><tr><th class='l'>expert</th><th class='l'>version</th></tr>{model_rows}</table>"
            f"<p></p><table>{fact_rows}</table><p>Configuration (experiment and trading tables):</p>"
            f"<pre>{html.escape(json.dumps(config, indent=2))}</pre>")  # fmt: skip


# -- interactive charts (Plotly) ------------------------------------------------------------------


def figure_html(fig: Any, name: str, *, first: bool = False) -> str:
    """Return ``fig`` as an HTML fragment; the first one carries Plotly's script (inlined)."""
    import plotly.io as pio

    fig.update_layout(margin={"l": 60, "r": 20, "t": 30, "b": 30}, template="plotly_white",
                      legend={"orientation": "h", "y": 1.08}, hovermode="x unified")  # fmt: skip
    return str(pio.to_html(fig, include_plotlyjs=first, full_html=False, div_id=f"fig-{name}",
                           config={"displaylogo": False, "responsive": True}))  # fmt: skip


def _equity_figure(equity: pd.DataFrame, start: float) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    t = pd.to_datetime(equity["time"], utc=True)
    hold = start * equity["price"] / equity["price"].iloc[0]
    dd = tearsheet.drawdown(equity)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.68, 0.32],
                        vertical_spacing=0.04)  # fmt: skip
    fig.add_trace(go.Scatter(x=t, y=equity["equity"], name="strategy", line={"width": 1.4}), 1, 1)
    fig.add_trace(
        go.Scatter(x=t, y=hold, name="buy-and-hold", line={"width": 1, "color": "#999"}), 1, 1
    )
    fig.add_trace(go.Scatter(x=t, y=100 * dd.to_numpy(), name="drawdown %", fill="tozeroy",
                             line={"width": 0.8, "color": "#c62828"}), 2, 1)  # fmt: skip
    depth = tearsheet.drawdown_axis_depth(dd.to_numpy())
    fig.update_yaxes(title_text="equity", row=1, col=1)
    fig.update_yaxes(
        title_text="drawdown %", range=[-100 * depth, 0], ticksuffix=" %", row=2, col=1
    )
    fig.update_layout(height=520)
    return fig


def _price_figure(equity: pd.DataFrame, fills: pd.DataFrame) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    t = pd.to_datetime(equity["time"], utc=True)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3],
                        vertical_spacing=0.04)  # fmt: skip
    fig.add_trace(go.Scatter(x=t, y=equity["price"], name="decision price",
                             line={"width": 1, "color": "#555"}), 1, 1)  # fmt: skip
    if len(fills):
        ft = pd.to_datetime(fills["time"], utc=True)
        for side, name, symbol, color in ((1, "buy", "triangle-up", "#1a7f37"),
                                          (-1, "sell", "triangle-down", "#c62828")):  # fmt: skip
            mask = (fills["side"] == side).to_numpy()
            fig.add_trace(go.Scatter(x=ft[mask], y=fills["price"][mask], mode="markers", name=name,
                                     marker={"symbol": symbol, "color": color, "size": 8}), 1, 1)  # fmt: skip
    fig.add_trace(go.Scatter(x=t, y=100 * tearsheet.exposure(equity).to_numpy(), name="exposure %",
                             line={"width": 1, "shape": "hv", "color": "#1f77b4"}, fill="tozeroy"), 2, 1)  # fmt: skip
    fig.update_yaxes(title_text="price", row=1, col=1)
    fig.update_yaxes(title_text="exposure %", ticksuffix=" %", row=2, col=1)
    fig.update_layout(height=520)
    return fig


def _pnl_figure(pnl: pd.DataFrame) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    for column, name, color in (("gross", "gross PnL", "#1f77b4"), ("fees", "fees paid", "#c62828"),
                                ("net", "net PnL", "#222")):  # fmt: skip
        fig.add_trace(
            go.Scatter(x=pnl.index, y=pnl[column], name=name, line={"width": 1.2, "color": color})
        )
    fig.update_yaxes(title_text="quote currency")
    fig.update_layout(height=320)
    return fig


def _mixture_figure(decisions: pd.DataFrame) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    t = pd.to_datetime(decisions["time"], utc=True)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06)
    fig.add_trace(go.Scatter(x=t, y=decisions["confidence"], name="confidence",
                             line={"width": 0.8}), 1, 1)  # fmt: skip
    weights = pd.DataFrame([json.loads(w) for w in decisions["expert_weights"]], index=t).fillna(
        0.0
    )
    for name in weights.columns:
        fig.add_trace(go.Scatter(x=weights.index, y=weights[name], name=f"weight {name}",
                                 stackgroup="w", line={"width": 0.5}), 2, 1)  # fmt: skip
    fig.update_yaxes(title_text="confidence", row=1, col=1)
    fig.update_yaxes(title_text="expert weight", range=[0, 1], row=2, col=1)
    fig.update_layout(height=420)
    return fig


# -- the static summary (matplotlib) --------------------------------------------------------------


def _write_png(path: Path, decisions: pd.DataFrame, fills: pd.DataFrame, equity: pd.DataFrame,
               metrics: dict[str, Any], title: str) -> None:  # fmt: skip
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    fig, axes = plt.subplots(5, 1, figsize=(12, 12), sharex=True,
                             gridspec_kw={"height_ratios": [3, 2.2, 1.1, 1.1, 1.2]})  # fmt: skip
    t = pd.to_datetime(equity["time"], utc=True)
    axes[0].plot(t, equity["price"], lw=0.8, color="0.3", label="price")
    if len(fills):
        ft = pd.to_datetime(fills["time"], utc=True)
        buys = (fills["side"] > 0).to_numpy()
        axes[0].scatter(
            ft[buys], fills["price"][buys], marker="^", color="tab:green", s=18, label="buy"
        )
        axes[0].scatter(
            ft[~buys], fills["price"][~buys], marker="v", color="tab:red", s=18, label="sell"
        )
    axes[0].legend(loc="upper left")
    axes[0].set_title(title)
    start = float(metrics["start_equity"])
    axes[1].plot(t, equity["equity"], color="tab:blue", label="strategy")
    axes[1].plot(t, start * equity["price"] / equity["price"].iloc[0], color="0.6", lw=0.8,
                 label="buy-and-hold")  # fmt: skip
    axes[1].set_ylabel("equity")
    axes[1].legend(loc="upper left")
    dd = tearsheet.drawdown(equity).to_numpy()
    axes[2].fill_between(t, 0, dd, color="tab:red", alpha=0.35, lw=0)
    axes[2].set_ylim(-tearsheet.drawdown_axis_depth(dd), 0)
    axes[2].yaxis.set_major_formatter(PercentFormatter(1.0))
    axes[2].set_ylabel("drawdown")
    axes[3].fill_between(t, 0, tearsheet.exposure(equity).to_numpy(), step="post", alpha=0.4)
    axes[3].yaxis.set_major_formatter(PercentFormatter(1.0))
    axes[3].set_ylabel("exposure")
    dt = pd.to_datetime(decisions["time"], utc=True)
    weights = pd.DataFrame([json.loads(w) for w in decisions["expert_weights"]], index=dt).fillna(
        0.0
    )
    if not weights.empty:
        axes[4].stackplot(weights.index, weights.T.to_numpy(), labels=list(weights.columns))
        axes[4].legend(loc="upper left", fontsize=8)
    axes[4].set_ylabel("expert weights")
    fig.tight_layout()
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)
