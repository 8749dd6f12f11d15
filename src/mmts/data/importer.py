"""Import files into the store, detecting each file's format from its content.

Formats: Binance raw websocket recordings (gzip or plain ``<ts> <json>`` lines), freqtrade
feather klines, CryptoDataDownload CSV, Binance public-data kline CSV and zip. Recordings of
one symbol given together are synced as one stream (the 2024-08-08/09 files continue across
midnight); derived series (1 s bars, book gaps) are rebuilt from what the store then holds, so
the order in which files are imported does not change the result.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmts.core import sync_nb
from mmts.core.errors import DataFormatError
from mmts.core.schema import NO_TS, gap_dt
from mmts.core.symbols import Market, market_of, normalize_market, parse_symbol
from mmts.core.time import iso
from mmts.core.timeframes import NS_PER_SECOND, bar_kind, timeframe_ns
from mmts.data import klines
from mmts.data.bars import complete_bars_from_trades
from mmts.data.binance_ws import Recording, looks_like_recording, read_recording
from mmts.data.book_replay import sync_book
from mmts.data.dedupe import BAR_VALUES
from mmts.data.store import Store

#: Extra trade history read around new trades when rebuilding 1 s bars, so bars that straddle
#: two imports are rebuilt from both.
_REBUILD_MARGIN_NS = 3600 * NS_PER_SECOND

INCIDENT_NAMES = {
    sync_nb.INCIDENT_GAP: "update-id gap",
    sync_nb.INCIDENT_CROSSED: "crossed book after diff",
    sync_nb.INCIDENT_NO_BRIDGE: "first diff after snapshot does not bridge lastUpdateId",
}


@dataclass
class FileReport:
    """What happened to one input file."""

    path: str
    format: str
    #: Messages (recordings) or bars (kline files) read.
    records: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


@dataclass
class Incident:
    """A book integrity problem found while importing, with its location."""

    symbol: str
    kind: str
    path: str
    line: int
    expected_id: int
    found_id: int
    time: str
    resync_time: str | None


@dataclass
class Conflict:
    """A bar two sources disagree on: the stored one is kept, this file's is not imported."""

    path: str
    exchange: str
    symbol: str
    kind: str
    time: str
    #: ``[open, high, low, close, volume]`` as stored, and as this file has it.
    stored: list[float]
    new: list[float]


@dataclass
class ImportSummary:
    """The result of an import: per file, per stored series, and problems found."""

    files: list[FileReport] = field(default_factory=list)
    #: ``(exchange, symbol, kind) -> [rows read, rows new]``
    written: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)
    incidents: list[Incident] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)

    def add(self, exchange: str, symbol: str, kind: str, read: int, new: int) -> None:
        """Count rows read and rows newly stored for one series."""
        counts = self.written.setdefault((exchange, symbol, kind), [0, 0])
        counts[0] += read
        counts[1] += new

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "files": [asdict(f) for f in self.files],
            "written": [
                {"exchange": e, "symbol": s, "kind": k, "rows_read": r, "rows_new": n}
                for (e, s, k), (r, n) in sorted(self.written.items())
            ],
            "incidents": [asdict(i) for i in self.incidents],
            "conflicts": [asdict(c) for c in self.conflicts],
        }


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Expand folders into the files below them (sorted); keep files as given."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            )
        elif path.is_file():
            out.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return out


def detect_format(path: Path) -> str:
    """Return the format of ``path`` judged from its first bytes.

    One of ``binance-ws``, ``freqtrade-feather``, ``cryptodatadownload-csv``,
    ``binance-public-klines``.
    """
    with path.open("rb") as handle:
        head = handle.read(4096)
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path) as handle:
                inner = handle.read(4096)
        except (OSError, EOFError) as e:
            raise DataFormatError(f"gzip stream is corrupt ({e})", path=str(path)) from e
        if looks_like_recording(inner):
            return "binance-ws"
        if klines.looks_like_freqtrade_json(inner):
            return "freqtrade-json"
        raise DataFormatError(
            f"gzip file holds {_looks(inner)}: expected a websocket recording ('<timestamp> "
            "<json>' per line) or freqtrade JSON candles",
            path=str(path),
        )
    if head[:6] == b"ARROW1" or head[:4] == b"\xff\xff\xff\xff":
        return "freqtrade-feather"
    if head[:4] == b"PK\x03\x04":
        return "binance-public-klines"
    if head[:4] == b"PAR1":
        raise DataFormatError(
            "Parquet input is not an import format (the store itself is Parquet)", path=str(path)
        )
    text = head.decode("utf-8", "replace")
    if looks_like_recording(head):
        return "binance-ws"
    if klines.looks_like_freqtrade_json(head):
        return "freqtrade-json"
    if "cryptodatadownload" in text.splitlines()[0].lower() if text else False:
        return "cryptodatadownload-csv"
    if klines.looks_like_binance_public_csv(text):
        return "binance-public-klines"
    first = text.splitlines()[0] if text else ""
    if first.count(",") >= 3:
        columns = [c.strip() for c in first.split(",")]
        raise DataFormatError(
            f"a CSV whose first line has the columns {columns}; expected a CryptoDataDownload "
            "CSV (a banner line naming cryptodatadownload, then Unix, Date, Symbol, Open, High, "
            f"Low, Close, 'Volume <BASE>') or a Binance public kline CSV (12 columns: "
            f"{', '.join(klines.BINANCE_PUBLIC_COLUMNS)}; header optional)",
            path=str(path),
        )
    raise DataFormatError(
        f"unrecognised format ({_looks(head)}): expected a Binance websocket recording, "
        "freqtrade .feather or .json candles, a CryptoDataDownload CSV or a Binance public "
        "kline CSV/zip",
        path=str(path),
    )


