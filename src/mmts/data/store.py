"""The Parquet market-data store: partitioned, atomic, idempotent.

Layout under the root folder::

    <root>/<exchange>/<symbol, url-quoted>/<kind>/<period>.parquet

``kind`` is ``trades``, ``book``, ``bbo``, ``gaps`` or ``bars_<timeframe>``. ``period`` is a UTC
day (``2024-08-08``) for events and sub-minute bars, a month (``2024-08``) for bars up to an hour
and a year (``2024``) for longer bars, so a read of one symbol, kind and time range opens only
the files it needs. Columns are the fields of the record dtypes in ``mmts.core.schema``.

Every write merges new rows into the existing partition, drops duplicates by the kind's key,
sorts, writes a temporary file beside the store and renames it over the old one
(``os.replace`` is atomic), so a crash leaves either the old or the new partition, never a torn
one, and importing the same data twice stores it once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mmts.config import DEFAULT_BOOK_STALE_S
from mmts.core import sync_nb
from mmts.core.enums import FLAG_SNAPSHOT
from mmts.core.errors import DataIntegrityError, UnknownSymbolError
from mmts.core.files import write_atomically
from mmts.core.schema import EVENT_DTYPES, NO_ID, NO_TS, REPLAY_FIELDS, bar_dt, gap_dt
from mmts.core.symbols import market_of, path_to_symbol, symbol_to_path
from mmts.core.time import iso, to_ns
from mmts.core.timeframes import NS_PER_SECOND, STANDARD_TIMEFRAMES, timeframe_ns
from mmts.data.bars import records_to_frame, resample_records
from mmts.data.book_replay import BookReplay, sync_book

_MINUTE_NS = 60 * NS_PER_SECOND
_HOUR_NS = 3600 * NS_PER_SECOND
_STAGING = ".staging"
_LOCK = ".lock"
#: Store format version, written into every file's metadata.
STORE_VERSION = "1"

#: Gap rows carry the name of the file they were found in.
GAP_SOURCE_FIELD = "source"


def kind_dtype(kind: str) -> np.dtype:
    """Return the record dtype stored for ``kind``."""
    if kind in EVENT_DTYPES:
        return EVENT_DTYPES[kind]
    if kind == "gaps":
        return gap_dt
    if kind.startswith("bars_"):
        timeframe_ns(kind.removeprefix("bars_"))
        return bar_dt
    raise ValueError(
        f"kind must be one of trades, book, bbo, gaps or bars_<timeframe>; was {kind!r}"
    )


def time_field(kind: str) -> str:
    """Return the column a kind is partitioned and sorted on."""
    return "ts" if kind.startswith("bars_") else "local_ts"


def period_unit(kind: str) -> str:
    """Return the numpy datetime unit of a kind's partitions: ``D``, ``M`` or ``Y``."""
    if kind.startswith("bars_"):
        step = timeframe_ns(kind.removeprefix("bars_"))
        if step < _MINUTE_NS:
            return "D"
        return "M" if step <= _HOUR_NS else "Y"
    return "D"


def _period_name(period: np.datetime64) -> str:
    return str(period)


def _period_bounds(name: str, unit: str) -> tuple[int, int]:
    """Return ``[start, end)`` in ns of the partition period called ``name``."""
    start = np.array([name], dtype=f"datetime64[{unit}]")
    bounds = np.concatenate([start, start + 1]).astype("datetime64[ns]").astype(np.int64)
    return int(bounds[0]), int(bounds[1])


def records_to_table(records: np.ndarray) -> pa.Table:
    """Convert a structured array to an Arrow table, one column per field."""
    return pa.table({name: records[name] for name in records.dtype.names or ()})


def table_to_records(table: pa.Table, dtype: np.dtype) -> np.ndarray:
    """Convert an Arrow table back to a structured array of ``dtype``."""
    out = np.empty(table.num_rows, dtype)
    for name in dtype.names or ():
        out[name] = table.column(name).to_numpy()
    return out


