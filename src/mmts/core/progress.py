"""One line per long step, on stderr: what runs now, how much of it there is, how long it took.

Commands that take minutes (training, a backtest's replay) say what they do as they go, so a
silent terminal never means "hung". Lines start with ``[mmts]``; nothing is printed unless the
caller asked for progress.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def note(message: str, *, stream: TextIO | None = None) -> None:
    """Print ``[mmts] message`` on stderr (or ``stream``) at once."""
    print(f"[mmts] {message}", file=stream or sys.stderr, flush=True)


def duration(seconds: float) -> str:
    """Return ``seconds`` as a person reads it: ``42 s``, ``3 min 5 s``, ``1 h 2 min``."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


class Stopwatch:
    """Elapsed time and an estimate of what is left, from the share done so far."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        """Seconds since the stopwatch started."""
        return time.perf_counter() - self.started

    def left(self, done: float, total: float) -> float:
        """Seconds left when ``done`` of ``total`` took :meth:`elapsed` (a straight line)."""
        return self.elapsed() * (total - done) / done if done > 0 else float("nan")
