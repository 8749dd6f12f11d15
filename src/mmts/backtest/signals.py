"""Vectorised-speed backtests of target positions: ``run_signals`` (numba fill loop).

The simplest honest engine: a target position per bar, decided on the bar's close, filled at
the next bar's open (or at the close, for studies that accept that), with a proportional fee
and slippage. Marked to market at every close.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mmts.backtest.signals_nb import signal_fills_nb, sma_cross_targets_nb


@dataclass(frozen=True)
class SignalResult:
    """Fills, per-bar equity and the final PnL of :func:`run_signals`."""

    #: One row per fill: ``time``, ``side`` (+1 buy, -1 sell), ``qty`` (>0), ``price``, ``fee``.
    fills: pd.DataFrame
    #: Per bar after its fills: ``position`` and ``equity`` (cash + position * close, cash
    #: starting at ``initial_cash``), indexed like the bars. With the default ``initial_cash=0``
    #: equity is the running PnL of trading the target units; give the capital behind them to
    #: read it as an equity curve (returns, drawdowns).
    equity: pd.DataFrame
    #: Final equity minus ``initial_cash``: PnL marked at the last close, net of fees.
    pnl: float
    fees: float
    initial_cash: float = 0.0


def _check_bars(bars: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    missing = {"open", "close"} - set(bars.columns)
    if missing:
        raise ValueError(f"bars need columns open and close; missing {sorted(missing)}")
    open_ = np.ascontiguousarray(bars["open"].to_numpy(np.float64))
    close = np.ascontiguousarray(bars["close"].to_numpy(np.float64))
    bad = ~(np.isfinite(open_) & np.isfinite(close)) | (open_ <= 0) | (close <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"bar {i} ({bars.index[i]}) has a non-positive or missing open/close")
    times = bars.index.to_numpy()
    if times.shape[0] > 1 and not (times[1:] > times[:-1]).all():
        i = int(np.flatnonzero(~(times[1:] > times[:-1]))[0]) + 1
        raise ValueError(
            f"bars must be in strictly increasing time order; bar {i} ({bars.index[i]}) is not"
        )
    return open_, close


def run_signals(
    bars: pd.DataFrame,
    target_position: np.ndarray | pd.Series,
    *,
    fee_bps: float = 0.0,
    slippage_bps: float = 0.0,
    fill: str = "next_open",
    initial_cash: float = 0.0,
) -> SignalResult:
    """Backtest target positions (units of the asset; NaN keeps the current one).

    ``target_position[t]`` is decided on bar ``t``'s close; with ``fill="next_open"`` it fills
    at bar ``t + 1``'s open (a target on the last bar never fills), with ``fill="close"`` at bar
    ``t``'s close. Fees are ``fee_bps`` of each fill's notional; buys pay ``slippage_bps`` above
    the price, sells receive that much below. PnL is marked at the last close. ``initial_cash``:
    the money equity starts from (0: equity is the PnL; targets are units, never scaled by it).
    """
    if fill not in ("next_open", "close"):
        raise ValueError(f"fill must be 'next_open' or 'close'; was {fill!r}")
    open_, close = _check_bars(bars)
    target = np.ascontiguousarray(np.asarray(target_position, np.float64))
    if target.shape != close.shape:
        raise ValueError(
            f"target_position has shape {target.shape}; bars have {close.shape[0]} rows"
        )
    if np.isinf(target).any():
        raise ValueError(
            f"target_position is infinite at bar {int(np.flatnonzero(np.isinf(target))[0])}"
        )
    bar, qty, price, fee, position, equity = signal_fills_nb(
        open_, close, target, fee_bps / 1e4, slippage_bps / 1e4, fill == "next_open"
    )
    fills = pd.DataFrame({
        "time": bars.index[bar], "side": np.sign(qty).astype(np.int8), "qty": np.abs(qty),
        "price": price, "fee": fee,
    })  # fmt: skip
    if not np.isfinite(initial_cash):
        raise ValueError(f"initial_cash must be a finite amount; was {initial_cash}")
    frame = pd.DataFrame({"position": position, "equity": initial_cash + equity}, index=bars.index)
    pnl = float(equity[-1]) if equity.shape[0] else 0.0
    return SignalResult(fills, frame, pnl, float(fee.sum()), float(initial_cash))


def sma_cross_targets(close: np.ndarray | pd.Series, fast: int = 20, slow: int = 100) -> np.ndarray:
    """Target +1 from SMA(fast) crossing above SMA(slow), -1 from crossing below (NaN: keep)."""
    if not 1 <= fast < slow:
        raise ValueError(f"need 1 <= fast < slow; were {fast} and {slow}")
    values = np.ascontiguousarray(np.asarray(close, np.float64))
    out: np.ndarray = sma_cross_targets_nb(values, int(fast), int(slow))
    return out


def random_walk_bars(
    n: int, seed: int = 0, start: str = "2024-01-01", freq: str = "1s"
) -> pd.DataFrame:
    """Seeded random-walk OHLC bars (for benchmarks and property tests only, never results)."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-4, n)))
    open_ = np.concatenate([[100.0], close[:-1]]) * np.exp(rng.normal(0.0, 2e-5, n))
    high = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0.0, 5e-5, n)))
    low = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0.0, 5e-5, n)))
    index = pd.date_range(start, periods=n, freq=freq)  # naive UTC: vectorbt is slow on tz-aware
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close,
                         "volume": np.ones(n)}, index=index)  # fmt: skip