@dataclass(frozen=True, slots=True)
class StreamKey:
    """One stored series: an exchange, a unified symbol and a kind."""

    exchange: str
    symbol: str
    kind: str

    @property
    def market(self) -> str:
        """The market (spot, linear, inverse) the symbol trades on."""
        return market_of(self.symbol)


class Store:
    """A market-data store rooted at a folder (see the module docstring for the layout)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # -- paths ---------------------------------------------------------------------------------

    def _kind_dir(self, exchange: str, symbol: str, kind: str) -> Path:
        return self.root / exchange / symbol_to_path(symbol) / kind

    def partitions(self, exchange: str, symbol: str, kind: str) -> list[Path]:
        """Return the partition files of one series, oldest first."""
        folder = self._kind_dir(exchange, symbol, kind)
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if p.suffix == ".parquet")

    def streams(self) -> list[StreamKey]:
        """List every stored series."""
        keys: list[StreamKey] = []
        if not self.root.is_dir():
            return keys
        for ex_dir in sorted(self.root.iterdir()):
            if not ex_dir.is_dir() or ex_dir.name.startswith("."):
                continue
            for sym_dir in sorted(ex_dir.iterdir()):
                if not sym_dir.is_dir():
                    continue
                symbol = path_to_symbol(sym_dir.name)
                keys.extend(
                    StreamKey(ex_dir.name, symbol, kind_dir.name)
                    for kind_dir in sorted(sym_dir.iterdir())
                    if kind_dir.is_dir() and any(kind_dir.glob("*.parquet"))
                )
        return keys

    def exchanges_for(self, symbol: str, kind: str) -> list[str]:
        """Return the exchanges holding ``symbol``/``kind``."""
        return sorted({k.exchange for k in self.streams() if k.symbol == symbol and k.kind == kind})

    def resolve_exchange(self, symbol: str, kind: str, exchange: str | None) -> str:
        """Pick the exchange for a read, or fail naming what the store holds."""
        if exchange is not None:
            if not self.partitions(exchange, symbol, kind):
                raise UnknownSymbolError(
                    f"store {self.root} has no {kind} for {symbol} on {exchange}; "
                    f"it holds {self._holdings(symbol)}"
                )
            return exchange
        found = self.exchanges_for(symbol, kind)
        if not found:
            raise UnknownSymbolError(
                f"store {self.root} has no {kind} for {symbol}; it holds {self._holdings(symbol)}"
            )
        if len(found) > 1:
            raise UnknownSymbolError(
                f"{symbol} {kind} is stored for several exchanges {found}; pass exchange="
            )
        return found[0]

    def _holdings(self, symbol: str) -> str:
        keys = self.streams()
        same = sorted({f"{k.exchange}:{k.kind}" for k in keys if k.symbol == symbol})
        if same:
            return f"for {symbol}: {', '.join(same)}"
        symbols = sorted({k.symbol for k in keys})
        return f"symbols {symbols}" if symbols else "nothing"

    # -- writing -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / _LOCK).open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def write(self, exchange: str, symbol: str, kind: str, records: np.ndarray) -> int:
        """Merge ``records`` into the store; return the number of rows that were new.

        Rows already stored (by the kind's key: bar time for bars, trade id for trades, the
        whole row otherwise) are kept as they are, except bars, where the newer row wins.
        """
        dtype = kind_dtype(kind)
        if records.dtype != dtype:
            raise TypeError(f"{kind} records must have dtype {dtype}; were {records.dtype}")
        market_of(symbol)  # validates the symbol
        if records.shape[0] == 0:
            return 0
        field = time_field(kind)
        unit = period_unit(kind)
        periods = records[field].astype("datetime64[ns]").astype(f"datetime64[{unit}]")
        added = 0
        with self._locked():
            for period in np.unique(periods):
                part = records[periods == period]
                added += self._merge_partition(exchange, symbol, kind, _period_name(period), part)
        return added

    def replace(self, exchange: str, symbol: str, kind: str, records: np.ndarray) -> None:
        """Replace a whole series with ``records`` (used for derived data such as gaps)."""
        dtype = kind_dtype(kind)
        if records.dtype != dtype:
            raise TypeError(f"{kind} records must have dtype {dtype}; were {records.dtype}")
        folder = self._kind_dir(exchange, symbol, kind)
        field = time_field(kind)
        unit = period_unit(kind)
        with self._locked():
            periods = records[field].astype("datetime64[ns]").astype(f"datetime64[{unit}]")
            keep = {_period_name(p) for p in np.unique(periods)}
            for period in sorted(keep):
                part = records[periods == np.array([period], dtype=f"datetime64[{unit}]")[0]]
                self._write_atomic(folder / f"{period}.parquet", self._sorted(kind, part), kind)
            for old in self.partitions(exchange, symbol, kind):
                if old.stem not in keep:
                    old.unlink()

    def _sorted(self, kind: str, records: np.ndarray) -> np.ndarray:
        times = records[time_field(kind)]
        if times.shape[0] < 2 or bool(np.all(times[1:] >= times[:-1])):
            return records
        return records[np.argsort(times, kind="stable")]

    def _merge_partition(
        self, exchange: str, symbol: str, kind: str, period: str, new: np.ndarray
    ) -> int:
        path = self._kind_dir(exchange, symbol, kind) / f"{period}.parquet"
        dtype = kind_dtype(kind)
        old = self._read_file(path, dtype) if path.exists() else np.empty(0, dtype)
        merged = _dedupe(kind, old, new)
        merged = self._sorted(kind, merged)
        added = merged.shape[0] - old.shape[0]
        if added == 0 and _records_equal(old, merged):
            return 0
        self._write_atomic(path, merged, kind)
        return int(max(added, 0))

    def _write_atomic(self, path: Path, records: np.ndarray, kind: str) -> None:
        self._write_table_atomic(path, records_to_table(records), kind)

    def _write_table_atomic(self, path: Path, table: pa.Table, kind: str) -> None:
        metadata = dict(table.schema.metadata or {})
        metadata.update(
            {b"mmts.kind": kind.encode(), b"mmts.store_version": STORE_VERSION.encode()}
        )
        table = table.replace_schema_metadata(metadata)
        write_atomically(
            path,
            lambda tmp: pq.write_table(table, tmp, compression="zstd", row_group_size=1 << 17),
            staging=self.root / _STAGING,
        )

    # -- reading -------------------------------------------------------------------------------

    @staticmethod
    def _read_file(
        path: Path, dtype: np.dtype, filters: list[tuple[str, str, int]] | None = None
    ) -> np.ndarray:
        try:
            table = pq.read_table(path, columns=list(dtype.names or ()), filters=filters)
        except (OSError, pa.ArrowInvalid) as e:
            raise DataIntegrityError(f"cannot read store file {path}: {e}") from e
        return table_to_records(table, dtype)

    def read(
        self,
        exchange: str,
        symbol: str,
        kind: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        *,
        margin_ns: int = 0,
        fields: tuple[str, ...] | None = None,
    ) -> np.ndarray:
        """Read rows of one series with ``start_ns <= time < end_ns`` on its time column.

        ``margin_ns`` widens the partitions opened (not the filter); callers that filter on
        another time column use it. ``fields``: read only these columns (a narrower record).
        """
        dtype = kind_dtype(kind)
        if fields is not None:
            dtype = np.dtype([(name, dtype.fields[name][0]) for name in fields])  # type: ignore[index]
        field = time_field(kind)
        unit = period_unit(kind)
        parts = []
        for path in self.partitions(exchange, symbol, kind):
            lo, hi = _period_bounds(path.stem, unit)
            if start_ns is not None and hi <= start_ns - margin_ns:
                continue
            if end_ns is not None and lo >= end_ns + margin_ns:
                continue
            filters: list[tuple[str, str, int]] = []
            if margin_ns == 0:
                if start_ns is not None and lo < start_ns:
                    filters.append((field, ">=", int(start_ns)))
                if end_ns is not None and hi > end_ns:
                    filters.append((field, "<", int(end_ns)))
            parts.append(self._read_file(path, dtype, filters or None))
        if not parts:
            return np.empty(0, dtype)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)  # one day: no copy

    # -- user-facing reads (DataFrames) ----------------------------------------------------------

    def bars(
        self,
        symbol: str,
        timeframe: str,
        start: object = None,
        end: object = None,
        *,
        exchange: str | None = None,
        with_trades: bool = False,
    ) -> pd.DataFrame:
        """Return OHLCV bars with open time in ``[start, end)``.

        Parameters
        ----------
        symbol : unified symbol, e.g. ``'ETH/USDT'``.
        timeframe : ``'1s'``, ``'1m'``, ``'1h'``, ``'1d'``, ...: a stored ``bars_<tf>``, or derived
            on read from the coarsest stored finer timeframe that divides it (complete
            intervals only: an hour missing a minute is no 1 h bar), so a store of 1 m klines
            also serves 1 h and 1 d.
        start, end : ISO strings, Timestamps or int ns; naive times are UTC; end is exclusive.
        exchange : needed only when several exchanges hold the symbol.
        with_trades : add the ``trades`` count column (-1 where the source did not say).

        Returns
        -------
        DataFrame indexed by bar open time (UTC), columns ``open high low close volume``.
        """
        return records_to_frame(
            self.bar_records(symbol, timeframe, start, end, exchange=exchange),
            with_trades=with_trades,
        )

    def bar_source(
        self, symbol: str, timeframe: str, exchange: str | None = None
    ) -> tuple[str, str]:
        """Return ``(exchange, stored timeframe)`` that serves ``timeframe`` bars of ``symbol``.

        The timeframe itself when stored, else the coarsest stored one that divides it.
        """
        kind_dtype(f"bars_{timeframe}")
        stored = {k.kind.removeprefix("bars_") for k in self.streams()
                  if k.symbol == symbol and k.kind.startswith("bars_")
                  and (exchange is None or k.exchange == exchange)}  # fmt: skip
        step = timeframe_ns(timeframe)
        finer = [tf for tf in stored if timeframe_ns(tf) < step and step % timeframe_ns(tf) == 0]
        source = timeframe if timeframe in stored or not finer else max(finer, key=timeframe_ns)
        # resolve_exchange names what is there when nothing serves the timeframe
        return self.resolve_exchange(symbol, f"bars_{source}", exchange), source

    def bar_records(self, symbol: str, timeframe: str, start: object = None, end: object = None,
                    *, exchange: str | None = None) -> np.ndarray:  # fmt: skip
        """Return ``bar_dt`` records of :meth:`bars` (stored, or derived on read)."""
        ex, source = self.bar_source(symbol, timeframe, exchange)
        lo, hi = to_ns(start), to_ns(end)
        if source == timeframe:
            return self.read(ex, symbol, f"bars_{timeframe}", lo, hi)
        step = timeframe_ns(timeframe)
        rows = self.read(ex, symbol, f"bars_{source}", None if lo is None else lo // step * step,
                         None if hi is None else -(-hi // step) * step)  # fmt: skip
        derived = resample_records(rows, step, source_step_ns=timeframe_ns(source))
        keep = np.ones(derived.shape[0], bool)
        if lo is not None:
            keep &= derived["ts"] >= lo
        if hi is not None:
            keep &= derived["ts"] < hi
        out: np.ndarray = derived[keep]
        return out

    def trades(
        self, symbol: str, start: object = None, end: object = None, *, exchange: str | None = None
    ) -> pd.DataFrame:
        """Return trades with exchange time in ``[start, end)``, in receive order.

        Index ``time`` (exchange trade time, UTC); columns ``local_ts`` (receive time),
        ``trade_id``, ``price``, ``qty``, ``side`` (+1 taker buy, -1 taker sell).
        """
        ex = self.resolve_exchange(symbol, "trades", exchange)
        lo, hi = to_ns(start), to_ns(end)
        rec = self.read(ex, symbol, "trades", lo, hi, margin_ns=86400 * NS_PER_SECOND)
        keep = np.ones(rec.shape[0], bool)
        if lo is not None:
            keep &= rec["exch_ts"] >= lo
        if hi is not None:
            keep &= rec["exch_ts"] < hi
        rec = rec[keep]
        frame = pd.DataFrame(
            {
                "local_ts": _utc_column(rec["local_ts"]).to_numpy(),
                "trade_id": rec["trade_id"],
                "price": rec["price"],
                "qty": rec["qty"],
                "side": rec["side"],
            },
            index=_utc_index(rec["exch_ts"], "time"),
        )
        return frame

    def bbo(
        self, symbol: str, start: object = None, end: object = None, *, exchange: str | None = None
    ) -> pd.DataFrame:
        """Return best bid/ask updates with receive time in ``[start, end)``.

        Index ``local_ts`` (UTC); columns ``exch_ts``, ``update_id``, ``bid_px``, ``bid_qty``,
        ``ask_px``, ``ask_qty``.
        """
        ex = self.resolve_exchange(symbol, "bbo", exchange)
        rec = self.read(ex, symbol, "bbo", to_ns(start), to_ns(end))
        return pd.DataFrame(
            {
                "exch_ts": _utc_column(rec["exch_ts"]).to_numpy(),
                "update_id": rec["update_id"],
                "bid_px": rec["bid_px"],
                "bid_qty": rec["bid_qty"],
                "ask_px": rec["ask_px"],
                "ask_qty": rec["ask_qty"],
            },
            index=_utc_index(rec["local_ts"], "local_ts"),
        )

    def book_events(
        self,
        symbol: str,
        start: object = None,
        end: object = None,
        *,
        exchange: str | None = None,
        fields: tuple[str, ...] | None = None,
    ) -> np.ndarray:
        """Return stored depth rows (``book_dt``) with receive time in ``[start, end)``.

        ``fields``: only these columns (``core.schema.REPLAY_FIELDS`` for a replay).
        """
        ex = self.resolve_exchange(symbol, "book", exchange)
        return self.read(ex, symbol, "book", to_ns(start), to_ns(end), fields=fields)

    def book(
        self,
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
        ex = self.resolve_exchange(symbol, "book", exchange)
        rows = self.read(ex, symbol, "book", None, at_ns + 1, fields=REPLAY_FIELDS)
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

    # -- derived feature tables (DataFrames, replaced per day) ------------------------------------

    def write_frame(self, exchange: str, symbol: str, kind: str, frame: pd.DataFrame) -> int:
        """Store a derived table (``kind`` starting with ``features_``), indexed by UTC time.

        Rows inside ``frame``'s time span replace the stored rows of that span; rows outside it
        are kept, and each day's partition is replaced atomically. Returns the rows written.
        """
        if not kind.startswith("features_"):
            raise ValueError(f"derived tables use kinds starting with 'features_'; was {kind!r}")
        market_of(symbol)
        index = pd.DatetimeIndex(frame.index)
        if index.tz is None:
            raise ValueError("feature frames must be indexed by tz-aware UTC times")
        folder = self._kind_dir(exchange, symbol, kind)
        index = index.tz_convert("UTC")
        days = index.floor("D")
        lo, hi = index.min(), index.max()
        with self._locked():
            for day in days.unique():
                part = frame[days == day]
                path = folder / f"{day:%Y-%m-%d}.parquet"
                if path.exists():
                    old = pq.read_table(path).to_pandas()
                    old_index = pd.DatetimeIndex(old.index).tz_convert("UTC")
                    keep = old[(old_index < lo) | (old_index > hi)]
                    part = pd.concat([keep, part]).sort_index(kind="stable")
                table = pa.Table.from_pandas(part, preserve_index=True)
                self._write_table_atomic(folder / f"{day:%Y-%m-%d}.parquet", table, kind)
        return len(frame)

    def read_frame(
        self, exchange: str, symbol: str, kind: str, start: object = None, end: object = None
    ) -> pd.DataFrame:
        """Read a derived table written by :meth:`write_frame`, rows in ``[start, end)``."""
        parts = [pq.read_table(p).to_pandas() for p in self.partitions(exchange, symbol, kind)]
        if not parts:
            raise UnknownSymbolError(f"store {self.root} has no {kind} for {symbol} on {exchange}")
        frame = pd.concat(parts).sort_index()
        lo, hi = to_ns(start), to_ns(end)
        keep = np.ones(len(frame), bool)
        times = pd.DatetimeIndex(frame.index).as_unit("ns").asi8
        if lo is not None:
            keep &= times >= lo
        if hi is not None:
            keep &= times < hi
        out: pd.DataFrame = frame[keep]
        return out

    def book_replay(
        self, symbol: str, end: object = None, *, exchange: str | None = None
    ) -> tuple[BookReplay, np.ndarray]:
        """Replay the stored book of ``symbol`` received before ``end``; return it and the rows.

        The replay's application log lets feature builders rebuild the book in step with it.
        """
        ex = self.resolve_exchange(symbol, "book", exchange)
        rows = self.read(ex, symbol, "book", None, to_ns(end), fields=REPLAY_FIELDS)
        return sync_book(rows, market_of(symbol) != "spot"), rows

    def gaps(self, symbol: str, *, exchange: str | None = None) -> pd.DataFrame:
        """Return the book's update-id gaps: start, resync time (NaT if none), ids."""
        ex = self.resolve_exchange(symbol, "book", exchange)
        rec = self.read(ex, symbol, "gaps")
        return pd.DataFrame(
            {
                "start": _utc_column(rec["local_ts"]).to_numpy(),
                "resync": _utc_column(rec["resync_ts"]).to_numpy(),
                "expected_id": rec["expected_id"],
                "found_id": rec["found_id"],
            }
        )

    def info(self) -> list[dict[str, object]]:
        """Describe every stored series: exchange, market, symbol, kind, start, end, rows, gaps.

        ``start``/``end`` are the first and last time (bar open time for bars, receive time for
        events) as ISO-8601 UTC. ``gaps`` lists missing bars (for bar kinds) or update-id gaps
        (for ``book``), each with ``start`` and ``end`` (``null`` if never repaired). A standard
        timeframe (1m, 1h, 1d) that is not stored but served from a finer one (:meth:`bars`) is
        listed too, with ``derived_from`` naming the stored kind.
        """
        out: list[dict[str, object]] = []
        keys = self.streams()
        stored = {(k.exchange, k.symbol, k.kind) for k in keys}
        for key in keys:
            if key.kind == "gaps" or key.kind.startswith("features_"):
                continue
            field = time_field(key.kind)
            times = self._read_column(key, field)
            if times.shape[0] == 0:
                continue
            entry: dict[str, object] = {
                "exchange": key.exchange,
                "market": key.market,
                "symbol": key.symbol,
                "kind": key.kind,
                "start": iso(int(times.min())),
                "end": iso(int(times.max())),
                "rows": int(times.shape[0]),
                "gaps": self._gaps_for(key, times),
            }
            out.append(entry)
        for exchange, symbol in sorted(
            {(k.exchange, k.symbol) for k in keys if k.kind.startswith("bars_")}
        ):
            for tf in STANDARD_TIMEFRAMES:
                if (exchange, symbol, f"bars_{tf}") in stored:
                    continue
                try:
                    _, source = self.bar_source(symbol, tf, exchange)
                except UnknownSymbolError:
                    continue  # nothing finer is stored either
                times = self.bar_records(symbol, tf, exchange=exchange)["ts"]
                if times.shape[0] == 0:
                    continue
                key = StreamKey(exchange, symbol, f"bars_{tf}")
                out.append({
                    "exchange": exchange, "market": key.market, "symbol": symbol, "kind": key.kind,
                    "start": iso(int(times.min())), "end": iso(int(times.max())),
                    "rows": int(times.shape[0]), "gaps": self._gaps_for(key, times),
                    "derived_from": f"bars_{source}",
                })  # fmt: skip
        return out

    def _read_column(self, key: StreamKey, column: str) -> np.ndarray:
        parts = [
            pq.read_table(p, columns=[column]).column(column).to_numpy()
            for p in self.partitions(key.exchange, key.symbol, key.kind)
        ]
        return np.concatenate(parts) if parts else np.empty(0, np.int64)

    def _gaps_for(self, key: StreamKey, times: np.ndarray) -> list[dict[str, object]]:
        if key.kind.startswith("bars_"):
            step = timeframe_ns(key.kind.removeprefix("bars_"))
            ts = np.sort(times)
            holes = np.flatnonzero(np.diff(ts) > step)
            return [
                {
                    "start": iso(int(ts[i]) + step),
                    "end": iso(int(ts[i + 1])),
                    "missing": int((ts[i + 1] - ts[i]) // step - 1),
                }
                for i in holes
            ]
        if key.kind == "book":
            rec = self.read(key.exchange, key.symbol, "gaps")
            return [
                {
                    "start": iso(int(g["local_ts"])),
                    "end": None if g["resync_ts"] == NO_TS else iso(int(g["resync_ts"])),
                    "expected_id": int(g["expected_id"]),
                    "found_id": int(g["found_id"]),
                }
                for g in rec
            ]
        return []


def _key_fields(kind: str, records: np.ndarray) -> list[str] | None:
    if kind.startswith("bars_"):
        return ["ts"]
    if kind == "trades" and records.shape[0] and bool(np.all(records["trade_id"] != NO_ID)):
        return ["trade_id"]
    return None  # the whole row


def _dedupe(kind: str, old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Merge ``new`` into ``old`` (already unique), dropping duplicates by the kind's key."""
    new = _unique(kind, new)
    if old.shape[0] == 0 or new.shape[0] == 0:
        return new if old.shape[0] == 0 else old
    if _key_fields(kind, new) != ["trade_id"]:
        # Rows of kinds keyed by time (or by the whole row, which includes the time) cannot
        # collide across disjoint time ranges: appending needs no search.
        field = time_field(kind)
        if new[field].min() > old[field].max() or new[field].max() < old[field].min():
            return np.concatenate([old, new])
    return _unique(kind, np.concatenate([old, new]))


def _unique(kind: str, records: np.ndarray) -> np.ndarray:
    """Drop duplicates, keeping the first occurrence (the last for bars, whose newer row wins)."""
    if records.shape[0] <= 1:
        return records
    fields = _key_fields(kind, records)
    if fields is not None:
        values = records[fields[0]]
        if bool(np.all(values[1:] > values[:-1])):
            return records  # strictly increasing keys: nothing to drop
        if kind.startswith("bars_"):
            _, idx = np.unique(values[::-1], return_index=True)
            idx = records.shape[0] - 1 - idx
        else:
            _, idx = np.unique(values, return_index=True)
        if idx.shape[0] == records.shape[0]:
            return records
        return records[np.sort(idx)]
    # Whole-row identity. Distinct row hashes prove there is no duplicate (the common case);
    # otherwise compare the raw bytes of every row.
    hashes = np.sort(_row_hash(records))
    if not bool(np.any(hashes[1:] == hashes[:-1])):
        return records
    raw = np.ascontiguousarray(records).view(np.dtype((np.void, records.dtype.itemsize)))
    _, idx = np.unique(raw, return_index=True)
    return records[np.sort(idx)]


def _row_hash(records: np.ndarray) -> np.ndarray:
    h = np.zeros(records.shape[0], np.uint64)
    prime = np.uint64(0x100000001B3)
    for name in records.dtype.names or ():
        column = records[name]
        if column.dtype.itemsize == 8:
            bits = column.view(np.uint64)
        else:
            bits = column.astype(np.int64).view(np.uint64)
        h = (h ^ bits) * prime
        h ^= h >> np.uint64(29)
    return h


def _records_equal(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape:
        return False
    return all(np.array_equal(a[n], b[n], equal_nan=True) for n in a.dtype.names or ())


# -- the user-facing reads ---------------------------------------------------------------------


def _utc_index(values: np.ndarray, name: str) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(values.astype("datetime64[ns]"), name=name).tz_localize("UTC")


def _utc_column(values: np.ndarray) -> pd.Series:
    return pd.Series(values.astype("datetime64[ns]")).dt.tz_localize("UTC")


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
