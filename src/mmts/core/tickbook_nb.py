"""A tick-indexed L2 book with per-bucket USD sums, for O(1) updates near the mid.

Levels whose price lies in a window of ``W`` ticks around the mid live in dense arrays indexed
by ``round(price / tick) - base``; levels outside it (deep quotes, often 10-90 % away) live in a
sorted overflow book (``core.book_nb``). For every window level the USD notional
``price * qty`` is accumulated per bucket ``floor(price / width + 0.5)`` with Neumaier's
compensated sum, and a bucket's sum is reset to exactly 0 when its last level leaves, so bucket
sums stay within an ulp or so of the direct sum. When the mid comes within ``guard`` of the
window edge, the window is re-centred (a pure function of the state, so every driver does it at
the same event).

State (arrays, mutated in place; see :func:`new_tickbook`)::

    px, qty    float64[2, W]    # price and quantity per slot; qty 0 = no level
    bsum, bcmp float64[2, NB]   # bucket sums and their compensation
    bcnt       int64[2, NB]     # levels per bucket
    meta       int64[8]         # base, W, best slot bid/ask, bucket base, NB, guard, recentres
    far_keys, far_qtys float64[2, C], far_counts int64[2]   # overflow book (core.book_nb)
"""

from __future__ import annotations

import math

import numpy as np

from mmts.core import book_nb
from mmts.core.jit import njit

M_BASE = 0
M_W = 1
M_BEST_BID = 2
M_BEST_ASK = 3
M_BUCKET_BASE = 4
M_NB = 5
M_GUARD = 6
M_RECENTRES = 7
#: Deepest window slots: the lowest bid (W when none) and the highest ask (-1 when none).
M_LOW_BID = 8
M_HIGH_ASK = 9
META_SIZE = 10

#: Returned by :func:`tb_set_level_nb`.
TB_OK = 0
TB_FULL = 1
TB_OFF_GRID = 2


def new_tickbook(
    tick: float,
    width: float,
    mid: float,
    n_buckets: int,
    *,
    window_fraction: float = 0.02,
    far_capacity: int = 1 << 14,
) -> tuple[np.ndarray, ...]:
    """Allocate a book for prices on a ``tick`` grid, bucketed by ``width`` USD, around ``mid``.

    The window spans +-max(``window_fraction`` of mid, 4 * (n_buckets + 1) buckets); the guard
    keeps every price within ``n_buckets + 1.5`` buckets of the mid inside it.
    """
    half = max(
        math.ceil(window_fraction * mid / tick), math.ceil(4 * (n_buckets + 1) * width / tick)
    )
    w = 2 * half
    guard = math.ceil((n_buckets + 1.5) * width / tick) + 1
    n_bucket = int(w * tick / width) + 4
    px = np.zeros((2, w))  # (2, W)
    qty = np.zeros((2, w))  # (2, W)
    bsum = np.zeros((2, n_bucket))  # (2, NB)
    bcmp = np.zeros((2, n_bucket))  # (2, NB)
    bcnt = np.zeros((2, n_bucket), np.int64)  # (2, NB)
    meta = np.zeros(META_SIZE, np.int64)
    meta[M_W] = w
    meta[M_NB] = n_bucket
    meta[M_GUARD] = guard
    _set_base_nb(meta, round(mid / tick) - half, tick, width)
    far_keys, far_qtys, far_counts = book_nb.new_book(far_capacity)
    return px, qty, bsum, bcmp, bcnt, meta, far_keys, far_qtys, far_counts


@njit(cache=True)
def _set_base_nb(meta, base, tick, width):
    meta[M_BASE] = base
    meta[M_BEST_BID] = -1
    meta[M_BEST_ASK] = meta[M_W]
    meta[M_LOW_BID] = meta[M_W]
    meta[M_HIGH_ASK] = -1
    meta[M_BUCKET_BASE] = math.floor(base * tick / width + 0.5) - 2


@njit(cache=True, inline="always")
def _acc_nb(bsum, bcmp, s, b, x):
    total = bsum[s, b] + x
    if abs(bsum[s, b]) >= abs(x):
        bcmp[s, b] += (bsum[s, b] - total) + x
    else:
        bcmp[s, b] += (x - total) + bsum[s, b]
    bsum[s, b] = total


