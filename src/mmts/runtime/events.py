"""Market events the runtime consumes, from replay or from a live feed alike."""

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
    """One entry of the primary symbol's book application log (``core.sync_nb``)."""

    time: int
    code: int
    side: int = 0
    price: float = 0.0
    qty: float = 0.0


Event = BarEvent | BookEvent
