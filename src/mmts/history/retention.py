"""Retention: move the oldest of a ledger into compressed archives, one file per day; restore.

:func:`archive` moves every row older than ``before`` out of the live tables into
``<archive_dir>/<YYYY-MM-DD>.zip`` (one Parquet file per table inside, zstd level 19; a day
archived twice is merged into its one file). Frames go only when no input left in the ledger
needs them: a bar stays while it is on the grid of a remaining input (a 1 d bar serves 300
days of inputs), a COB row while it is in one's last ``frames`` seconds.

**Kept longer** (``keep_notable_until``, the automatic retention's ``[history] keep_longer``):
a prediction is notable when it was a confident mistake (confidence >= 0.7 and wrong) or its
realised return was in the top 5 % by size of the rows being archived; notable predictions
made at or after ``keep_notable_until`` stay in the ledger, with their outcomes, their
inputs and the frames those need.

The live tables are rewritten part by part, each renamed over itself, so a reader sees every
row once: archived, or still in its part. Archiving holds the ledger's retention lock, which
the writer's compaction also takes (and skips while it is held). :func:`restore` appends an
archive's rows back as parts of their own (once: a second restore of the same file is an error).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mmts.core.files import write_atomically
from mmts.core.time import to_ns
from mmts.core.timeframes import timeframe_ns
from mmts.history.epochs import LedgerError, ledger_folder, load_layout
from mmts.history.frames import input_series, series_name
from mmts.history.parts import PartTable
from mmts.history.schema import TABLES

LOCK = ".retention.lock"
#: A prediction this confident and wrong is notable (kept longer).
CONFIDENT_MISTAKE = 0.7
#: Realised returns in this top share by size are notable.
LARGE_OUTCOME_SHARE = 0.05
#: The column that dates each table's rows.
DATE_COLUMN = {"predictions": "time", "outcomes": "time", "inputs": "time", "alerts": "time",
               "promotions": "time", "commands": "time", "bar_frames": "open",
               "cob_frames": "second"}  # fmt: skip
if set(DATE_COLUMN) != set(TABLES):  # a new ledger table must say how its rows are dated
    raise RuntimeError(f"retention.DATE_COLUMN lacks {sorted(set(TABLES) - set(DATE_COLUMN))}")


@contextlib.contextmanager
def retention_lock(folder: Path, wait: bool = True) -> Iterator[bool]:
    """Hold the ledger's retention lock; with ``wait=False`` yield False when another holds it."""
    path = folder / LOCK
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class ArchiveReport:
    """What :func:`archive` moved."""

    files: list[str]
    rows: dict[str, int]
    kept_notable: int