def _looks(head: bytes) -> str:
    """Say what a file starts with, for an error message."""
    if not head:
        return "an empty file"
    line = head.split(b"\n", 1)[0][:60]
    if sum(32 <= b < 127 or b in (9, 10, 13) for b in head[:200]) < 0.9 * min(len(head), 200):
        return f"binary data starting {head[:8]!r}"
    return f"text starting {line.decode('utf-8', 'replace')!r}"


def import_paths(
    store: Store,
    paths: Sequence[str | Path],
    *,
    exchange: str | None = None,
    market: str | None = None,
    symbol: str | None = None,
    skip_bad_lines: bool = False,
) -> ImportSummary:
    """Import files (or folders of files) into ``store``.

    Parameters
    ----------
    store : the destination.
    paths : files or folders; formats are detected per file.
    exchange, market, symbol : used where a file does not say (and override what it says).
    skip_bad_lines : count malformed recording lines instead of failing.

    Nothing is written for a file that fails to parse: every file is parsed before the first
    write, and each partition write is atomic.
    """
    if symbol is not None:
        parse_symbol(symbol)
    mkt: Market | None = normalize_market(market) if market is not None else None
    summary = ImportSummary()
    files = expand_paths(paths)
    formats: list[tuple[Path, str]] = []
    problems: list[str] = []
    for path in files:  # every file's format first: a bad file must not stop a half-done import
        try:
            formats.append((path, detect_format(path)))
        except DataFormatError as e:
            problems.append(str(e))
    _refuse(problems, len(files), "are not in a format mmts imports")
    recordings: list[tuple[Recording, str]] = []
    kline_files: list[tuple[str, str, klines.KlineFile]] = []
    for path, fmt in formats:
        try:
            _read_file(path, fmt, summary, recordings, kline_files, exchange=exchange,
                       market=mkt, symbol=symbol, skip_bad_lines=skip_bad_lines)  # fmt: skip
        except DataFormatError as e:
            problems.append(str(e))
    _refuse(problems, len(files), "could not be read")

    for kline_exchange, kline_symbol, kf in kline_files:
        kind = bar_kind(kf.timeframe)
        found: list[tuple[np.void, np.void]] = []
        new = store.write(kline_exchange, kline_symbol, kind, kf.bars, conflicts=found)
        summary.add(kline_exchange, kline_symbol, kind, int(kf.bars.shape[0]), new)
        summary.conflicts.extend(
            Conflict(kf.path, kline_exchange, kline_symbol, kind, iso(int(stored["ts"])),
                     [float(stored[k]) for k in BAR_VALUES], [float(bar[k]) for k in BAR_VALUES])
            for stored, bar in found
        )  # fmt: skip

    _import_recordings(store, recordings, summary)
    return summary


def _refuse(problems: list[str], n_files: int, what: str) -> None:
    if problems:
        listed = "\n  ".join(problems)
        raise DataFormatError(
            f"{len(problems)} of {n_files} file(s) {what}; nothing was imported:\n  {listed}"
        )


def _read_file(path: Path, fmt: str, summary: ImportSummary,
               recordings: list[tuple[Recording, str]],
               kline_files: list[tuple[str, str, klines.KlineFile]], *, exchange: str | None,
               market: Market | None, symbol: str | None, skip_bad_lines: bool) -> None:  # fmt: skip
    """Parse one file (nothing is written yet) into ``recordings`` or ``kline_files``."""
    report = FileReport(path=str(path), format=fmt)
    summary.files.append(report)
    if fmt == "binance-ws":
        recs, rec_summary = read_recording(
            path, market=market, symbol=symbol, skip_bad_lines=skip_bad_lines
        )
        report.records = rec_summary.messages
        report.skipped = dict(rec_summary.skipped)
        recordings.extend((r, exchange or r.exchange) for r in recs)
    else:
        if fmt == "freqtrade-feather":
            parsed = [klines.read_freqtrade_feather(path)]
        elif fmt == "freqtrade-json":
            parsed = [klines.read_freqtrade_json(path)]
        elif fmt == "cryptodatadownload-csv":
            parsed = [klines.read_cryptodatadownload_csv(path, path.read_text())]
        else:
            parsed = klines.read_binance_public(path, market)
        for kf in parsed:
            kf.bars, dropped = klines.validate_bars(kf.bars, kf.timeframe, kf.path)
            if dropped:
                kf.skipped["duplicate bars"] = dropped
                report.skipped["duplicate bars"] = report.skipped.get("duplicate bars", 0) + dropped
            report.records += int(kf.bars.shape[0])
            if symbol is not None:
                kf.symbol = symbol
            if exchange is not None:
                kf.exchange = exchange
            if kf.symbol is None:
                raise DataFormatError("cannot tell the symbol; pass --symbol", path=kf.path)
            if kf.exchange is None:
                raise DataFormatError(
                    "cannot tell the exchange from the file or folder names; pass --exchange",
                    path=kf.path,
                )
            kline_files.append((kf.exchange, kf.symbol, kf))


