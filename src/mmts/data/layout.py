"""What the store's files hold: the kinds, their record dtypes and their time partitions.

``kind`` is ``trades``, ``book``, ``bbo``, ``gaps`` or ``bars_<timeframe>``. A partition is a
UTC day (``2024-08-08``) for events and sub-minute bars, a month (``2024-08``) for bars up to
an hour and a year (``2024``) for longer bars.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from mmts.core.schema import EVENT_DTYPES, bar_dt, gap_dt
from mmts.core.symbols import market_of
from mmts.core.timeframes import NS_PER_SECOND, timeframe_ns

_MINUTE_NS = 60 * NS_PER_SECOND
_HOUR_NS = 3600 * NS_PER_SECOND


def kind_dtype(kind: str) -> np.dtype:
    """Return the record dtype stored for ``kind``."""
    if kind in EVENT_DTYPES:
        return EVENT_DTYPES[kind]
    if kind == "gaps":
        return gap_dt
    if kind.startswith("bars_"):
        timeframe_ns(kind.removeprefix("bars_"))
        return bar_dt
    raise ValueError(
        f"kind must be one of trades, book, bbo, gaps or bars_<timeframe>; was {kind!r}"
    )


def time_field(kind: str) -> str:
    """Return the column a kind is partitioned and sorted on."""
    return "ts" if kind.startswith("bars_") else "local_ts"


def period_unit(kind: str) -> str:
    """Return the numpy datetime unit of a kind's partitions: ``D``, ``M`` or ``Y``."""
    if kind.startswith("bars_"):
        step = timeframe_ns(kind.removeprefix("bars_"))
        if step < _MINUTE_NS:
            return "D"
        return "M" if step <= _HOUR_NS else "Y"
    return "D"


def period_name(period: np.datetime64) -> str:
    """Return a partition's file stem for ``period`` (``2024-08-08``, ``2024-08``, ``2024``)."""
    return str(period)


def period_bounds(name: str, unit: str) -> tuple[int, int]:
    """Return ``[start, end)`` in ns of the partition period called ``name``."""
    start = np.array([name], dtype=f"datetime64[{unit}]")
    bounds = np.concatenate([start, start + 1]).astype("datetime64[ns]").astype(np.int64)
    return int(bounds[0]), int(bounds[1])


def records_to_table(records: np.ndarray) -> pa.Table:
    """Convert a structured array to an Arrow table, one column per field."""
    return pa.table({name: records[name] for name in records.dtype.names or ()})


def table_to_records(table: pa.Table, dtype: np.dtype) -> np.ndarray:
    """Convert an Arrow table back to a structured array of ``dtype``."""
    out = np.empty(table.num_rows, dtype)
    for name in dtype.names or ():
        out[name] = table.column(name).to_numpy()
    return out


@dataclass(frozen=True, slots=True)
class StreamKey:
    """One stored series: an exchange, a unified symbol and a kind."""

    exchange: str
    symbol: str
    kind: str

    @property
    def market(self) -> str:
        """The market (spot, linear, inverse) the symbol trades on."""
        return market_of(self.symbol)
