"""The fill loop of ``run_signals``: target positions in, fills and equity out (numba)."""

from __future__ import annotations

import numpy as np

from mmts.core.jit import njit

#: Bars between exact re-summations of the running SMA windows.
REANCHOR = 4096


@njit(cache=True)
def signal_fills_nb(open_, close, target, fee_rate, slippage_rate, fill_next_open):
    """Trade to ``target[t]`` (NaN: keep) decided at bar ``t``'s close.

    With ``fill_next_open`` the order fills at bar ``t + 1``'s open (a signal on the last bar
    never fills); otherwise at bar ``t``'s close. Buys pay ``price * (1 + slippage_rate)``,
    sells get ``price * (1 - slippage_rate)``; the fee is ``fee_rate`` of the fill's notional.

    Returns ``(fill_bar, fill_qty, fill_price, fill_fee, position, equity)``: fills (signed
    quantity, positive buys) and, per bar after its fills, the position and the equity
    ``cash + position * close`` (cash starts at 0).
    """
    n = close.shape[0]
    cap = 0  # every fill needs a target: their count bounds the fills (no growth in the loop)
    for t in range(n):
        if not np.isnan(target[t]):
            cap += 1
    fill_bar = np.empty(cap, np.int64)
    fill_qty = np.empty(cap)
    fill_price = np.empty(cap)
    fill_fee = np.empty(cap)
    position = np.empty(n)
    equity = np.empty(n)
    n_fills = 0
    pos = 0.0
    money = 0.0
    pending = 0.0
    has_pending = False  # a target waiting for the next open
    for t in range(n):
        want = target[t]
        qty = 0.0
        px = 0.0
        if fill_next_open:
            if has_pending:
                qty = pending - pos
                px = open_[t]
            has_pending = not np.isnan(want)
            pending = want
        elif not np.isnan(want):
            qty = want - pos
            px = close[t]
        if qty != 0.0:
            paid = px * (1.0 + slippage_rate) if qty > 0 else px * (1.0 - slippage_rate)
            fee = abs(qty) * paid * fee_rate
            money -= qty * paid + fee
            pos += qty
            fill_bar[n_fills] = t
            fill_qty[n_fills] = qty
            fill_price[n_fills] = paid
            fill_fee[n_fills] = fee
            n_fills += 1
        position[t] = pos
        equity[t] = money + pos * close[t]
    return (fill_bar[:n_fills], fill_qty[:n_fills], fill_price[:n_fills], fill_fee[:n_fills],
            position, equity)  # fmt: skip


@njit(cache=True)
def sma_cross_targets_nb(close, fast, slow):
    """Return +1 where SMA(fast) crosses above SMA(slow), -1 where it crosses below, else NaN.

    NaN means "keep the position". SMAs are of closes up to and including bar ``t``, as running
    sums re-summed exactly every ``REANCHOR`` bars (no drift over millions of bars).
    """
    n = close.shape[0]
    out = np.full(n, np.nan)
    sum_f = 0.0
    sum_s = 0.0
    prev_diff = np.nan
    for t in range(n):
        if t % REANCHOR == 0 and t >= slow:
            # Re-sum the windows exactly now and then: running sums drift by an ulp per step.
            sum_f = 0.0
            for j in range(t - fast, t):
                sum_f += close[j]
            sum_s = 0.0
            for j in range(t - slow, t):
                sum_s += close[j]
        sum_f += close[t]
        sum_s += close[t]
        if t >= fast:
            sum_f -= close[t - fast]
        if t >= slow:
            sum_s -= close[t - slow]
        if t < slow - 1:
            continue
        diff = sum_f / fast - sum_s / slow
        if not np.isnan(prev_diff):
            if prev_diff <= 0.0 < diff:
                out[t] = 1.0
            elif prev_diff >= 0.0 > diff:
                out[t] = -1.0
        prev_diff = diff
    return out
