"""Replay stored depth rows into a local book (Binance's procedure, see ``core.book_nb``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmts.core import book_nb


@dataclass(frozen=True)
class BookReplay:
    """The outcome of replaying depth rows: what was applied, problems, the final book."""

    #: Per row: applied to the book.
    applied: np.ndarray
    #: Per row: when it took effect (the snapshot's time for buffered diffs).
    effective_ts: np.ndarray
    #: ``[row, kind, expected_id, found_id, local_ts, resync_ts]`` per incident.
    incidents: np.ndarray
    #: The final book state (see ``core.book_nb``).
    keys: np.ndarray
    qtys: np.ndarray
    counts: np.ndarray
    #: ``core.book_nb`` sync state at the end (``STATE_SYNCED``: the final book is valid).
    state: int
    #: The application log: row indices and RESET/INVALIDATE markers, with effective times.
    log_code: np.ndarray
    log_ts: np.ndarray

    @property
    def valid(self) -> bool:
        """Whether the final book is valid."""
        return self.state == book_nb.STATE_SYNCED


def sync_book(book: np.ndarray, is_futures: bool, stop_ts: int | None = None) -> BookReplay:
    """Run Binance's local-book procedure over ``book_dt`` rows received up to ``stop_ts``."""
    capacity = 1 << 14
    stop = np.iinfo(np.int64).max if stop_ts is None else int(stop_ts)
    while True:
        keys, qtys, counts = book_nb.new_book(capacity)
        applied, effective, incidents, state, full, log_code, log_ts = book_nb.sync_book_nb(
            book["local_ts"], book["first_id"], book["last_id"], book["prev_id"], book["side"],
            book["price"], book["qty"], book["flags"], is_futures, stop, keys, qtys, counts,
        )  # fmt: skip
        if not full:
            return BookReplay(
                applied, effective, incidents, keys, qtys, counts, int(state), log_code, log_ts
            )
        capacity *= 4
