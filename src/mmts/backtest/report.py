"""The run report: price with trades, equity and drawdown, confidence and expert weights."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmts.core.performance import format_metric


def write_report(run_dir: Path, decisions: pd.DataFrame, fills: pd.DataFrame, equity: pd.DataFrame,
                 metrics: dict[str, Any], title: str) -> None:  # fmt: skip
    """Write ``report.png`` and a self-contained ``report.html`` (the PNG inlined) into ``run_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        4, 1, figsize=(12, 11), sharex=True, gridspec_kw={"height_ratios": [3, 2, 1.3, 1.3]}
    )
    t = pd.to_datetime(equity["time"], utc=True)
    axes[0].plot(t, equity["price"], lw=0.8, color="0.3", label="price")
    if len(fills):
        ft = pd.to_datetime(fills["time"], utc=True)
        buys = fills["side"] > 0
        axes[0].scatter(
            ft[buys], fills["price"][buys], marker="^", color="tab:green", s=18, label="buy"
        )
        axes[0].scatter(
            ft[~buys], fills["price"][~buys], marker="v", color="tab:red", s=18, label="sell"
        )
    axes[0].legend(loc="upper left")
    axes[0].set_title(title)
    eq = equity["equity"].to_numpy()
    axes[1].plot(t, eq, color="tab:blue", label="equity")
    axes[1].plot(t, metrics["start_equity"] * equity["price"] / equity["price"].iloc[0], color="0.6",
                 lw=0.8, label="buy-and-hold")  # fmt: skip
    ax_dd = axes[1].twinx()
    peak = np.maximum.accumulate(eq)
    ax_dd.fill_between(t, 0, -(1 - eq / peak), color="tab:red", alpha=0.2)
    ax_dd.set_ylabel("drawdown")
    axes[1].legend(loc="upper left")
    dt = pd.to_datetime(decisions["time"], utc=True)
    axes[2].plot(dt, decisions["confidence"], lw=0.7)
    axes[2].set_ylabel("confidence")
    weights = pd.DataFrame([json.loads(w) for w in decisions["expert_weights"]], index=dt).fillna(
        0.0
    )
    if not weights.empty:
        axes[3].stackplot(weights.index, weights.T.to_numpy(), labels=list(weights.columns))
        axes[3].legend(loc="upper left", fontsize=8)
    axes[3].set_ylabel("expert weights")
    fig.tight_layout()
    png = run_dir / "report.png"
    fig.savefig(png, dpi=90, metadata={"Software": None})
    plt.close(fig)
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{_fmt(v)}</td><td>{_fmt(metrics['buy_and_hold'].get(k, ''))}</td></tr>"
        for k, v in metrics.items() if not isinstance(v, dict)
    )  # fmt: skip
    image = base64.b64encode(png.read_bytes()).decode()
    (run_dir / "report.html").write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}td{padding:2px 12px}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><table><tr><th>metric</th><th>strategy</th><th>buy-and-hold</th></tr>"
        f"{rows}</table><img src='data:image/png;base64,{image}' style='max-width:100%'></body></html>"
    )


def _fmt(value: Any) -> str:
    return html.escape(format_metric(value))
