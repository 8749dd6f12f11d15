"""Time in mmts: int64 ns UTC everywhere, one strict parser, one ISO format, one wall clock.

Every module converts user-given times with :func:`to_ns` and prints them with :func:`iso`, so
a time means the same thing in a CLI flag, a notebook call and a manifest, and a report never
mixes formats. ``wall_clock_ns`` is the one place that reads the clock.
"""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pandas as pd


def wall_clock_ns() -> int:
    """Return the current UTC time in ns since the epoch."""
    return time.time_ns()


def to_ns(value: object) -> int | None:
    """Convert a time to int64 ns UTC; ``None`` (no time given) stays ``None``.

    Accepts an ISO-8601 string, ``pd.Timestamp``, ``datetime``/``date``, ``np.datetime64`` or an
    int of ns since the epoch. A naive time is UTC. Anything else (``True``, a float, ``"NaT"``,
    an unreadable string) is a ``ValueError`` naming the value: a typo must never become a
    backtest of 1677 or of the epoch's first nanosecond.

    Examples
    --------
    >>> to_ns("2024-08-09T00:00:00Z")
    1723161600000000000
    >>> to_ns("2024-08-09 02:00+02:00") == to_ns("2024-08-09")
    True
    """
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"cannot read {value!r} as a time: a boolean is not a time")  # noqa: TRY004
    if isinstance(value, (int, np.integer)):
        return int(value)
    if not isinstance(value, (str, dt.date, np.datetime64, pd.Timestamp)):
        raise ValueError(  # noqa: TRY004 - callers report every bad time as a ValueError
            f"cannot read {value!r} ({type(value).__name__}) as a time: give an ISO string, "
            "a datetime or int ns since the epoch"
        )
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError) as e:
        raise ValueError(f"cannot read {value!r} as a time: {e}") from e
    if pd.isna(stamp):
        raise ValueError(f"cannot read {value!r} as a time: it is not-a-time")
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return int(stamp.tz_convert("UTC").as_unit("ns").value)


def require_ns(value: object, what: str = "time") -> int:
    """:func:`to_ns` for a time that must be given; ``what`` names it in the error."""
    ns = to_ns(value)
    if ns is None:
        raise ValueError(f"{what} is required")
    return ns


def iso(ns: int) -> str:
    """Format int ns UTC as ISO 8601 with a ``Z``: seconds, plus the fraction only if any.

    Examples
    --------
    >>> iso(1723161600000000000)
    '2024-08-09T00:00:00Z'
    >>> iso(1723161600250000000)
    '2024-08-09T00:00:00.250Z'
    """
    ns = int(ns)
    whole, frac = divmod(ns, 10**9)
    text = str(np.datetime64(whole, "s"))
    if frac:  # milli-, micro- or nanoseconds: as many digits as the value needs
        digits = 3 if frac % 10**6 == 0 else 6 if frac % 10**3 == 0 else 9
        text += "." + f"{frac:09d}"[:digits]
    return text + "Z"


def iso_or_none(ns: int | None) -> str | None:
    """:func:`iso`, or ``None`` for no time (a missing start or end in a report)."""
    return None if ns is None else iso(ns)


def time_problem(value: str) -> str | None:
    """Say why ``value`` is not a time :func:`to_ns` reads (None: it is); a setting's check."""
    try:
        to_ns(value)
    except ValueError as e:
        return str(e)
    return None
