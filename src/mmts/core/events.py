"""Market events the runtime consumes, from replay or from a live feed alike.

In core because both the data layer (the live book sync emits ``BookEvent``) and the runtime
use them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BarEvent:
    """A closed bar, delivered at its close ``time`` (open + length)."""

    time: int
    symbol: str
    timeframe: str
    open_ns: int
    ohlcv: tuple[float, float, float, float, float]


@dataclass(frozen=True, slots=True)
class BookEvent:
    """One entry of a book application log (``core.sync_nb``).

    A level update (``code`` >= 0: the row it came from) or a ``LOG_*`` marker.
    """

    time: int
    code: int
    side: int = 0
    price: float = 0.0
    qty: float = 0.0


Event = BarEvent | BookEvent
