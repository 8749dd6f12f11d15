"""Replay stored depth rows into a local book (Binance's procedure, see ``core.sync_nb``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmts.core import sync_nb
from mmts.core import tickbook_nb as tbk
from mmts.core.errors import DataIntegrityError
from mmts.core.ticks import book_tick, first_level_price, infer_tick


@dataclass(frozen=True)
class BookReplay:
    """The outcome of replaying depth rows: what was applied, problems, the final book."""

    #: Per row: applied to the book.
    applied: np.ndarray
    #: Per row: when it took effect (the snapshot's time for buffered diffs).
    effective_ts: np.ndarray
    #: ``core.sync_nb.INCIDENT_COLUMNS`` per incident.
    incidents: np.ndarray
    #: The final book (a ``core.tickbook_nb`` tuple) and its price grid.
    book: tuple[np.ndarray, ...]
    tick: float
    #: ``core.sync_nb`` sync state at the end (``STATE_SYNCED``: the final book is valid).
    state: int
    #: The application log: row indices and RESET/SYNCED/INVALIDATE markers, with effective times.
    log_code: np.ndarray
    log_ts: np.ndarray

    @property
    def valid(self) -> bool:
        """Whether the final book is valid."""
        return self.state == sync_nb.STATE_SYNCED

    def levels(self, side: int, depth: int) -> tuple[np.ndarray, np.ndarray]:
        """Return the final book's best ``depth`` levels of ``side`` (0 bid, 1 ask), best first."""
        return tbk.tb_levels(self.book, side, depth)


def sync_book(
    book: np.ndarray, is_futures: bool, stop_ts: int | None = None, *, tick: float | None = None
) -> BookReplay:
    """Run Binance's local-book procedure over ``book_dt`` rows received up to ``stop_ts``.

    ``tick`` is the price grid (from the first snapshot when None; every price if one falls
    off that grid).
    """
    grid = book_tick(book) if tick is None else float(tick)
    far_capacity = 1 << 14
    stop = np.iinfo(np.int64).max if stop_ts is None else int(stop_ts)
    width = 100 * grid  # bucket sums are not used here; any width works
    while True:
        tb = tbk.new_tickbook(grid, width, first_level_price(book), 1, far_capacity=far_capacity)
        applied, effective, incidents, state, code, log_code, log_ts = sync_nb.sync_book_nb(
            book["local_ts"], book["first_id"], book["last_id"], book["prev_id"], book["side"],
            book["price"], book["qty"], book["flags"], is_futures, stop, tb, grid, width,
        )  # fmt: skip
        if code == tbk.TB_OK:
            return BookReplay(applied, effective, incidents, tb, grid, int(state), log_code, log_ts)
        if code == tbk.TB_FULL:
            far_capacity *= 4
        elif tick is None and grid != infer_tick(book["price"][book["side"] != 0]):
            grid = infer_tick(book["price"][book["side"] != 0])
            width = 100 * grid
        else:
            raise DataIntegrityError(f"a depth price is off the {grid:g} price grid")
