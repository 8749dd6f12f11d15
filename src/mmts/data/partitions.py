"""The Parquet partitions: layout on disk, locking, atomic idempotent writes, ranged reads.

Layout under the root folder::

    <root>/<exchange>/<symbol, url-quoted>/<kind>/<period>.parquet

(kinds and periods: ``mmts.data.layout``), so a read of one symbol, kind and time range opens
only the files it needs. Columns are the fields of the record dtypes in ``mmts.core.schema``.

Every write merges new rows into the existing partition, drops duplicates by the kind's key
(``mmts.data.dedupe``), sorts, writes a temporary file beside the store and renames it over
the old one (``os.replace`` is atomic), so a crash leaves either the old or the new partition,
never a torn one, and importing the same data twice stores it once.

Which series and files exist is kept in a :class:`~mmts.data.stream_index.StreamIndex`: a read
lists only the folders that changed since the last one, instead of walking the whole tree.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mmts.core.errors import DataIntegrityError, UnknownSymbolError
from mmts.core.files import write_atomically
from mmts.core.symbols import market_of, symbol_to_path
from mmts.data.dedupe import bar_conflicts, merge_unique, records_equal
from mmts.data.layout import (
    StreamKey,
    kind_dtype,
    period_bounds,
    period_name,
    period_unit,
    records_to_table,
    table_to_records,
    time_field,
)
from mmts.data.stream_index import StreamIndex

_STAGING = ".staging"
_LOCK = ".lock"
#: Store format version, written into every file's metadata.
STORE_VERSION = "1"


class PartitionStore:
    """Partitioned Parquet series under a root folder (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.index = StreamIndex(self.root)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r})"

    # -- paths ---------------------------------------------------------------------------------

    def kind_dir(self, exchange: str, symbol: str, kind: str) -> Path:
        """Return the folder of one series' partitions."""
        return self.root / exchange / symbol_to_path(symbol) / kind

    def partitions(self, exchange: str, symbol: str, kind: str) -> list[Path]:
        """Return the partition files of one series, oldest first."""
        return list(self.index.files(self.kind_dir(exchange, symbol, kind)))

    def streams(self) -> list[StreamKey]:
        """List every stored series."""
        return self.index.streams()

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
    def locked(self) -> Iterator[None]:
        """Hold the store's write lock (one writer at a time, across processes)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / _LOCK).open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def write(self, exchange: str, symbol: str, kind: str, records: np.ndarray,
              conflicts: list[tuple[np.void, np.void]] | None = None) -> int:  # fmt: skip
        """Merge ``records`` into the store; return the number of rows that were new.

        Rows already stored (by the kind's key: bar time for bars, trade id for trades, the
        whole row otherwise) are kept as they are, except bars, where the newer row wins;
        with ``conflicts`` given, a bar that disagrees with the stored one is not written but
        appended there as ``(stored, new)`` (``dedupe.bar_conflicts``).
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
        with self.locked():
            for period in np.unique(periods):
                part = records[periods == period]
                added += self._merge_partition(exchange, symbol, kind, period_name(period), part,
                                               conflicts)  # fmt: skip
        return added

    def replace(self, exchange: str, symbol: str, kind: str, records: np.ndarray) -> None:
        """Replace a whole series with ``records`` (used for derived data such as gaps)."""
        dtype = kind_dtype(kind)
        if records.dtype != dtype:
            raise TypeError(f"{kind} records must have dtype {dtype}; were {records.dtype}")
        folder = self.kind_dir(exchange, symbol, kind)
        field = time_field(kind)
        unit = period_unit(kind)
        with self.locked():
            periods = records[field].astype("datetime64[ns]").astype(f"datetime64[{unit}]")
            keep = {period_name(p) for p in np.unique(periods)}
            for period in sorted(keep):
                part = records[periods == np.array([period], dtype=f"datetime64[{unit}]")[0]]
                self._write_atomic(folder / f"{period}.parquet", self._sorted(kind, part), kind)
            for old in self.partitions(exchange, symbol, kind):
                if old.stem not in keep:
                    old.unlink()
            self.index.forget(folder)

    def _sorted(self, kind: str, records: np.ndarray) -> np.ndarray:
        times = records[time_field(kind)]
        if times.shape[0] < 2 or bool(np.all(times[1:] >= times[:-1])):
            return records
        return records[np.argsort(times, kind="stable")]

    def _merge_partition(self, exchange: str, symbol: str, kind: str, period: str,
                         new: np.ndarray, conflicts: list[tuple[np.void, np.void]] | None = None
                         ) -> int:  # fmt: skip
        path = self.kind_dir(exchange, symbol, kind) / f"{period}.parquet"
        dtype = kind_dtype(kind)
        old = self.read_file(path, dtype) if path.exists() else np.empty(0, dtype)
        if conflicts is not None and kind.startswith("bars_"):
            disagree, stored = bar_conflicts(old, new)
            if disagree.any():
                conflicts.extend(zip(old[stored], new[disagree], strict=True))
                new = new[~disagree]
        merged = merge_unique(kind, old, new)
        merged = self._sorted(kind, merged)
        added = merged.shape[0] - old.shape[0]
        if added == 0 and records_equal(old, merged):
            return 0
        self._write_atomic(path, merged, kind)
        return int(max(added, 0))

    def _write_atomic(self, path: Path, records: np.ndarray, kind: str) -> None:
        self.write_table(path, records_to_table(records), kind)

    def write_table(self, path: Path, table: pa.Table, kind: str) -> None:
        """Write an Arrow table to ``path`` atomically, tagged with its kind and the store version."""
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
        self.index.forget(path.parent)

    # -- reading -------------------------------------------------------------------------------

    @staticmethod
    def read_file(
        path: Path, dtype: np.dtype, filters: list[tuple[str, str, int]] | None = None
    ) -> np.ndarray:
        """Read one partition file as ``dtype`` records (a damaged file names itself)."""
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
            lo, hi = period_bounds(path.stem, unit)
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
            parts.append(self.read_file(path, dtype, filters or None))
        if not parts:
            return np.empty(0, dtype)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)  # one day: no copy

    def read_column(self, key: StreamKey, column: str) -> np.ndarray:
        """Read one column of a whole series (``data info`` reads only the time column)."""
        parts = [
            pq.read_table(p, columns=[column]).column(column).to_numpy()
            for p in self.partitions(key.exchange, key.symbol, key.kind)
        ]
        return np.concatenate(parts) if parts else np.empty(0, np.int64)
