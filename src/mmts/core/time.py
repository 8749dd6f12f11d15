"""The one place that reads the wall clock; everything else takes time as an argument."""

from __future__ import annotations

import time


def wall_clock_ns() -> int:
    """Return the current UTC time in ns since the epoch."""
    return time.time_ns()
