"""What the API shows of a session: its journal followed as it grows, its ledger read on demand.

The journal (``live.journal``) gives each decision, fill and status line within a few hundred
milliseconds; the ledger (``history``) gives candles, the order book the inputs held, model
health, promotions, alerts and the commands applied. Both are files the session writes: the
server only reads them, so nothing here can slow or stop a session.
"""

from __future__ import annotations

import math
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmts.core.time import iso, to_ns
from mmts.history import open_ledger
from mmts.history.epochs import LedgerError
from mmts.history.monitor import ledger_health
from mmts.live.journal import JOURNAL_FILE, read_journal

#: Decisions and fills a tail keeps in memory per session (a day of 1 s decisions).
KEEP = 86_400


class JournalTail:
    """One session's journal, read on from where the last read stopped."""

    def __init__(self, out: Path) -> None:
        self.path = out / JOURNAL_FILE
        self.offset = 0
        self.decisions: deque[dict[str, Any]] = deque(maxlen=KEEP)
        self.fills: deque[dict[str, Any]] = deque(maxlen=KEEP)
        self.status: dict[str, Any] = {}
        #: Closed bars of the primary symbol by timeframe, as the session journaled them.
        self.bars: dict[str, deque[dict[str, Any]]] = {}

    def poll(self) -> list[dict[str, Any]]:
        """Read the lines written since the last poll; return them (and keep what they say)."""
        lines, self.offset = read_journal(self.path, self.offset)
        for line in lines:
            kind = line.get("type")
            if kind == "decision":
                self.decisions.append(line)
            elif kind == "fill":
                self.fills.append(line)
            elif kind == "status":
                self.status = line
            elif kind == "bar":
                self.bars.setdefault(str(line.get("timeframe")), deque(maxlen=KEEP)).append(line)
        return lines


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.floating):
        return _finite(float(value))
    if isinstance(value, np.integer):
        return int(value)
    return value


def plain(value: Any) -> Any:
    """Return ``value`` with every non-finite float as None, all the way down (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return _finite(value)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Return rows as JSON-safe dicts: times as ISO strings, NaN as null."""
    return [{str(k): (iso(int(v.value)) if isinstance(v, pd.Timestamp) else _finite(v))
             for k, v in row.items()} for row in frame.to_dict("records")]  # fmt: skip


def since(
    items: deque[dict[str, Any]] | list[dict[str, Any]], start: str | None
) -> list[dict[str, Any]]:
    """Return the journal lines whose market ``time`` is after ``start`` (ISO), with ``iso``."""
    lo = to_ns(start) if start else None
    return [{**item, "iso": iso(int(item["time"]))} for item in items
            if lo is None or int(item["time"]) > lo]  # fmt: skip


def _ledger(out: Path) -> Any:
    try:
        return open_ledger(out)
    except (LedgerError, FileNotFoundError):
        return None


def candles(
    out: Path, symbol: str, timeframe: str, start: str | None = None
) -> list[dict[str, Any]]:
    """Return the session's closed bars of ``symbol`` at ``timeframe`` (from its ledger)."""
    ledger = _ledger(out)
    return [] if ledger is None else records(ledger.bars(symbol, timeframe, start))


def book(out: Path, seconds: int = 600) -> dict[str, Any]:
    """Return the book imbalance and its MAs over the last ``seconds``, and the latest depth."""
    ledger = _ledger(out)
    rows = ledger.book() if ledger is not None else pd.DataFrame()
    if rows.empty:
        return {"time": [], "imbalance": [], "ma": [], "bid": [], "ask": []}
    rows = rows[rows["time"] >= rows["time"].iloc[-1] - pd.Timedelta(seconds, "s")]
    last = rows.iloc[-1]
    return {
        "time": [t.isoformat() for t in rows["time"]],
        "imbalance": [_finite(v) for v in rows["imbalance"]],
        "ma": [[_finite(v) for v in m] for m in rows["ma"]],
        "bid": [_finite(v) for v in last["bid"]], "ask": [_finite(v) for v in last["ask"]],
        "at": last["time"].isoformat(),
    }  # fmt: skip


def models(out: Path, window: int = 200) -> dict[str, Any]:
    """Return model health, promotions, alerts and applied commands from the ledger."""
    ledger = _ledger(out)
    if ledger is None:
        return {"health": {}, "promotions": [], "alerts": [], "commands": [], "mixture": []}
    health = ledger_health(ledger, window=window)
    mixture = ledger.predictions(model="mixture")
    return {
        "health": plain(health),
        "promotions": records(ledger.promotions()),
        "alerts": records(ledger.alerts().tail(200)),
        "commands": records(ledger.commands()),
        "mixture": records(mixture[["time", "action", "confidence", "size", "price"]].tail(2000)),
        "disk_bytes": ledger.disk_bytes(),
    }  # fmt: skip
