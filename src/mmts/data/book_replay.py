"""Replay stored depth rows into a local book (Binance's procedure, see ``core.sync_nb``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mmts.config import DEFAULT_BOOK_STALE_S
from mmts.core import sync_nb
from mmts.core import tickbook_nb as tbk
from mmts.core.enums import FLAG_SNAPSHOT
from mmts.core.errors import DataIntegrityError
from mmts.core.schema import REPLAY_FIELDS
from mmts.core.symbols import market_of
from mmts.core.ticks import book_tick, first_level_price, infer_tick
from mmts.core.time import iso, to_ns
from mmts.core.timeframes import NS_PER_SECOND
from mmts.data.partitions import PartitionStore


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


def book_at(
    store: PartitionStore,
    symbol: str,
    at: object,
    depth: int = 20,
    *,
    exchange: str | None = None,
    stale_after_s: float | None = DEFAULT_BOOK_STALE_S,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the L2 book after every event received at or before ``at``.

    The COB's staleness rule applies: a book whose last event is more than
    ``stale_after_s`` before ``at`` (past the end of the recording, or in an outage) is
    not the book at ``at``, and asking for it is a ``DataIntegrityError`` naming when the
    book was last known (``stale_after_s=None``: return it anyway).

    The book is rebuilt from the stored diffs and snapshots with Binance's local-book
    procedure. Raises ``DataIntegrityError`` when the book is not valid at ``at`` (before the
    first snapshot, or after an update-id gap that no snapshot has repaired yet).

    Returns
    -------
    (bids, asks) : DataFrames with columns ``price`` and ``qty``, best level first.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1; was {depth}")
    at_ns = to_ns(at)
    if at_ns is None:
        raise ValueError("at must be a time, was None")
    ex = store.resolve_exchange(symbol, "book", exchange)
    rows = store.read(ex, symbol, "book", None, at_ns + 1, fields=REPLAY_FIELDS)
    if stale_after_s is not None and rows.shape[0]:
        last = int(rows["local_ts"][-1])
        if at_ns - last > stale_after_s * NS_PER_SECOND:
            raise DataIntegrityError(
                f"{symbol} book is stale at {iso(at_ns)}: its last event was received at "
                f"{iso(last)}, {(at_ns - last) / NS_PER_SECOND:.0f} s before (books go stale "
                f"after {stale_after_s:g} s without an event; pass stale_after_s=None to "
                "get it anyway)"
            )
    replay = sync_book(rows, market_of(symbol) != "spot", at_ns)
    incidents = replay.incidents
    if not replay.valid:
        when = iso(at_ns)
        if rows.shape[0] == 0 or not np.any(rows["flags"] & FLAG_SNAPSHOT):
            reason = "no snapshot was received at or before it"
        elif incidents.shape[0]:
            last = incidents[-1]
            when_broken = iso(int(last[4]))
            if last[1] == sync_nb.INCIDENT_CROSSED:
                what = f"the book came out crossed after update {last[3]} at {when_broken}"
            else:
                what = (
                    f"update-id continuity broke at {when_broken} (expected {last[2]}, "
                    f"found {last[3]})"
                )
            reason = f"{what} and no snapshot has repaired it yet"
        else:
            reason = "the snapshot has not been bridged by a diff yet"
        raise DataIntegrityError(f"{symbol} book is not valid at {when}: {reason}")
    sides = []
    for side in (0, 1):
        px, qty = replay.levels(side, depth)
        sides.append(pd.DataFrame({"price": px, "qty": qty}))
    return sides[0], sides[1]


def replay_stored_book(
    store: PartitionStore, symbol: str, end: object = None, *, exchange: str | None = None
) -> tuple[BookReplay, np.ndarray]:
    """Replay the stored book of ``symbol`` received before ``end``; return it and the rows.

    The replay's application log lets feature builders rebuild the book in step with it.
    """
    ex = store.resolve_exchange(symbol, "book", exchange)
    rows = store.read(ex, symbol, "book", None, to_ns(end), fields=REPLAY_FIELDS)
    return sync_book(rows, market_of(symbol) != "spot"), rows
