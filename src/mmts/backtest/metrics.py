"""Performance metrics of a run: its equity curve, its fills, and buy-and-hold beside them.

Return statistics come from :mod:`mmts.core.performance` (one definition each). Trades are
counted as vectorbt counts exit trades: every fill that reduces the position closes a trade
(a partial close is one, a flip closes the old side and opens the new one), and a trade's PnL
is the realised PnL of :meth:`Portfolio.apply_fill` less its share of the entry fees and of the
closing fill's fee. Undefined values (a profit factor without a losing trade, a win rate
without a trade, annual figures from under ``MIN_ANNUALISED_DAYS``) are ``None``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mmts.core.performance import (
    MIN_ANNUALISED_DAYS,
    YEAR_NS,
    annualized_return,
    max_drawdown,
    ratio,
    sharpe_ratio,
    sortino_ratio,
)
from mmts.execution.portfolio import Portfolio


def equity_metrics(
    times: np.ndarray, equity: np.ndarray, start_equity: float
) -> dict[str, float | None]:
    """Total and annual return, Sharpe, Sortino, max drawdown and Calmar of an equity curve.

    ``equity[i]`` is the value at ``times[i]`` (int64 ns, evenly spaced decisions); the first
    period's return is measured from ``start_equity``. Annualisation uses the median step.
    """
    equity = np.asarray(equity, np.float64)
    times = np.asarray(times, np.int64)
    if equity.shape != times.shape:
        raise ValueError(f"times and equity must align; shapes {times.shape} and {equity.shape}")
    if equity.size == 0:
        raise ValueError("an equity curve needs at least one value")
    curve = np.concatenate([[start_equity], equity])
    returns = curve[1:] / curve[:-1] - 1.0
    total = float(equity[-1] / start_equity - 1.0)
    step = float(np.median(np.diff(times))) if times.size > 1 else float("nan")
    per_year = YEAR_NS / step if np.isfinite(step) and step > 0 else float("nan")
    days = float(equity.size * step / 86_400e9) if np.isfinite(step) else 0.0
    drawdown = max_drawdown(curve)
    annual = annualized_return(total, days / 365.0) if days >= MIN_ANNUALISED_DAYS else None
    return {
        "total_return": total,
        "annual_return": annual,
        "sharpe": sharpe_ratio(returns, per_year) if np.isfinite(per_year) else None,
        "sortino": sortino_ratio(returns, per_year) if np.isfinite(per_year) else None,
        "max_drawdown": drawdown,
        "calmar": ratio(annual, drawdown) if annual is not None else None,
        "days": days,
    }


#: The columns of :func:`closed_trades`.
TRADE_COLUMNS = ("entry_time", "exit_time", "side", "qty", "entry_price", "exit_price", "pnl",
                 "return")  # fmt: skip


def closed_trades(times: np.ndarray, signed_qty: np.ndarray, price: np.ndarray,
                  fee: np.ndarray) -> pd.DataFrame:  # fmt: skip
    """Every trade the fills close, in fill order (see the module docstring for what one is).

    Columns: ``entry_time`` (when the position's side opened) and ``exit_time`` (the closing
    fill, int ns), ``side`` (+1 long, -1 short), ``qty`` closed, ``entry_price`` (the average
    entry), ``exit_price``, ``pnl`` (net of its share of entry and exit fees) and ``return``
    (``pnl`` over the entry notional of ``qty``).
    """
    account = Portfolio()
    open_fees = 0.0  # entry fees of the open position not yet charged to a closed trade
    opened = 0
    rows: list[tuple[int, int, int, float, float, float, float, float]] = []
    for t, qty, px, paid in zip(np.asarray(times, np.int64).tolist(), signed_qty.tolist(),
                                price.tolist(), fee.tolist(), strict=True):  # fmt: skip
        before, entry = account.position, account.average_price
        realized = account.apply_fill(qty, px, paid)
        if before != 0.0 and qty * before < 0:
            closed = min(abs(qty), abs(before))
            entry_share = open_fees * closed / abs(before)
            open_fees -= entry_share
            exit_share = paid * closed / abs(qty)
            pnl = realized - entry_share - exit_share
            rows.append((opened, t, int(np.sign(before)), closed, entry, px, pnl,
                         pnl / (closed * entry)))  # fmt: skip
            if abs(qty) > abs(before):  # the rest of the fill opens the new side
                open_fees = paid - exit_share
                opened = t
            elif account.position == 0.0:
                open_fees = 0.0
        else:
            if before == 0.0:
                opened = t
            open_fees += paid
    return pd.DataFrame(rows, columns=list(TRADE_COLUMNS)).astype(
        {"entry_time": np.int64, "exit_time": np.int64, "side": np.int64, "qty": np.float64}
    )


def closed_trade_pnls(signed_qty: np.ndarray, price: np.ndarray, fee: np.ndarray) -> np.ndarray:
    """Net PnL of every trade the fills close, in fill order (:func:`closed_trades`)."""
    times = np.zeros(np.asarray(signed_qty).shape[0], np.int64)
    return closed_trades(times, signed_qty, price, fee)["pnl"].to_numpy(np.float64)


def trade_metrics(fills: pd.DataFrame, equity: pd.DataFrame, start_equity: float) -> dict[str, Any]:
    """Round trips, win rate, profit factor, turnover, fees, exposure and fill count.

    ``fills`` holds ``signed_qty`` (long positive), ``price`` and ``fee`` in fill order;
    ``equity`` a ``position`` per decision.
    """
    if len(fills):
        qty = fills["signed_qty"].to_numpy(np.float64)
        price = fills["price"].to_numpy(np.float64)
        fee = fills["fee"].to_numpy(np.float64)
    else:
        qty = price = fee = np.zeros(0)
    pnls = closed_trade_pnls(qty, price, fee)
    gains = float(pnls[pnls > 0].sum())
    losses = float(-pnls[pnls < 0].sum())
    return {
        "trades": int(qty.shape[0]),
        "round_trips": int(pnls.shape[0]),
        "win_rate": float((pnls > 0).mean()) if pnls.size else None,
        "profit_factor": ratio(gains, losses) if pnls.size else None,
        "turnover": float(np.abs(qty) @ price) / start_equity,
        "fees": float(fee.sum()),
        "exposure": float((equity["position"].to_numpy() != 0).mean()) if len(equity) else 0.0,
    }
