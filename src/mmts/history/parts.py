"""Append-only tables of Parquet parts: one writer appends, any number of readers query.

A table is a folder of immutable parts named ``<writer>-<first>-<last>.parquet``: the writer's
id (its epoch, see :mod:`mmts.history.epochs`) and the range of its flush numbers the part
holds. A part is written to a hidden temporary file and renamed into place, so a reader sees
a part whole or not at all, and a writer killed mid-flush leaves only a temporary file that
no reader opens. Readers take no lock and never make the writer wait.

:meth:`PartTable.compact` merges a writer's small parts into one: the merged part is renamed
into place first, then the small ones are deleted, and a reader that lists both keeps only
the part covering the wider range (:func:`live_parts`), so a query during compaction counts
every row once.

Why not SQLite (WAL) as a hot tier: one more format to compact out of, and a reader of a WAL
database needs its ``-shm`` file writable; Parquet parts are the cold format already, every
tool reads them (pyarrow, pandas, DuckDB: ``SELECT * FROM 'ledger/predictions/*.parquet'``),
and a flush per second keeps a live session's parts small enough to compact in the writer's
own thread.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from mmts.core.files import write_atomically

_PART = re.compile(r"^(?P<writer>[A-Za-z0-9_]+)-(?P<first>\d{9})-(?P<last>\d{9})\.parquet$")
#: How many times a reader lists a table again when a part vanished under it (compaction).
_READ_TRIES = 5
#: Parquet settings of every part: small files, fast to write, floats compress as bytes.
_WRITE_OPTIONS = {"compression": "zstd", "compression_level": 3}


def part_name(writer: str, first: int, last: int) -> str:
    """Return the file name of a part holding flushes ``first..last`` of ``writer``."""
    return f"{writer}-{first:09d}-{last:09d}.parquet"


def live_parts(paths: Iterable[Path]) -> list[Path]:
    """Drop the parts another part of the same writer covers (left over mid-compaction)."""
    found: dict[str, list[tuple[int, int, Path]]] = {}
    for path in paths:
        m = _PART.match(path.name)
        if m:
            found.setdefault(m["writer"], []).append((int(m["first"]), int(m["last"]), path))
    keep: list[Path] = []
    for parts in found.values():
        for first, last, path in parts:
            covered = any(
                f <= first and last <= la and (f, la) != (first, last) for f, la, _ in parts
            )
            if not covered:
                keep.append(path)
    return sorted(keep)


class PartTable:
    """One table of the ledger: a folder of Parquet parts with one schema."""

    def __init__(self, folder: Path, schema: pa.Schema) -> None:
        self.folder = Path(folder)
        self.schema = schema

    def parts(self) -> list[Path]:
        """Return the parts a reader should read now."""
        if not self.folder.is_dir():
            return []
        return live_parts(self.folder.glob("*.parquet"))

    def append(self, table: pa.Table, writer: str, first: int, last: int | None = None) -> Path:
        """Write ``table`` as the part of ``writer``'s flushes ``first..last`` (atomic)."""
        path = self.folder / part_name(writer, first, first if last is None else last)
        table = table.cast(self.schema)
        write_atomically(path, lambda tmp: pq.write_table(table, tmp, **_WRITE_OPTIONS))
        return path

    def read(
        self, filter: ds.Expression | None = None, columns: list[str] | None = None
    ) -> pa.Table:
        """Read the rows matching ``filter`` from every live part (empty: the schema, no rows)."""
        for attempt in range(_READ_TRIES):
            parts = self.parts()
            if not parts:
                return self.schema.empty_table().select(columns or self.schema.names)
            try:
                dataset = ds.dataset([str(p) for p in parts], schema=self.schema, format="parquet")
                return dataset.to_table(filter=filter, columns=columns)
            except FileNotFoundError:
                if attempt == _READ_TRIES - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def compact(self, writer: str, min_parts: int = 8, small_bytes: int = 8 << 20) -> list[Path]:
        """Merge each run of ``writer``'s consecutive small parts into one; return the new parts.

        Only a run of at least ``min_parts`` parts under ``small_bytes`` each is merged, so a
        long session does not rewrite its big parts again and again; a run is consecutive in
        flush order, so a merged range never covers a part it did not merge.
        """
        mine = []
        for path in self.parts():
            m = _PART.match(path.name)
            if m and m["writer"] == writer:
                mine.append((int(m["first"]), int(m["last"]), path))
        mine.sort()
        runs: list[list[tuple[int, int, Path]]] = [[]]
        for part in mine:
            if part[2].stat().st_size < small_bytes:
                runs[-1].append(part)
            elif runs[-1]:
                runs.append([])
        merged_parts = []
        for run in runs:
            if len(run) < min_parts:
                continue
            merged = pa.concat_tables(pq.read_table(p, schema=self.schema) for _, _, p in run)
            target = self.append(merged, writer, run[0][0], run[-1][1])
            for _, _, path in run:
                if path != target:
                    path.unlink(missing_ok=True)
            merged_parts.append(target)
        return merged_parts
