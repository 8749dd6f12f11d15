"""The market-data store researchers open: partitioned Parquet I/O plus the reads they expect.

:class:`Store` is a :class:`~mmts.data.partitions.PartitionStore` (the files, locking, atomic
idempotent writes, a cached stream index) with the views of ``mmts.data.views`` (bars, stored
or derived; trades; best bid/ask; gaps; ``info``), the book of ``mmts.data.book_replay`` and the
feature tables of ``mmts.data.feature_tables`` as methods. Each method's documentation is
the function's.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from mmts.config import DEFAULT_BOOK_STALE_S
from mmts.core.time import to_ns
from mmts.data import book_replay, feature_tables, views
from mmts.data.book_replay import BookReplay
from mmts.data.partitions import PartitionStore


class Store(PartitionStore):
    """A market-data store rooted at a folder (layout: ``mmts.data.partitions``)."""

    def bars(self, symbol: str, timeframe: str, start: object = None, end: object = None, *,
             exchange: str | None = None, with_trades: bool = False) -> pd.DataFrame:  # fmt: skip
        """Return OHLCV bars with open time in ``[start, end)``, stored or derived."""
        return views.bars_frame(self, symbol, timeframe, start, end, exchange=exchange,
                                with_trades=with_trades)  # fmt: skip

    def bar_source(
        self, symbol: str, timeframe: str, exchange: str | None = None
    ) -> tuple[str, str]:
        """Return ``(exchange, stored timeframe)`` that serves ``timeframe`` bars."""
        return views.bar_source(self, symbol, timeframe, exchange)

    def bar_records(self, symbol: str, timeframe: str, start: object = None, end: object = None,
                    *, exchange: str | None = None) -> np.ndarray:  # fmt: skip
        """Return ``bar_dt`` records of :meth:`bars`."""
        return views.bar_records(self, symbol, timeframe, start, end, exchange=exchange)

    def trades(
        self, symbol: str, start: object = None, end: object = None, *, exchange: str | None = None
    ) -> pd.DataFrame:
        """Return trades with exchange time in ``[start, end)``, in receive order."""
        return views.trades_frame(self, symbol, start, end, exchange=exchange)

    def bbo(
        self, symbol: str, start: object = None, end: object = None, *, exchange: str | None = None
    ) -> pd.DataFrame:
        """Return best bid/ask updates with receive time in ``[start, end)``."""
        return views.bbo_frame(self, symbol, start, end, exchange=exchange)

    def gaps(self, symbol: str, *, exchange: str | None = None) -> pd.DataFrame:
        """Return the book's update-id gaps."""
        return views.gaps_frame(self, symbol, exchange=exchange)

    def info(self) -> list[dict[str, object]]:
        """Describe every stored series."""
        return views.info(self)

    def book_events(self, symbol: str, start: object = None, end: object = None, *,
                    exchange: str | None = None, fields: tuple[str, ...] | None = None,
                    ) -> np.ndarray:  # fmt: skip
        """Return stored depth rows (``book_dt``) with receive time in ``[start, end)``.

        ``fields``: only these columns (``core.schema.REPLAY_FIELDS`` for a replay).
        """
        ex = self.resolve_exchange(symbol, "book", exchange)
        return self.read(ex, symbol, "book", to_ns(start), to_ns(end), fields=fields)

    def book(self, symbol: str, at: object, depth: int = 20, *, exchange: str | None = None,
             stale_after_s: float | None = DEFAULT_BOOK_STALE_S,
             ) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
        """Return the L2 book after every event received at or before ``at``."""
        return book_replay.book_at(self, symbol, at, depth, exchange=exchange,
                                   stale_after_s=stale_after_s)  # fmt: skip

    def book_replay(
        self, symbol: str, end: object = None, *, exchange: str | None = None
    ) -> tuple[BookReplay, np.ndarray]:
        """Replay the stored book of ``symbol`` received before ``end``."""
        return book_replay.replay_stored_book(self, symbol, end, exchange=exchange)

    def write_frame(self, exchange: str, symbol: str, kind: str, frame: pd.DataFrame) -> int:
        """Store a derived table (``kind`` starting with ``features_``)."""
        return feature_tables.write_frame(self, exchange, symbol, kind, frame)

    def read_frame(self, exchange: str, symbol: str, kind: str, start: object = None,
                   end: object = None) -> pd.DataFrame:  # fmt: skip
        """Read a derived table written by :meth:`write_frame`."""
        return feature_tables.read_frame(self, exchange, symbol, kind, start, end)


# One documentation per rule: each facade method shows its function's docstring.
for _method, _function in (
    (Store.bars, views.bars_frame), (Store.bar_source, views.bar_source),
    (Store.bar_records, views.bar_records), (Store.trades, views.trades_frame),
    (Store.bbo, views.bbo_frame), (Store.gaps, views.gaps_frame), (Store.info, views.info),
    (Store.book, book_replay.book_at), (Store.book_replay, book_replay.replay_stored_book),
    (Store.write_frame, feature_tables.write_frame), (Store.read_frame, feature_tables.read_frame),
):  # fmt: skip
    _method.__doc__ = _function.__doc__


def open_store(root: str | os.PathLike[str] = "data", *, must_exist: bool = False) -> Store:
    """Open (or create on first write) the store at ``root``.

    ``must_exist``: a folder that is not there is an error (``FileNotFoundError``) instead of
    an empty store, for every reader: a typo in a path must not look like "no data".

    Examples
    --------
    >>> store = open_store("data")
    >>> store.root.name
    'data'
    """
    if must_exist and not Path(root).is_dir():
        raise FileNotFoundError(
            f"store {os.fspath(root)!r} does not exist (no such folder); import data into it "
            "first with `mmts data import PATH --store FOLDER`"
        )
    return Store(root)
