"""Market events the runtime consumes, from replay or from a live feed alike.

Named tuples, not dataclasses: a live book message makes dozens of them and a replay millions,
and a tuple is built several times faster than a frozen dataclass.

In core because both the data layer (the live book sync emits ``BookEvent``) and the runtime
use them.
"""

from __future__ import annotations

from typing import NamedTuple


class BarEvent(NamedTuple):
    """A closed bar, delivered at its close ``time`` (open + length)."""

    time: int
    symbol: str
    timeframe: str
    open_ns: int
    ohlcv: tuple[float, float, float, float, float]


class BookEvent(NamedTuple):
    """One entry of a book application log (``core.sync_nb``).

    A level update (``code`` >= 0: the row it came from) or a ``LOG_*`` marker.
    """

    time: int
    code: int
    side: int = 0
    price: float = 0.0
    qty: float = 0.0


Event = BarEvent | BookEvent
