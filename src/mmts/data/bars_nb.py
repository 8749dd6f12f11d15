"""Numba kernels that build OHLCV bars from trades and resample bars.

Bar policy (the same as Binance klines): a bar without trades has volume 0, zero trades and
open = high = low = close = the previous bar's close. Such a bar carries no price information,
so resampling takes open, high and low only from bars with volume > 0.
"""

from __future__ import annotations

import numpy as np

from mmts.core.jit import njit


@njit(cache=True)
def bars_from_trades_nb(ts, price, qty, step, first_bar, last_bar):
    """Aggregate time-sorted trades into every bar from ``first_bar`` to ``last_bar``.

    Parameters
    ----------
    ts : int64[n]
        Trade times (ns), non-decreasing.
    price, qty : float64[n]
    step : int
        Bar length in ns.
    first_bar, last_bar : int
        Open times of the first and last bar to emit (multiples of ``step``). Trades before
        ``first_bar`` only give the close that empty bars repeat; later ones are ignored. Bars
        before any trade have NaN prices.

    Returns
    -------
    ts_out, open, high, low, close, volume, trades : arrays of length n_bars

    Equivalent to ``df.resample(step).agg(first, max, min, last, sum, count)`` with empty bars
    filled by the previous close.
    """
    n_bars = (last_bar - first_bar) // step + 1
    ts_out = first_bar + step * np.arange(n_bars)  # (n_bars,)
    o = np.full(n_bars, np.nan)
    h = np.full(n_bars, np.nan)
    lo = np.full(n_bars, np.nan)
    c = np.full(n_bars, np.nan)
    v = np.zeros(n_bars)
    cnt = np.zeros(n_bars, np.int64)
    previous = np.nan
    for i in range(ts.shape[0]):
        if ts[i] < first_bar:
            previous = price[i]
            continue
        b = (ts[i] - first_bar) // step
        if b >= n_bars:
            break
        p = price[i]
        if cnt[b] == 0:
            o[b] = p
            h[b] = p
            lo[b] = p
        else:
            if p > h[b]:
                h[b] = p
            if p < lo[b]:
                lo[b] = p
        c[b] = p
        v[b] += qty[i]
        cnt[b] += 1
    last_close = previous
    for b in range(n_bars):
        if cnt[b] == 0:
            o[b] = last_close
            h[b] = last_close
            lo[b] = last_close
            c[b] = last_close
        else:
            last_close = c[b]
    return ts_out, o, h, lo, c, v, cnt


@njit(cache=True)
def resample_bars_nb(ts, o, h, lo, c, v, cnt, step):
    """Resample sorted bars to a longer ``step`` (ns).

    Returns ``(ts, open, high, low, close, volume, trades, n_source)`` per output bar, where
    ``n_source`` counts the input bars it was built from (callers drop incomplete bars).
    OHL come from input bars with volume > 0; a bar made only of empty bars keeps their
    carried close. ``trades`` is -1 when any input count is unknown (-1).
    """
    n = ts.shape[0]
    out_ts = np.empty(n, np.int64)  # (n_out <= n,)
    out_o = np.empty(n)
    out_h = np.empty(n)
    out_l = np.empty(n)
    out_c = np.empty(n)
    out_v = np.empty(n)
    out_n = np.empty(n, np.int64)
    out_src = np.empty(n, np.int64)
    k = -1
    current = np.int64(0)
    has_real = False
    for i in range(n):
        bucket = ts[i] - ts[i] % step
        if k < 0 or bucket != current:
            k += 1
            current = bucket
            out_ts[k] = bucket
            out_o[k] = o[i]
            out_h[k] = h[i]
            out_l[k] = lo[i]
            out_v[k] = 0.0
            out_n[k] = 0
            out_src[k] = 0
            has_real = False
        if v[i] > 0:
            if not has_real:
                out_o[k] = o[i]
                out_h[k] = h[i]
                out_l[k] = lo[i]
                has_real = True
            else:
                if h[i] > out_h[k]:
                    out_h[k] = h[i]
                if lo[i] < out_l[k]:
                    out_l[k] = lo[i]
        out_c[k] = c[i]
        out_v[k] += v[i]
        if cnt[i] < 0 or out_n[k] < 0:
            out_n[k] = -1
        else:
            out_n[k] += cnt[i]
        out_src[k] += 1
    m = k + 1
    return out_ts[:m], out_o[:m], out_h[:m], out_l[:m], out_c[:m], out_v[:m], out_n[:m], out_src[:m]