@njit(cache=True)
def tb_clear_nb(px, qty, bsum, bcmp, bcnt, meta, far_counts):
    """Empty the book (a snapshot follows)."""
    qty[:, :] = 0.0
    bsum[:, :] = 0.0
    bcmp[:, :] = 0.0
    bcnt[:, :] = 0
    far_counts[:] = 0
    meta[M_BEST_BID] = -1
    meta[M_BEST_ASK] = meta[M_W]
    meta[M_LOW_BID] = meta[M_W]
    meta[M_HIGH_ASK] = -1


@njit(cache=True, inline="always")
def _window_set_nb(px, qty, bsum, bcmp, bcnt, meta, s, slot, price, q, width):
    old = qty[s, slot]
    if old == q:
        return
    p = px[s, slot] if old > 0.0 else price
    b = math.floor(p / width + 0.5) - meta[M_BUCKET_BASE]
    if old > 0.0:
        _acc_nb(bsum, bcmp, s, b, -(p * old))
    if q > 0.0:
        _acc_nb(bsum, bcmp, s, b, p * q)
    if old == 0.0:
        bcnt[s, b] += 1
        px[s, slot] = price
    elif q == 0.0:
        bcnt[s, b] -= 1
        if bcnt[s, b] == 0:
            bsum[s, b] = 0.0
            bcmp[s, b] = 0.0
    qty[s, slot] = q
    w = meta[M_W]
    if s == 0:
        if q > 0.0:
            if slot > meta[M_BEST_BID]:
                meta[M_BEST_BID] = slot
            if slot < meta[M_LOW_BID]:
                meta[M_LOW_BID] = slot
        else:
            if slot == meta[M_BEST_BID]:
                j = slot - 1
                while j >= 0 and qty[0, j] == 0.0:
                    j -= 1
                meta[M_BEST_BID] = j
            if slot == meta[M_LOW_BID]:
                j = slot + 1
                while j <= meta[M_BEST_BID] and qty[0, j] == 0.0:
                    j += 1
                meta[M_LOW_BID] = j if meta[M_BEST_BID] >= 0 else w
    else:
        if q > 0.0:
            if slot < meta[M_BEST_ASK]:
                meta[M_BEST_ASK] = slot
            if slot > meta[M_HIGH_ASK]:
                meta[M_HIGH_ASK] = slot
        else:
            if slot == meta[M_BEST_ASK]:
                j = slot + 1
                while j < w and qty[1, j] == 0.0:
                    j += 1
                meta[M_BEST_ASK] = j
            if slot == meta[M_HIGH_ASK]:
                j = slot - 1
                while j >= meta[M_BEST_ASK] and qty[1, j] == 0.0:
                    j -= 1
                meta[M_HIGH_ASK] = j if meta[M_BEST_ASK] < w else -1


@njit(cache=True, inline="always")
def tb_best_nb(px, meta, far_keys, far_counts, s):
    """Best price on side ``s`` (0 bid, 1 ask) over the window and the overflow book; NaN if empty."""
    far = book_nb.book_best_nb(far_keys, far_counts, s)
    if s == 0:
        if meta[M_BEST_BID] < 0:
            return far
        near = px[0, meta[M_BEST_BID]]
        return near if np.isnan(far) or near > far else far
    if meta[M_BEST_ASK] >= meta[M_W]:
        return far
    near = px[1, meta[M_BEST_ASK]]
    return near if np.isnan(far) or near < far else far


