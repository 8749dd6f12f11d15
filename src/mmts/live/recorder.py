"""``mmts record``: live Binance traffic to the raw format the importer reads.

One gzip file per symbol and UTC day, ``<out>/<symbol>_<YYYYMMDD>.gz``, one message per line:
``<local receive time in ns> <raw JSON>`` -- the combined-stream frames as received (diff depth,
trades, best bid/ask) and a REST depth snapshot line after every (re)connect and id gap, so each
file can be replayed by ``mmts data import`` exactly as ``../shared/data/binance-ws`` is.

Lines are buffered and appended once a second as a complete gzip member (a crash loses at most
that second, never what was written). Within a batch they are ordered by receive time, and a
line never goes before the last one written: the snapshot answer and the stream arrive on two
connections, so while a symbol's snapshot is asked for its lines wait (up to ``MAX_HOLD_S``) and
the answer goes among them by its stamp.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import os
import signal
import time
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmts.core.enums import FLAG_SNAPSHOT
from mmts.live.feed import FeedConfig, MarketFeed

log = logging.getLogger(__name__)


#: Seconds a symbol's lines wait for its snapshot before they are written anyway (REST down).
MAX_HOLD_S = 10.0


class DailyFiles:
    """Append ``<stamp> <text>`` lines to ``<out>/<symbol>_<YYYYMMDD>.gz`` by receive day."""

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.pending: dict[str, list[tuple[int, int, str]]] = {}
        self.last_written: dict[str, int] = {}
        self.order = 0
        self.lines = 0
        self.files: set[Path] = set()

    def add(self, stamp: int, symbol: str, text: str) -> None:
        """Queue one line (written at the next :meth:`flush`)."""
        self.order += 1
        self.pending.setdefault(symbol, []).append((int(stamp), self.order, text))

    def flush(self, hold: Collection[str] = ()) -> None:
        """Append every queued line as one gzip member per file, and fsync.

        Symbols in ``hold`` keep their lines queued: their snapshot was asked for, and its line
        belongs among the frames received meanwhile, not after them.
        """
        for symbol, items in self.pending.items():
            if not items or symbol in hold:
                continue
            items.sort()
            by_file: dict[Path, list[str]] = {}
            last = self.last_written.get(symbol, 0)
            for stamp, _, text in items:
                last = max(last, stamp)
                day = pd.Timestamp(last, tz="UTC").strftime("%Y%m%d")
                path = self.out / f"{symbol.lower()}_{day}.gz"
                by_file.setdefault(path, []).append(f"{last} {text}\n")
            self.last_written[symbol] = last
            for path, lines in by_file.items():
                with path.open("ab") as handle:
                    handle.write(gzip.compress("".join(lines).encode()))
                    handle.flush()
                    os.fsync(handle.fileno())
                self.files.add(path)
                self.lines += len(lines)
            items.clear()


@dataclass
class _Continuity:
    last_u: int = -1
    bridged: bool = False
    #: ``(first, last, prev)`` ids of the latest diffs: a snapshot often arrives after the diff
    #: that bridges it (a REST answer lags the stream), so the bridge is looked for among these.
    recent: deque[tuple[int, int, int]] = field(default_factory=lambda: deque(maxlen=5000))

    def advance(self, first: int, last: int, prev: int) -> bool:
        """Take one diff; return False when it breaks the chain of ids."""
        if self.last_u < 0 or last <= self.last_u:
            return True  # before any snapshot, or already covered by it
        follows = (prev == self.last_u) if prev >= 0 else (first == self.last_u + 1)
        bridges = first <= self.last_u + 1 <= last
        if follows or (not self.bridged and bridges):
            self.last_u, self.bridged = last, True
            return True
        return False


@dataclass
class Recorder:
    """The feed's sink while recording: asks for a snapshot whenever depth ids break."""

    feed: MarketFeed | None = None
    books: dict[str, _Continuity] = field(default_factory=dict)
    gaps: int = 0

    def on_depth(self, symbol: str, rows: np.ndarray) -> None:
        """Check update-id continuity; a break asks for a fresh snapshot (written to the file)."""
        book = self.books.setdefault(symbol, _Continuity())
        first, last = int(rows["first_id"][0]), int(rows["last_id"][0])
        if rows["flags"][0] & FLAG_SNAPSHOT:
            book.last_u, book.bridged = last, False
            for ids in book.recent:  # diffs received before it that already bridge and follow it
                if not book.advance(*ids):
                    book.last_u, book.bridged = last, False
                    break
            book.recent.clear()
            return
        prev = int(rows["prev_id"][0])
        book.recent.append((first, last, prev))
        if book.advance(first, last, prev):
            return
        self.gaps += 1
        book.last_u = -1
        if self.feed is not None and self.feed.connected:
            self.feed.request_snapshot(symbol)

    def on_trade(self, symbol: str, record: np.ndarray) -> None:
        """Trades need no bookkeeping: the raw frame is already queued."""

    def on_connection(self, up: bool, stamp: int, reason: str) -> None:
        """After a drop the ids restart from a new snapshot (the feed asks for one)."""
        if not up:
            for book in self.books.values():
                book.last_u = -1
                book.recent.clear()


async def record(cfg: FeedConfig, out: Path, *, duration_s: float | None = None,
                 stop: asyncio.Event | None = None, flush_every_s: float = 1.0) -> dict[str, Any]:  # fmt: skip
    """Record until ``stop``, ``duration_s`` or Ctrl-C; return what was written."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    files = DailyFiles(out)
    recorder = Recorder()
    feed = MarketFeed(cfg, recorder, raw=files.add)
    recorder.feed = feed
    started = time.monotonic()

    held_since: dict[str, float] = {}

    async def flusher() -> None:
        while True:
            await asyncio.sleep(flush_every_s)
            now = time.monotonic()
            for symbol in list(held_since):
                if symbol not in feed.pending:
                    del held_since[symbol]
            for symbol in feed.pending:
                held_since.setdefault(symbol, now)
            files.flush(hold={s for s, t in held_since.items() if now - t < MAX_HOLD_S})
            if duration_s is not None and time.monotonic() - started >= duration_s:
                stop.set()

    task = loop.create_task(flusher())
    try:
        await feed.run(stop)
    finally:
        task.cancel()
        files.flush()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
    return {
        "out": str(out), "files": sorted(str(p) for p in files.files), "lines": files.lines,
        "frames": feed.frames, "snapshots": feed.snapshots, "reconnects": feed.reconnects,
        "gaps": recorder.gaps, "malformed": feed.malformed,
    }  # fmt: skip
