"""Replay stored depth rows into a local book (Binance's procedure, see ``core.book_nb``)."""

from __future__ import annotations

import numpy as np

from mmts.core import book_nb


def sync_book(
    book: np.ndarray, is_futures: bool, stop_ts: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
    """Run Binance's local-book procedure over ``book_dt`` rows (see ``core.book_nb``).

    Returns ``(applied, effective_ts, incidents, (keys, qtys, counts, state))``.
    """
    capacity = 1 << 14
    stop = np.iinfo(np.int64).max if stop_ts is None else int(stop_ts)
    while True:
        keys, qtys, counts = book_nb.new_book(capacity)
        applied, effective, incidents, state, full = book_nb.sync_book_nb(
            book["local_ts"], book["first_id"], book["last_id"], book["prev_id"], book["side"],
            book["price"], book["qty"], book["flags"], is_futures, stop, keys, qtys, counts,
        )  # fmt: skip
        if not full:
            return applied, effective, incidents, (keys, qtys, counts, int(state))
        capacity *= 4