def _ns(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    if pa.types.is_timestamp(column.type):
        column = pc.cast(column, pa.int64())
    return np.asarray(column.to_numpy(zero_copy_only=False), np.int64)


def _notable(predictions: pa.Table, outcomes: pa.Table) -> set[tuple[int, str, str]]:
    """Return ``(time, model, role)`` of the notable predictions among these rows."""
    if outcomes.num_rows == 0:
        return set()
    o = outcomes.to_pandas()
    p = predictions.select(["time", "model", "role", "confidence"]).to_pandas()
    joined = o.merge(p, on=["time", "model", "role"], how="left")
    size = joined["realized_return"].abs()
    large = size >= size.quantile(1 - LARGE_OUTCOME_SHARE) if len(size) else size > 0
    mistake = (joined["correct"] == False) & (joined["confidence"] >= CONFIDENT_MISTAKE)
    keep = joined[large | mistake]
    return {
        (int(t.value), m, r)
        for t, m, r in zip(keep["time"], keep["model"], keep["role"], strict=True)
    }


def archive(ledger: str | os.PathLike[str], before: object, *, archive_dir: str | os.PathLike[str] | None = None,
            keep_notable_until: object = None) -> ArchiveReport:  # fmt: skip
    """Move the rows older than ``before`` into day archives (see the module docstring)."""
    folder = ledger_folder(ledger)
    cut = to_ns(before)
    if cut is None:
        raise ValueError("archive needs a time to archive before")
    keep_from = to_ns(keep_notable_until)
    target = Path(archive_dir) if archive_dir is not None else folder / "archive"
    tables = {name: PartTable(folder / name, schema) for name, schema in TABLES.items()}
    with retention_lock(folder):
        old = {name: table.read() for name, table in tables.items()}
        moving = {name: _ns(t.column(DATE_COLUMN[name])) < cut for name, t in old.items()}
        kept = set()
        if keep_from is not None:
            kept = {k for k in _notable(old["predictions"].filter(moving["predictions"]),
                                        old["outcomes"].filter(moving["outcomes"])) if k[0] >= keep_from}  # fmt: skip
            for name in ("predictions", "outcomes"):
                t = old[name]
                keys = zip(_ns(t.column("time")).tolist(), t.column("model").to_pylist(),
                           t.column("role").to_pylist(), strict=True)  # fmt: skip
                moving[name] &= np.array([k not in kept for k in keys], bool)
        kept_inputs = set(
            old["predictions"].filter(~moving["predictions"]).column("input_id").to_pylist()
        )
        inputs = old["inputs"]
        ids = inputs.column("input_id").to_pylist()
        moving["inputs"] = moving["inputs"] & np.array([i not in kept_inputs for i in ids], bool)
        _frames_moving(folder, old, moving)
        files = _write_archives(target, {n: old[n].filter(moving[n]) for n in old})
        rows = {}
        for name, table in tables.items():
            rows[name] = int(moving[name].sum())
            if rows[name]:
                _rewrite(table, cut, name, old[name].filter(~moving[name]))
    return ArchiveReport(files, rows, len(kept))


def _frames_moving(folder: Path, old: dict[str, pa.Table], moving: dict[str, np.ndarray]) -> None:
    """Move only frames no remaining input needs (per epoch, per series)."""
    inputs = old["inputs"].filter(~moving["inputs"])
    first: dict[tuple[int, str], int] = {}
    for epoch, key, t in zip(inputs.column("epoch").to_pylist(), inputs.column("layout").to_pylist(),
                             _ns(inputs.column("time")).tolist(), strict=True):  # fmt: skip
        first[(epoch, key)] = min(first.get((epoch, key), t), t)
    need_bars: dict[tuple[int, str], int] = {}
    need_cob: dict[int, int] = {}
    for (epoch, key), t in first.items():
        layout = load_layout(folder, key)
        frames = layout.config.frames
        for symbol, tf in input_series(layout):
            step = timeframe_ns(tf)
            oldest = t - (frames + 1) * step
            name = (epoch, series_name(symbol, tf))
            need_bars[name] = min(need_bars.get(name, oldest), oldest)
        need_cob[epoch] = min(need_cob.get(epoch, t), t - (frames + 1) * 10**9)
    bars = old["bar_frames"]
    keys = zip(bars.column("epoch").to_pylist(), bars.column("series").to_pylist(),
               bars.column("open").to_pylist(), strict=True)  # fmt: skip
    moving["bar_frames"] &= np.array([o < need_bars.get((e, s), 2**62) for e, s, o in keys], bool)
    cob = old["cob_frames"]
    keys2 = zip(cob.column("epoch").to_pylist(), cob.column("second").to_pylist(), strict=True)
    moving["cob_frames"] &= np.array([s < need_cob.get(e, 2**62) for e, s in keys2], bool)


def _write_archives(target: Path, rows: dict[str, pa.Table]) -> list[str]:
    """Write (or merge into) one zip per UTC day of the rows' dates."""
    days: dict[str, dict[str, pa.Table]] = {}
    for name, table in rows.items():
        if table.num_rows == 0:
            continue
        dates = pd.to_datetime(_ns(table.column(DATE_COLUMN[name])), utc=True).strftime("%Y-%m-%d")
        for day in sorted(set(dates)):
            days.setdefault(day, {})[name] = table.filter(pa.array(dates == day))
    written = []
    for day, tables in days.items():
        path = target / f"{day}.zip"
        if path.exists():
            for name, table in read_archive(path).items():
                tables[name] = pa.concat_tables([table, tables[name]]) if name in tables else table
        write_atomically(path, partial(_zip, tables=tables))
        written.append(str(path))
    return written


def _zip(path: Path, *, tables: dict[str, pa.Table]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive_file:
        for name, table in tables.items():
            buffer = io.BytesIO()
            pq.write_table(table, buffer, compression="zstd", compression_level=19)
            archive_file.writestr(f"{name}.parquet", buffer.getvalue())


def read_archive(path: str | os.PathLike[str]) -> dict[str, pa.Table]:
    """Return the tables of one archive file."""
    out = {}
    try:
        with zipfile.ZipFile(path) as archive_file:
            for member in archive_file.namelist():
                name = member.removesuffix(".parquet")
                if name not in TABLES:
                    raise LedgerError(f"{path}: {member} is not a ledger table")
                out[name] = pq.read_table(io.BytesIO(archive_file.read(member))).cast(TABLES[name])
    except (zipfile.BadZipFile, FileNotFoundError) as e:
        raise LedgerError(f"{path}: not a ledger archive ({e})") from None
    return out


def _rewrite(table: PartTable, cut: int, name: str, remaining: pa.Table) -> None:
    """Rewrite every part that held archived rows, each renamed over itself."""
    survivors = set(_row_hashes(remaining))
    for part in table.parts():
        rows = pq.read_table(part, schema=table.schema)
        dates = _ns(rows.column(DATE_COLUMN[name]))
        if not (dates < cut).any():
            continue
        keep = np.array([k in survivors for k in _row_hashes(rows)], bool)
        if keep.all():
            continue
        if not keep.any():
            part.unlink()
            continue
        kept = rows.filter(keep)
        write_atomically(part, partial(_parquet, table=kept))


def _parquet(path: Path, *, table: pa.Table) -> None:
    pq.write_table(table, path, compression="zstd")


def _row_hashes(table: pa.Table) -> list[str]:
    """Hash each row (the identity of a row across a read and a rewrite)."""
    if table.num_rows == 0:
        return []
    columns = [table.column(c).to_pylist() for c in table.column_names]
    return [hashlib.sha1(repr(row).encode(), usedforsecurity=False).hexdigest()
            for row in zip(*columns, strict=True)]  # fmt: skip


def restore(ledger: str | os.PathLike[str], archive_file: str | os.PathLike[str]) -> dict[str, int]:
    """Append an archive's rows back to the ledger (once); return the rows per table."""
    folder = ledger_folder(ledger)
    tables = read_archive(archive_file)
    writer = "r" + hashlib.sha256(Path(archive_file).name.encode()).hexdigest()[:12]
    rows = {}
    with retention_lock(folder):
        for name in tables:
            part = PartTable(folder / name, TABLES[name])
            if any(p.name.startswith(writer + "-") for p in part.parts()):
                raise LedgerError(f"{archive_file} was restored into {folder} already")
        for name, table in tables.items():
            PartTable(folder / name, TABLES[name]).append(table, writer, 1)
            rows[name] = table.num_rows
    return rows


DAY_NS = 86_400 * 10**9


def enforce(folder: Path, now: int, *, max_bytes: int | None, max_age_days: float | None,
            archive_dir: str | None, keep_longer: float,
            alert: Any = None, max_disk_bytes: int | None = None) -> list[str]:  # fmt: skip
    """Apply ``[history]`` retention at market time ``now``; alert when disk use is too high.

    Days older than ``max_age_days`` are archived (notable predictions stay ``keep_longer``
    times as long); while the ledger takes more than ``max_bytes``, its oldest day goes too.
    Returns the archive files written.
    """
    files: list[str] = []
    if max_age_days is not None:
        age = int(max_age_days * DAY_NS)
        files += archive(folder, now - age, archive_dir=archive_dir,
                         keep_notable_until=now - int(keep_longer * age)).files  # fmt: skip
    if max_bytes is not None:
        for _ in range(366):
            used = disk_bytes(folder)
            oldest = _oldest(folder)
            if used <= max_bytes or oldest is None or oldest >= now - DAY_NS:
                break
            files += archive(folder, (oldest // DAY_NS + 1) * DAY_NS, archive_dir=archive_dir).files
    limit = max_disk_bytes or max_bytes
    used = disk_bytes(folder)
    if alert is not None and limit is not None and used > limit:
        alert("warning", "disk", str(folder), f"the ledger takes {used / 1e6:.1f} MB, over the "
              f"{limit / 1e6:.1f} MB limit", float(used), float(limit))  # fmt: skip
    return files


def disk_bytes(folder: Path) -> int:
    """Return the bytes the ledger's live tables take (archives elsewhere not counted)."""
    return sum(p.stat().st_size for name in TABLES for p in (folder / name).glob("*.parquet"))


def _oldest(folder: Path) -> int | None:
    times = PartTable(folder / "predictions", TABLES["predictions"]).read(columns=["time"])
    return int(_ns(times.column("time")).min()) if times.num_rows else None
