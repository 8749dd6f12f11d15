"""Binance's local-book procedure fed one depth message at a time (live), as in replay.

:class:`BookSyncStream` keeps the rows it may still need (diffs waiting for a snapshot) and runs
``core.sync_nb.sync_message_nb`` — the one implementation replay uses — on each message. It
returns the application-log entries that message produced (``core.events.BookEvent``), which is what the feature step
driver consumes, so a live feed and a replayed store drive the same code with the same entries.
"""

from __future__ import annotations

import numpy as np

from mmts.core import sync_nb
from mmts.core import tickbook_nb as tbk
from mmts.core.enums import FLAG_SNAPSHOT
from mmts.core.errors import DataIntegrityError
from mmts.core.events import BookEvent
from mmts.core.schema import book_dt
from mmts.core.ticks import infer_tick


class BookSyncStream:
    """Sync a book from depth messages pushed in arrival order.

    Parameters
    ----------
    is_futures : futures id continuity (``pu``) instead of spot (``U``).
    tick : the price grid; inferred from the first snapshot when None.
    keep_messages : applied messages kept while synced, for a snapshot that must be bridged by
        diffs received before it (see :meth:`_compact`).
    """

    def __init__(
        self, is_futures: bool, tick: float | None = None, keep_messages: int = 10_000
    ) -> None:
        self.is_futures = bool(is_futures)
        self.keep_messages = int(keep_messages)
        self.tick = tick
        self.rows = np.zeros(1024, book_dt)
        self.n_rows = 0
        self._starts = np.zeros(1024, np.int64)  # first row of each kept message
        self.n_messages = 0
        self.status = sync_nb.new_sync_status()
        self.book: tuple[np.ndarray, ...] | None = None
        self._incidents = np.zeros((16, 6), np.int64)
        self.rows_seen = 0  # rows pushed so far (incident rows count from here)
        self.last_ts = np.iinfo(np.int64).min

    @property
    def incidents(self) -> np.ndarray:
        """``core.sync_nb.INCIDENT_COLUMNS`` per incident; rows count every row pushed."""
        return self._incidents[: int(self.status[sync_nb.SY_N_INCIDENTS])]

    @property
    def valid(self) -> bool:
        """Whether the book is synced (decisions may use it)."""
        return int(self.status[sync_nb.SY_STATE]) == sync_nb.STATE_SYNCED

    def push(self, message: np.ndarray) -> list[BookEvent]:
        """Apply one depth message (``book_dt`` rows sharing ids and time); return its log entries."""
        message = np.asarray(message, book_dt)
        if message.shape[0] == 0:
            return []
        if message["local_ts"][0] < self.last_ts:
            raise ValueError(
                f"depth messages must arrive in time order: {int(message['local_ts'][0])} after "
                f"{self.last_ts}"
            )
        self.last_ts = int(message["local_ts"][0])
        if self.book is None:
            if not message["flags"][0] & FLAG_SNAPSHOT:
                self._append(message)  # a diff before any snapshot: kept for the bridge
                self._compact_unsynced()
                return []
            levels = message[message["side"] != 0]
            grid = self.tick or infer_tick(levels["price"])
            self.tick = grid
            self.book = tbk.new_tickbook(
                grid, 100 * grid, float(levels["price"][0]) if levels.shape[0] else 1.0, 1
            )
        self._append(message)
        m = self.n_messages - 1
        bounds = np.empty(m + 2, np.int64)
        bounds[: m + 1] = self._starts[: m + 1]
        bounds[m + 1] = self.n_rows
        rows = self.rows[: self.n_rows]
        n_inc = int(self.status[sync_nb.SY_N_INCIDENTS])
        if n_inc == self._incidents.shape[0]:
            self._incidents = np.concatenate([self._incidents, np.zeros_like(self._incidents)])
        capacity = self.n_rows + 3 * (m + 1) + 1
        log_code = np.empty(capacity, np.int64)
        log_ts = np.empty(capacity, np.int64)
        self.status[sync_nb.SY_N_LOG] = 0
        grid = float(self.tick or 0.0)
        no_rows = np.empty(0, np.bool_)
        no_ts = np.empty(0, np.int64)
        code = sync_nb.sync_message_nb(
            m, bounds, rows["local_ts"], rows["first_id"], rows["last_id"], rows["prev_id"],
            rows["side"], rows["price"], rows["qty"], rows["flags"], self.is_futures, self.book,
            grid, 100 * grid, self.status, no_rows, no_ts, self._incidents, log_code, log_ts,
        )  # fmt: skip
        if code == tbk.TB_OFF_GRID:
            raise DataIntegrityError(
                f"a depth price is off the {grid:g} grid at {int(message['local_ts'][0])}"
            )
        if code == tbk.TB_FULL:
            raise OverflowError("the book's overflow levels are full")
        n_log = int(self.status[sync_nb.SY_N_LOG])
        entries = self._entries(log_code[:n_log], log_ts[:n_log], rows)
        if (
            int(self.status[sync_nb.SY_N_INCIDENTS]) > n_inc
        ):  # row index: counted over all rows pushed
            self._incidents[n_inc, 0] += self.rows_seen - self.n_rows
        self._compact()
        return entries

    def invalidate(self, time: int) -> list[BookEvent]:
        """Mark the book out of sync at ``time`` (the connection dropped: diffs may be missing).

        The next snapshot, bridged by the diffs after it, syncs it again, exactly as after an
        update-id gap.
        """
        if int(self.status[sync_nb.SY_STATE]) == sync_nb.STATE_UNSYNCED:
            return []  # already waiting for a snapshot (its diffs may be held with older stamps)
        time = max(int(time), self.last_ts)
        self.last_ts = time
        self.status[sync_nb.SY_STATE] = sync_nb.STATE_UNSYNCED
        self.status[sync_nb.SY_BUFFER_FROM] = self.n_messages  # nothing before can bridge
        self._compact()
        return [BookEvent(time=time, code=sync_nb.LOG_INVALIDATE)]

    @staticmethod
    def _entries(codes: np.ndarray, times: np.ndarray, rows: np.ndarray) -> list[BookEvent]:
        """Log entries as events (built from whole columns: this runs for every message)."""
        at = np.maximum(codes, 0)
        marker = codes < 0
        sides = np.where(marker, 0, rows["side"][at]).tolist()
        prices = np.where(marker, 0.0, rows["price"][at]).tolist()
        qtys = np.where(marker, 0.0, rows["qty"][at]).tolist()
        return list(map(BookEvent, times.tolist(), codes.tolist(), sides, prices, qtys))

    def _append(self, message: np.ndarray) -> None:
        need = self.n_rows + message.shape[0]
        if need > self.rows.shape[0]:
            grown = np.zeros(max(need, 2 * self.rows.shape[0]), book_dt)
            grown[: self.n_rows] = self.rows[: self.n_rows]
            self.rows = grown
        if self.n_messages == self._starts.shape[0]:
            self._starts = np.concatenate([self._starts, np.zeros_like(self._starts)])
        self._starts[self.n_messages] = self.n_rows
        self.n_messages += 1
        self.rows[self.n_rows : need] = message
        self.n_rows = need
        self.rows_seen += message.shape[0]

    def _drop_before(self, first_message: int) -> None:
        if first_message <= 0:
            return
        n = self.n_messages
        cut = int(self._starts[first_message]) if first_message < n else self.n_rows
        keep = self.n_rows - cut
        self.rows[:keep] = self.rows[cut : self.n_rows]
        self.n_rows = keep
        left = max(n - first_message, 0)
        self._starts[:left] = self._starts[first_message:n] - cut
        self.n_messages = left
        self.status[sync_nb.SY_BUFFER_FROM] = max(
            int(self.status[sync_nb.SY_BUFFER_FROM]) - first_message, 0
        )

    def _compact(self) -> None:
        """Forget messages the procedure can no longer need.

        Before the first message that may still be replayed after a snapshot, always; while the
        book is synced, also all but the newest ``keep`` (a snapshot's bridging diffs arrive
        within its REST round trip, seconds before it). Replay keeps everything; the two agree
        whenever a snapshot is bridged within ``keep_messages`` messages.
        """
        first = int(self.status[sync_nb.SY_BUFFER_FROM])
        if self.valid and self.n_messages > 2 * self.keep_messages:  # in chunks: O(1) amortised
            first = max(first, self.n_messages - self.keep_messages)
        self._drop_before(min(first, self.n_messages))

    def _compact_unsynced(self, keep: int = 10_000) -> None:
        """Before any snapshot, keep only the newest ``keep`` messages for the bridge."""
        if self.n_messages > 2 * keep:
            self._drop_before(self.n_messages - keep)
