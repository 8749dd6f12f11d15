"""Performance metrics of an equity curve and its fills (and of buy-and-hold beside it)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

YEAR_NS = 365 * 86_400 * 10**9


def equity_metrics(times: np.ndarray, equity: np.ndarray, start_equity: float) -> dict[str, float]:
    """Return, annualised from the sampling step: return, Sharpe, Sortino, drawdown, Calmar."""
    equity = np.asarray(equity, np.float64)
    out = {"total_return": float(equity[-1] / start_equity - 1.0) if equity.size else 0.0}
    if equity.size < 2:
        return {
            **out,
            "annual_return": 0.0,
            "sharpe": 0.0,
            "sortino": 0.0,
            "max_drawdown": 0.0,
            "calmar": 0.0,
        }
    curve = np.concatenate([[start_equity], equity])
    r = curve[1:] / curve[:-1] - 1.0
    step = float(np.median(np.diff(times))) if times.size > 1 else float(YEAR_NS)
    per_year = YEAR_NS / step
    years = max((times[-1] - times[0] + step) / YEAR_NS, 1e-9)
    annual = float((curve[-1] / curve[0]) ** (1.0 / years) - 1.0) if curve[-1] > 0 else -1.0
    std = r.std()
    downside = np.sqrt(np.mean(np.minimum(r, 0.0) ** 2))
    peak = np.maximum.accumulate(curve)
    drawdown = float(np.max(1.0 - curve / peak))
    return {
        **out,
        "annual_return": annual,
        "sharpe": float(r.mean() / std * np.sqrt(per_year)) if std > 0 else 0.0,
        "sortino": float(r.mean() / downside * np.sqrt(per_year)) if downside > 0 else 0.0,
        "max_drawdown": drawdown,
        "calmar": float(annual / drawdown) if drawdown > 0 else 0.0,
    }


def trade_metrics(fills: pd.DataFrame, equity: pd.DataFrame, start_equity: float) -> dict[str, Any]:
    """Win rate and profit factor over round trips, turnover, fees, exposure, trade count."""
    realized = []
    pos, avg = 0.0, 0.0
    for qty, price in zip(fills["qty"].to_numpy(), fills["price"].to_numpy(), strict=True):
        if pos != 0 and qty * pos < 0:
            closed = min(abs(qty), abs(pos))
            realized.append(closed * (price - avg) * np.sign(pos))
            if abs(qty) > abs(pos):
                avg = price
            pos += qty
            if pos == 0:
                avg = 0.0
        else:
            new = pos + qty
            avg = (abs(pos) * avg + abs(qty) * price) / abs(new) if new else 0.0
            pos = new
    wins = [x for x in realized if x > 0]
    losses = [-x for x in realized if x < 0]
    notional = float((fills["qty"].abs() * fills["price"]).sum()) if len(fills) else 0.0
    return {
        "trades": len(fills),
        "round_trips": len(realized),
        "win_rate": float(len(wins) / len(realized)) if realized else 0.0,
        "profit_factor": float(sum(wins) / sum(losses))
        if losses
        else (float("inf") if wins else 0.0),
        "turnover": notional / start_equity,
        "fees": float(fills["fee"].sum()) if len(fills) else 0.0,
        "exposure": float((equity["position"] != 0).mean()) if len(equity) else 0.0,
    }