@njit(cache=True)
def _recentre_nb(px, qty, bsum, bcmp, bcnt, meta, far_keys, far_qtys, far_counts, tick, width, mid):
    # Gather every level (window and overflow), then re-insert around the new base.
    w = meta[M_W]
    n_window = 0
    for s in range(2):
        for j in range(w):
            if qty[s, j] > 0.0:
                n_window += 1
    n_far = far_counts[0] + far_counts[1]
    sides = np.empty(n_window + n_far, np.int64)  # (n_levels,)
    prices = np.empty(n_window + n_far)
    sizes = np.empty(n_window + n_far)
    k = 0
    for s in range(2):
        for j in range(w):
            if qty[s, j] > 0.0:
                sides[k], prices[k], sizes[k] = s, px[s, j], qty[s, j]
                k += 1
        for j in range(far_counts[s]):
            sides[k] = s
            prices[k] = far_keys[s, j] if s == 0 else -far_keys[s, j]
            sizes[k] = far_qtys[s, j]
            k += 1
    tb_clear_nb(px, qty, bsum, bcmp, bcnt, meta, far_counts)
    _set_base_nb(meta, round(mid / tick) - w // 2, tick, width)
    meta[M_RECENTRES] += 1
    for i in range(k):
        code = _set_nb(px, qty, bsum, bcmp, bcnt, meta, far_keys, far_qtys, far_counts,
                       sides[i], prices[i], sizes[i], tick, width)  # fmt: skip
        if code != TB_OK:
            return code
    return TB_OK


@njit(cache=True, inline="always")
def _set_nb(
    px, qty, bsum, bcmp, bcnt, meta, far_keys, far_qtys, far_counts, s, price, q, tick, width
):
    ticks = price / tick
    t = round(ticks)
    if abs(ticks - t) > 1e-6:
        return TB_OFF_GRID
    slot = t - meta[M_BASE]
    if 0 <= slot < meta[M_W]:
        _window_set_nb(px, qty, bsum, bcmp, bcnt, meta, s, slot, price, q, width)
        return TB_OK
    if not book_nb.book_set_level_nb(far_keys, far_qtys, far_counts, s, price, q):
        return TB_FULL
    return TB_OK


@njit(cache=True, inline="always")
def tb_set_level_nb(px, qty, bsum, bcmp, bcnt, meta, far_keys, far_qtys, far_counts, s, price, q,
                    tick, width):  # fmt: skip
    """Set side ``s`` (0 bid, 1 ask) at ``price`` to ``q`` (0 removes); re-centre if needed.

    Returns ``TB_OK``, ``TB_FULL`` (overflow book full) or ``TB_OFF_GRID`` (price not a multiple
    of ``tick``).
    """
    best_bid, best_ask = meta[M_BEST_BID], meta[M_BEST_ASK]
    slot = round(price / tick) - meta[M_BASE]
    in_window = 0 <= slot < meta[M_W]
    code = _set_nb(
        px, qty, bsum, bcmp, bcnt, meta, far_keys, far_qtys, far_counts, s, price, q, tick, width
    )
    if code != TB_OK:
        return code
    if in_window and best_bid == meta[M_BEST_BID] and best_ask == meta[M_BEST_ASK]:
        return TB_OK  # the top of book did not move: nothing can need re-centring
    bid = tb_best_nb(px, meta, far_keys, far_counts, 0)
    ask = tb_best_nb(px, meta, far_keys, far_counts, 1)
    if np.isnan(bid) or np.isnan(ask):
        return TB_OK
    mid_slot = round((bid + ask) / 2.0 / tick) - meta[M_BASE]
    guard = meta[M_GUARD]
    if mid_slot < guard or mid_slot >= meta[M_W] - guard:
        return _recentre_nb(px, qty, bsum, bcmp, bcnt, meta, far_keys, far_qtys, far_counts,
                            tick, width, (bid + ask) / 2.0)  # fmt: skip
    return TB_OK


@njit(cache=True)
def tb_bucket_sums_nb(px, qty, bsum, bcmp, bcnt, meta, far_keys, far_counts, tick, width, n,
                      out_bid, out_ask):  # fmt: skip
    """Fill ``out_bid``/``out_ask`` (float64[2n+1], offsets ``-n..n`` from the mid's bucket).

    Buckets beyond the deepest known level of their side are NaN. Returns the mid (NaN and NaN
    buckets when a side is empty).
    """
    bid = tb_best_nb(px, meta, far_keys, far_counts, 0)
    ask = tb_best_nb(px, meta, far_keys, far_counts, 1)
    if np.isnan(bid) or np.isnan(ask):
        out_bid[:] = np.nan
        out_ask[:] = np.nan
        return np.nan
    mid = (bid + ask) / 2.0
    centre = math.floor(mid / width + 0.5)
    base_b = meta[M_BUCKET_BASE]
    n_bucket = meta[M_NB]
    for k in range(-n, n + 1):
        b = centre + k - base_b
        if 0 <= b < n_bucket:
            out_bid[k + n] = bsum[0, b] + bcmp[0, b]
            out_ask[k + n] = bsum[1, b] + bcmp[1, b]
        else:
            out_bid[k + n] = 0.0
            out_ask[k + n] = 0.0
    # Deepest known level per side, over the window and the overflow book.
    lowest_bid = far_keys[0, 0] if far_counts[0] > 0 else np.inf
    if meta[M_LOW_BID] < meta[M_W]:
        lowest_bid = min(lowest_bid, px[0, meta[M_LOW_BID]])
    highest_ask = -far_keys[1, 0] if far_counts[1] > 0 else -np.inf
    if meta[M_HIGH_ASK] >= 0:
        highest_ask = max(highest_ask, px[1, meta[M_HIGH_ASK]])
    low_k = math.floor(lowest_bid / width + 0.5) - centre
    high_k = math.floor(highest_ask / width + 0.5) - centre
    for k in range(-n, n + 1):
        if k < low_k:
            out_bid[k + n] = np.nan
        if k > high_k:
            out_ask[k + n] = np.nan
    return mid


# -- the book as one tuple (what the sync and COB kernels pass around) ----------------------------


@njit(cache=True, inline="always")
def tb_set_nb(tb, s, price, q, tick, width):
    """:func:`tb_set_level_nb` on the book tuple returned by :func:`new_tickbook`."""
    px, qty, bsum, bcmp, bcnt, meta, far_keys, far_qtys, far_counts = tb
    return tb_set_level_nb(px, qty, bsum, bcmp, bcnt, meta, far_keys, far_qtys, far_counts, s,
                           price, q, tick, width)  # fmt: skip


@njit(cache=True)
def tb_reset_nb(tb):
    """Empty the book tuple (a snapshot follows)."""
    px, qty, bsum, bcmp, bcnt, meta, _far_keys, _far_qtys, far_counts = tb
    tb_clear_nb(px, qty, bsum, bcmp, bcnt, meta, far_counts)


@njit(cache=True, inline="always")
def tb_is_crossed_nb(tb):
    """Return True when both sides exist and best bid >= best ask."""
    px, _qty, _bsum, _bcmp, _bcnt, meta, far_keys, _far_qtys, far_counts = tb
    bid = tb_best_nb(px, meta, far_keys, far_counts, 0)
    ask = tb_best_nb(px, meta, far_keys, far_counts, 1)
    return not (np.isnan(bid) or np.isnan(ask)) and bid >= ask


@njit(cache=True)
def tb_top_levels_nb(px, qty, meta, far_keys, far_qtys, far_counts, side, depth):
    """Return the best ``depth`` levels of ``side``, best first.

    The window is walked from its best slot, then merged with the overflow book's best levels
    (which may lie on either side of the window).
    """
    w = meta[M_W]
    cap = min(depth, w)
    near_p = np.empty(cap)  # (cap,)
    near_q = np.empty(cap)  # (cap,)
    n = 0
    j = meta[M_BEST_BID] if side == 0 else meta[M_BEST_ASK]
    step = -1 if side == 0 else 1
    while 0 <= j < w and n < cap:
        if qty[side, j] > 0.0:
            near_p[n], near_q[n] = px[side, j], qty[side, j]
            n += 1
        j += step
    # The overflow book is ascending by key with the best level last: its best ``depth`` suffice.
    m_all = far_counts[side]
    m = min(m_all, depth)
    total = n + m
    prices = np.empty(total)  # (total,)
    sizes = np.empty(total)  # (total,)
    prices[:n], sizes[:n] = near_p[:n], near_q[:n]
    for k in range(m):
        key = far_keys[side, m_all - 1 - k]
        prices[n + k] = key if side == 0 else -key
        sizes[n + k] = far_qtys[side, m_all - 1 - k]
    order = np.argsort(-prices if side == 0 else prices, kind="mergesort")[:depth]
    return prices[order], sizes[order]


def tb_levels(tb: tuple[np.ndarray, ...], side: int, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the best ``depth`` levels of ``side`` (0 bid, 1 ask) as ``(prices, qtys)``.

    Walks the window from its best slot (``depth`` levels at most) instead of scanning it all:
    the paper venue asks for the top levels at every book event while an order works.
    """
    px, qty, _bsum, _bcmp, _bcnt, meta, far_keys, far_qtys, far_counts = tb
    return tb_top_levels_nb(px, qty, meta, far_keys, far_qtys, far_counts, side, depth)  # type: ignore[no-any-return]


def tb_levels_reference(
    tb: tuple[np.ndarray, ...], side: int, depth: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`tb_levels` by scanning the whole window (the oracle of its test)."""
    px, qty, _bsum, _bcmp, _bcnt, _meta, far_keys, far_qtys, far_counts = tb
    near = qty[side] > 0.0
    far_px = far_keys[side, : far_counts[side]]
    prices = np.concatenate([px[side][near], far_px if side == 0 else -far_px])
    sizes = np.concatenate([qty[side][near], far_qtys[side, : far_counts[side]]])
    order = np.argsort(-prices if side == 0 else prices, kind="stable")[:depth]
    return prices[order], sizes[order]
