"""Synthetic market data for property tests only (real data is in data/ and ../shared/data).

``book_stream`` is a Hypothesis strategy for spot depth streams that follow Binance's rules: a
REST snapshot followed by diffs with consecutive update ids, receive times increasing.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from mmts.core.enums import FLAG_SNAPSHOT
from mmts.core.schema import NO_ID, book_dt

T0_NS = 1_723_161_600_000_000_000  # 2024-08-09 00:00:00 UTC


def depth_message(
    ts: int,
    first: int,
    last: int,
    levels: list[tuple[int, float, float]],
    *,
    snapshot: bool = False,
    prev: int = NO_ID,
) -> np.ndarray:
    """Return the ``book_dt`` rows of one depth message: ``levels`` are ``(side, price, qty)``.

    An empty message keeps one placeholder row (side 0), as the importer stores it.
    """
    rows = np.zeros(max(len(levels), 1), book_dt)
    rows["local_ts"] = ts
    rows["exch_ts"] = ts
    rows["first_id"] = first
    rows["last_id"] = last
    rows["prev_id"] = prev
    rows["flags"] = FLAG_SNAPSHOT if snapshot else 0
    for i, (side, price, qty) in enumerate(levels):
        rows["side"][i], rows["price"][i], rows["qty"][i] = side, price, qty
    return rows


@st.composite
def book_stream(
    draw: st.DrawFn, *, max_messages: int = 60, mid: float = 2500.0, tick: float = 0.01
) -> np.ndarray:
    """Draw ``book_dt`` rows: one snapshot, then diffs around a fixed mid (never crossing)."""
    depth = draw(st.integers(3, 40))
    qty = st.floats(0.001, 50.0, allow_nan=False).map(lambda q: round(q, 3))
    snapshot = [(1, round(mid - tick * (i + 1) * 7, 2), draw(qty)) for i in range(depth)]
    snapshot += [(-1, round(mid + tick * (i + 1) * 7, 2), draw(qty)) for i in range(depth)]
    last_id = 1000
    ts = T0_NS + draw(st.integers(0, 2_000_000_000))
    parts = [depth_message(ts, last_id, last_id, snapshot, snapshot=True)]
    for _ in range(draw(st.integers(0, max_messages))):
        ts += draw(st.integers(1_000_000, 700_000_000))
        n_levels = draw(st.integers(0, 6))
        levels = []
        for _ in range(n_levels):
            side = draw(st.sampled_from([1, -1]))
            offset = draw(st.integers(1, 3000))  # up to $30 away from mid
            price = round(mid - side * tick * offset, 2)
            levels.append((side, price, draw(st.one_of(st.just(0.0), qty))))
        first = last_id + 1
        last_id = first + draw(st.integers(0, 3))
        parts.append(depth_message(ts, first, last_id, levels))
    return np.concatenate(parts)


def day_of_depth(
    seed: int = 0,
    *,
    seconds: int = 86_400,
    interval_ms: int = 100,
    levels_per_message: int = 20,
    mid: float = 2500.0,
    tick: float = 0.01,
) -> np.ndarray:
    """Return a long synthetic spot depth stream (for scale benchmarks, not for results).

    One snapshot of 1000 levels a side, then a diff every ``interval_ms`` with
    ``levels_per_message`` updates within 15 USD of a fixed mid (so the book never crosses),
    consecutive update ids.
    """
    rng = np.random.default_rng(seed)
    n_msg = seconds * 1000 // interval_ms
    depth = 1000
    snap = np.zeros(2 * depth, book_dt)
    snap["side"] = np.repeat([1, -1], depth)
    offsets = np.concatenate([np.arange(1, depth + 1), np.arange(1, depth + 1)])
    snap["price"] = np.round(mid - snap["side"] * offsets * tick * 3, 2)
    snap["qty"] = np.round(rng.uniform(0.01, 20, 2 * depth), 3)
    snap["first_id"] = snap["last_id"] = 1000
    snap["flags"] = FLAG_SNAPSHOT
    snap["local_ts"] = snap["exch_ts"] = T0_NS
    snap["prev_id"] = NO_ID
    walk = np.full(n_msg, mid)  # (n_msg,) a fixed mid keeps both sides apart
    rows = np.zeros(n_msg * levels_per_message, book_dt)
    msg = np.repeat(np.arange(n_msg), levels_per_message)
    rows["local_ts"] = T0_NS + (msg + 1) * interval_ms * 1_000_000
    rows["exch_ts"] = rows["local_ts"]
    rows["first_id"] = rows["last_id"] = 1001 + msg
    rows["prev_id"] = NO_ID
    side = rng.choice(np.array([1, -1], np.int8), rows.shape[0])
    offset = rng.integers(1, 1500, rows.shape[0])
    rows["side"] = side
    rows["price"] = np.round(np.round(walk[msg] / tick) * tick - side * offset * tick, 2)
    qty = np.round(rng.uniform(0.001, 20, rows.shape[0]), 3)
    rows["qty"] = np.where(rng.random(rows.shape[0]) < 0.35, 0.0, qty)
    # One update per price per message: drop duplicates inside a message.
    key = rows["last_id"].astype(np.float64) * 1e7 + rows["price"] * 100 * rows["side"]
    _, first = np.unique(key, return_index=True)
    return np.concatenate([snap, rows[np.sort(first)]])
