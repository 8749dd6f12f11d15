"""What layers above the data read from a store: small protocols, so they never import it.

Features sit beside ``mmts.data``, not above it, and models and backtests need only part of a
store; they take these protocols, which ``mmts.data.Store`` satisfies (the type checker checks
that wherever a store is passed; :func:`require_market_data` checks it once at run time where
a user hands one in).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd


class StreamLike(Protocol):
    """One stored series, as a store lists it."""

    @property
    def exchange(self) -> str:
        """The exchange id (ccxt's)."""
        ...

    @property
    def symbol(self) -> str:
        """The unified symbol."""
        ...

    @property
    def kind(self) -> str:
        """``trades``, ``book``, ``bbo``, ``gaps``, ``bars_<timeframe>`` or ``features_...``."""
        ...


@runtime_checkable
class MarketData(Protocol):
    """Bars and depth rows by symbol and time: what model inputs and labels are built from."""

    root: Path

    def bars(self, symbol: str, timeframe: str, start: object = None, end: object = None, *,
             exchange: str | None = None, with_trades: bool = False) -> pd.DataFrame:  # fmt: skip
        """Return OHLCV bars with open time in ``[start, end)`` (UTC index)."""
        ...

    def book_events(self, symbol: str, start: object = None, end: object = None, *,
                    exchange: str | None = None, fields: tuple[str, ...] | None = None,
                    ) -> np.ndarray:  # fmt: skip
        """Return stored depth rows (``core.schema.book_dt``) received in ``[start, end)``."""
        ...


@runtime_checkable
class FeatureStore(MarketData, Protocol):
    """A store that lists its series and keeps derived feature tables (``mmts features build``)."""

    def streams(self) -> Sequence[StreamLike]:
        """List every stored series."""
        ...

    def write_frame(self, exchange: str, symbol: str, kind: str, frame: pd.DataFrame) -> int:
        """Store a derived table indexed by UTC time; return the rows written."""
        ...


def require_market_data(candidate: Any, what: str) -> MarketData:
    """Return ``candidate`` if it offers :class:`MarketData`, else raise ``TypeError`` naming ``what``."""
    if not isinstance(candidate, MarketData):
        raise TypeError(
            f"{what} reads a market-data store (mmts.data.open_store(...)); got "
            f"{type(candidate).__name__}, which lacks bars/book_events/root"
        )
    return candidate
