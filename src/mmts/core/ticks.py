"""The price grid (tick) of a market, inferred from prices seen."""

from __future__ import annotations

import numpy as np

from mmts.core.enums import FLAG_SNAPSHOT


def infer_tick(prices: np.ndarray) -> float:
    """Return the largest price grid step (a multiple of 1e-8) that every price lies on.

    Examples
    --------
    >>> infer_tick(np.array([2683.8, 2683.81, 2690.0]))
    0.01
    """
    prices = prices[np.isfinite(prices) & (prices > 0)]
    if prices.shape[0] == 0:
        return 1e-8
    units = np.round(prices * 1e8).astype(np.int64)
    step = int(np.gcd.reduce(units))
    return max(step, 1) / 1e8


def book_tick(rows: np.ndarray) -> float:
    """Return the tick of stored depth rows (``core.schema.book_dt``), from their first snapshot.

    A snapshot holds hundreds of levels, enough to pin the grid; looking no further keeps the
    grid a function of the past. Rows without a snapshot use the first 4,096 level rows.
    Callers replay with ``infer_tick`` over every price if a later price falls off this grid.
    """
    is_snapshot = (rows["flags"] & FLAG_SNAPSHOT) != 0
    if is_snapshot.any():
        r0 = int(np.argmax(is_snapshot))
        head = rows[r0 : r0 + 20_000]
        first = head[is_snapshot[r0 : r0 + 20_000] & (head["local_ts"] == head["local_ts"][0])]
    else:
        first = rows[:4096]
    return infer_tick(first["price"][first["side"] != 0])


def first_level_price(rows: np.ndarray) -> float:
    """Price of the first level the book replay applies (the first snapshot's first level).

    Tick books are sized and centred on it, so every driver re-centres at the same events;
    1.0 when there is no level at all.
    """
    is_snapshot = (rows["flags"] & FLAG_SNAPSHOT) != 0
    start = int(np.argmax(is_snapshot)) if is_snapshot.any() else 0
    sides = rows["side"][start:]
    return float(rows["price"][start + int(np.argmax(sides != 0))]) if sides.any() else 1.0
