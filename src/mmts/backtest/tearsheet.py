"""What a run's report shows, computed: metrics with units and meanings, and the tearsheet tables.

Every number the report prints comes from here (``report.py`` only draws), so a notebook can
take the same tables: :func:`metric_rows`, :func:`monthly_returns`, :func:`trade_list`,
:func:`pnl_breakdown`, :func:`exposure` and the underwater curve
(``core.performance.underwater``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mmts.backtest.metrics import closed_trades
from mmts.core.performance import underwater


@dataclass(frozen=True, slots=True)
class Metric:
    """How one metric is shown: its label, unit and a one-line definition."""

    label: str
    unit: str  # "%" (a fraction shown as a percentage), "ratio", "money", "count", "x"
    definition: str


#: The metrics the report's table shows, in order. Anything else in ``metrics.json`` (the
#: number of events, the engine, the decision step) describes the run, not its performance.
METRICS: dict[str, Metric] = {
    "total_return": Metric("Total return", "%", "end equity / start equity - 1"),
    "annual_return": Metric(
        "Annual return", "%", "total return compounded to a 365-day year (none under 30 days)"
    ),
    "sharpe": Metric(
        "Sharpe ratio", "ratio", "mean / sample std of the per-decision returns, annualised"
    ),
    "sortino": Metric(
        "Sortino ratio", "ratio", "mean / downside deviation of per-decision returns, annualised"
    ),
    "max_drawdown": Metric("Max drawdown", "%", "largest fall of equity from a running peak"),
    "calmar": Metric("Calmar ratio", "ratio", "annual return / max drawdown (none under 30 days)"),
    "round_trips": Metric(
        "Closed trades", "count", "fills that reduced a position (a partial close counts)"
    ),
    "win_rate": Metric("Win rate", "%", "closed trades with a positive net PnL"),
    "profit_factor": Metric(
        "Profit factor", "ratio", "net gains of winning trades / net losses of losing ones"
    ),
    "trades": Metric("Fills", "count", "fills booked (one order can fill several times)"),
    "turnover": Metric("Turnover", "x", "traded notional / start equity"),
    "fees": Metric("Fees", "money", "fees paid, quote currency"),
    "exposure": Metric("Exposure", "%", "decisions with an open position"),
    "start_equity": Metric("Start equity", "money", "cash at the start, quote currency"),
    "end_equity": Metric("End equity", "money", "equity at the last decision, quote currency"),
}


def format_value(value: Any, unit: str) -> str:
    """Format ``value`` in ``unit`` for people (``n/a`` for an undefined one)."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    if unit == "%":
        return f"{100 * float(value):.2f} %"
    if unit == "ratio":
        return f"{float(value):.2f}"
    if unit == "money":
        return f"{float(value):,.2f}"
    if unit == "x":
        return f"{float(value):.2f} x"
    return f"{int(value):,}"


def metric_rows(metrics: dict[str, Any]) -> list[dict[str, str]]:
    """Return the metrics table: label, the strategy's value, buy-and-hold's, a definition."""
    hold = metrics.get("buy_and_hold", {})
    rows = []
    for key, m in METRICS.items():
        if key not in metrics:
            continue
        held = hold.get(key) if key in hold else None
        rows.append({"key": key, "metric": m.label, "strategy": format_value(metrics[key], m.unit),
                     "buy_and_hold": format_value(held, m.unit) if key in hold else "",
                     "definition": m.definition})  # fmt: skip
    return rows


def monthly_returns(equity: pd.DataFrame, start_equity: float) -> pd.DataFrame:
    """Return each calendar month's return (fraction), years as rows and months 1..12 as columns.

    A month's return is its last equity over the previous month's last (the start equity for the
    first month); months the run did not cover are NaN.
    """
    times = pd.DatetimeIndex(pd.to_datetime(equity["time"], utc=True))
    values = pd.Series(equity["equity"].to_numpy(np.float64), index=times)
    month_end = values.groupby([times.year, times.month]).last()
    previous = month_end.shift(1)
    previous.iloc[0] = start_equity
    returns = month_end / previous - 1.0
    frame = pd.DataFrame({"year": returns.index.get_level_values(0),
                          "month": returns.index.get_level_values(1), "r": returns.to_numpy()})  # fmt: skip
    table = frame.pivot_table(index="year", columns="month", values="r", aggfunc="first")
    return table.reindex(columns=range(1, 13))


def trade_list(fills: pd.DataFrame) -> pd.DataFrame:
    """Return the run's closed trades (``backtest.metrics.closed_trades``), times as UTC datetimes."""
    times = pd.DatetimeIndex(pd.to_datetime(fills["time"], utc=True)).as_unit("ns").asi8
    trades = closed_trades(times, fills["signed_qty"].to_numpy(np.float64),
                           fills["price"].to_numpy(np.float64), fills["fee"].to_numpy(np.float64))  # fmt: skip
    for column in ("entry_time", "exit_time"):
        trades[column] = pd.to_datetime(trades[column], utc=True)
    return trades


def pnl_breakdown(fills: pd.DataFrame, equity: pd.DataFrame, start_equity: float) -> pd.DataFrame:
    """Return cumulative net PnL, fees and gross PnL (net + fees) at every decision."""
    times = pd.DatetimeIndex(pd.to_datetime(equity["time"], utc=True)).as_unit("ns").asi8
    fill_times = pd.DatetimeIndex(pd.to_datetime(fills["time"], utc=True)).as_unit("ns").asi8
    paid = np.concatenate([[0.0], np.cumsum(fills["fee"].to_numpy(np.float64))])
    fees = paid[np.searchsorted(fill_times, times, side="right")]  # fees booked by each decision
    net = equity["equity"].to_numpy(np.float64) - start_equity
    return pd.DataFrame({"net": net, "fees": fees, "gross": net + fees},
                        index=pd.to_datetime(times, utc=True))  # fmt: skip


def exposure(equity: pd.DataFrame) -> pd.Series:
    """Return the position's value as a fraction of equity at every decision (short: negative)."""
    value = equity["position"].to_numpy(np.float64) * equity["price"].to_numpy(np.float64)
    return pd.Series(value / equity["equity"].to_numpy(np.float64),
                     index=pd.to_datetime(equity["time"], utc=True), name="exposure")  # fmt: skip


#: An underwater axis shows at least this depth, so a 0.3 % dip looks like one.
MIN_DRAWDOWN_AXIS = 0.02


def drawdown_axis_depth(underwater_curve: np.ndarray) -> float:
    """Return how deep to draw an underwater axis (a fraction): the curve's own, 15 % spare."""
    deepest = float(-np.min(underwater_curve)) if len(underwater_curve) else 0.0
    return max(MIN_DRAWDOWN_AXIS, 1.15 * deepest)


def drawdown(equity: pd.DataFrame) -> pd.Series:
    """Return the underwater curve (fraction below the running peak, ≤ 0) at every decision."""
    return pd.Series(underwater(equity["equity"].to_numpy(np.float64)),
                     index=pd.to_datetime(equity["time"], utc=True), name="drawdown")  # fmt: skip
