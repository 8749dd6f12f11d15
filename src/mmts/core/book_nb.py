"""A sorted price-level L2 book in flat arrays.

Each side is a sorted array of *keys* with quantities beside them. The key is ``price`` for
bids and ``-price`` for asks, so both sides are ascending and the best level sits at the end,
where most updates land and insertion shifts the fewest elements.

State (all arrays, mutated in place)::

    keys   float64[2, capacity]   # [side (0 bids, 1 asks), level] ascending keys
    qtys   float64[2, capacity]   # quantities beside the keys
    counts int64[2]               # levels in use per side

It is the overflow book of ``core.tickbook_nb`` (levels far from the mid) and the
reference the tick book is tested against; ``core.sync_nb`` runs Binance's sync rules.
"""

from __future__ import annotations

import numpy as np

from mmts.core.jit import njit

SIDE_BID = 0
SIDE_ASK = 1


def new_book(capacity: int = 1 << 14) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Allocate an empty book state ``(keys, qtys, counts)``."""
    keys = np.empty((2, capacity), np.float64)  # (2, capacity)
    qtys = np.empty((2, capacity), np.float64)  # (2, capacity)
    counts = np.zeros(2, np.int64)  # (2,)
    return keys, qtys, counts


@njit(cache=True, inline="always")
def book_set_level_nb(keys, qtys, counts, side, price, qty):
    """Set the level at ``price`` on ``side`` (0 bid, 1 ask) to ``qty``; 0 removes it.

    Returns False when the side is full (the caller grows the arrays and replays).
    """
    key = price if side == SIDE_BID else -price
    n = counts[side]
    k = keys[side]
    q = qtys[side]
    lo = 0
    hi = n
    while lo < hi:
        mid = (lo + hi) >> 1
        if k[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    found = lo < n and k[lo] == key
    if qty == 0.0:
        if found:
            for j in range(lo, n - 1):
                k[j] = k[j + 1]
                q[j] = q[j + 1]
            counts[side] = n - 1
        return True
    if found:
        q[lo] = qty
        return True
    if n >= k.shape[0]:
        return False
    for j in range(n, lo, -1):
        k[j] = k[j - 1]
        q[j] = q[j - 1]
    k[lo] = key
    q[lo] = qty
    counts[side] = n + 1
    return True


@njit(cache=True, inline="always")
def book_best_nb(keys, counts, side):
    """Return the best price on ``side``, or NaN when the side is empty."""
    n = counts[side]
    if n == 0:
        return np.nan
    key = keys[side, n - 1]
    return key if side == SIDE_BID else -key


@njit(cache=True)
def book_levels_nb(keys, qtys, counts, side, depth):
    """Return the best ``depth`` levels of ``side`` as ``(prices, qtys)``, best first."""
    n = counts[side]
    k = min(depth, n)
    px = np.empty(k, np.float64)  # (k,)
    qt = np.empty(k, np.float64)  # (k,)
    for j in range(k):
        key = keys[side, n - 1 - j]
        px[j] = key if side == SIDE_BID else -key
        qt[j] = qtys[side, n - 1 - j]
    return px, qt
