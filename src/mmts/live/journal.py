"""The session's journal: one JSON line per decision, fill and status, for whoever watches.

``<out>/journal.jsonl`` is what a dashboard tails to show a session as it trades (the ledger is
the record; it is flushed once a second, too slowly for a marker to follow its decision). The
decision loop only appends a dict to a queue; a thread writes each batch of lines as soon as
it is queued. A reader that is slow, gone or never there changes nothing for the session, and a
failed write is counted and logged, never raised into the loop.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

JOURNAL_FILE = "journal.jsonl"


def _plain(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null (JSON has neither), in lists too."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class Journal:
    """Append-only JSON lines written off the decision loop."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / JOURNAL_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._queue: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self.failed_writes = 0
        self._thread = threading.Thread(target=self._run, name="journal", daemon=True)
        self._thread.start()

    def write(self, kind: str, **fields: Any) -> None:
        """Queue one line (``{"type": kind, ...}``); returns at once."""
        self._queue.put({"type": kind, **{k: _plain(v) for k, v in fields.items()}})

    def _run(self) -> None:
        """Wait for a line, take whatever else is queued by then, write them together."""
        stopping = False
        while not stopping:
            items = [self._queue.get()]
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stopping = None in items
            try:
                lines = [json.dumps(i, separators=(",", ":"), default=str, allow_nan=False)
                         for i in items if i is not None]  # fmt: skip
                if lines:
                    with self.path.open("a") as f:
                        f.write("\n".join(lines) + "\n")
            except Exception:  # a watcher's view is lost, never the session: counted and logged
                self.failed_writes += 1
                log.exception("journal %s: %d line(s) not written", self.path, len(items))

    def close(self, timeout_s: float = 5.0) -> None:
        """Write what is queued and stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout_s)


def read_journal(path: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Return the complete lines after byte ``offset`` and the offset to read on from.

    A line still being written (no newline yet) is left for the next read.
    """
    if not path.exists():
        return [], offset
    with path.open("rb") as f:
        f.seek(offset)
        data = f.read()
    end = data.rfind(b"\n") + 1
    items = [json.loads(line) for line in data[:end].splitlines() if line.strip()]
    return items, offset + end