def _import_recordings(
    store: Store, recordings: list[tuple[Recording, str]], summary: ImportSummary
) -> None:
    groups: dict[tuple[str, str], list[Recording]] = {}
    for rec, exchange in recordings:
        groups.setdefault((exchange, rec.symbol), []).append(rec)
    for (exchange, symbol), recs in sorted(groups.items()):
        recs.sort(key=lambda r: r.first_local_ts)
        had_book = bool(store.partitions(exchange, symbol, "book"))
        for kind in ("trades", "bbo", "book"):
            for rec in recs:
                records = getattr(rec, kind)
                new = store.write(exchange, symbol, kind, records)
                summary.add(exchange, symbol, kind, int(records.shape[0]), new)
        batch_gaps, in_order = _batch_incidents(recs, summary)
        lo = min(r.first_local_ts for r in recs)
        hi = max(r.last_local_ts for r in recs)
        _rebuild_second_bars(store, exchange, symbol, lo, hi, summary)
        if not had_book and in_order:
            # The store now holds exactly this batch, in this order: its gaps are the batch's.
            store.replace(exchange, symbol, "gaps", batch_gaps)
        else:
            rebuild_book_gaps(store, exchange, symbol)


def _batch_incidents(recs: list[Recording], summary: ImportSummary) -> tuple[np.ndarray, bool]:
    """Sync this import's depth rows (files in time order); report problems by file and line.

    Returns the gaps as ``gap_dt`` rows, and whether the batch's rows were already in time order.
    """
    book = np.concatenate([r.book for r in recs])
    in_order = bool(np.all(book["local_ts"][1:] >= book["local_ts"][:-1]))
    if book.shape[0] == 0:
        return np.empty(0, gap_dt), in_order
    lines = np.concatenate([r.book_lines for r in recs])
    owners = np.concatenate([np.full(r.book.shape[0], i) for i, r in enumerate(recs)])
    incidents = sync_book(book, recs[0].market != "spot").incidents
    for row, kind, expected, found, ts, resync in incidents:
        rec = recs[int(owners[row])]
        summary.incidents.append(
            Incident(
                symbol=rec.symbol,
                kind=INCIDENT_NAMES[int(kind)],
                path=rec.path,
                line=int(lines[row]),
                expected_id=int(expected),
                found_id=int(found),
                time=iso(int(ts)),
                resync_time=iso(int(resync)) if resync >= 0 else None,
            )
        )
    return _gap_records(incidents), in_order


def _gap_records(incidents: np.ndarray) -> np.ndarray:
    gaps = np.empty(incidents.shape[0], gap_dt)
    if incidents.shape[0]:
        gaps["local_ts"] = incidents[:, 4]
        gaps["resync_ts"] = np.where(incidents[:, 5] >= 0, incidents[:, 5], NO_TS)
        gaps["expected_id"] = incidents[:, 2]
        gaps["found_id"] = incidents[:, 3]
        gaps["line"] = -1
    return gaps


def rebuild_book_gaps(store: Store, exchange: str, symbol: str) -> np.ndarray:
    """Recompute the ``gaps`` series of a symbol from its whole stored book."""
    book = store.read(exchange, symbol, "book")
    incidents = sync_book(book, market_of(symbol) != "spot").incidents
    gaps = _gap_records(incidents)
    store.replace(exchange, symbol, "gaps", gaps)
    return gaps


def _rebuild_second_bars(
    store: Store, exchange: str, symbol: str, lo_ns: int, hi_ns: int, summary: ImportSummary
) -> None:
    trades = store.read(
        exchange, symbol, "trades", lo_ns - _REBUILD_MARGIN_NS, hi_ns + _REBUILD_MARGIN_NS
    )
    bars = complete_bars_from_trades(trades, timeframe_ns("1s"))
    new = store.write(exchange, symbol, "bars_1s", bars)
    summary.add(exchange, symbol, "bars_1s", int(bars.shape[0]), new)


__all__ = ["ImportSummary", "detect_format", "expand_paths", "import_paths", "sync_book"]
