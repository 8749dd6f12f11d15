"""Timeframe strings (``1s``, ``1m``, ``1h``, ``1d``) and their lengths in nanoseconds."""

from __future__ import annotations

import re

NS_PER_SECOND = 1_000_000_000
_UNIT_NS = {
    "s": NS_PER_SECOND,
    "m": 60 * NS_PER_SECOND,
    "h": 3600 * NS_PER_SECOND,
    "d": 86400 * NS_PER_SECOND,
    "w": 7 * 86400 * NS_PER_SECOND,
}
_TIMEFRAME_RE = re.compile(r"^([1-9][0-9]*)([smhdw])$")

#: The timeframes every model input uses.
STANDARD_TIMEFRAMES = ("1s", "1m", "1h", "1d")


def timeframe_ns(timeframe: str) -> int:
    """Return the length of ``timeframe`` in nanoseconds.

    Examples
    --------
    >>> timeframe_ns("1m")
    60000000000
    """
    match = _TIMEFRAME_RE.match(timeframe)
    if match is None:
        raise ValueError(f"timeframe must look like '1s', '5m', '1h' or '1d'; was {timeframe!r}")
    return int(match.group(1)) * _UNIT_NS[match.group(2)]


def bar_kind(timeframe: str) -> str:
    """Return the store kind holding bars of ``timeframe`` (``'bars_1m'``)."""
    timeframe_ns(timeframe)
    return f"bars_{timeframe}"
