"""Derived feature tables in the store: DataFrames by UTC time, one partition a day.

``mmts features build`` writes them (kinds starting with ``features_``); a day is replaced
atomically, and rows outside a new frame's span are kept.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mmts.core.errors import UnknownSymbolError
from mmts.core.symbols import market_of
from mmts.core.time import to_ns
from mmts.data.partitions import PartitionStore


def write_frame(
    store: PartitionStore, exchange: str, symbol: str, kind: str, frame: pd.DataFrame
) -> int:
    """Store a derived table (``kind`` starting with ``features_``), indexed by UTC time.

    Rows inside ``frame``'s time span replace the stored rows of that span; rows outside it
    are kept, and each day's partition is replaced atomically. Returns the rows written.
    """
    if not kind.startswith("features_"):
        raise ValueError(f"derived tables use kinds starting with 'features_'; was {kind!r}")
    market_of(symbol)
    index = pd.DatetimeIndex(frame.index)
    if index.tz is None:
        raise ValueError("feature frames must be indexed by tz-aware UTC times")
    folder = store.kind_dir(exchange, symbol, kind)
    index = index.tz_convert("UTC")
    days = index.floor("D")
    lo, hi = index.min(), index.max()
    with store.locked():
        for day in days.unique():
            part = frame[days == day]
            path = folder / f"{day:%Y-%m-%d}.parquet"
            if path.exists():
                old = pq.read_table(path).to_pandas()
                old_index = pd.DatetimeIndex(old.index).tz_convert("UTC")
                keep = old[(old_index < lo) | (old_index > hi)]
                part = pd.concat([keep, part]).sort_index(kind="stable")
            table = pa.Table.from_pandas(part, preserve_index=True)
            store.write_table(folder / f"{day:%Y-%m-%d}.parquet", table, kind)
    return len(frame)


def read_frame(
    store: PartitionStore,
    exchange: str,
    symbol: str,
    kind: str,
    start: object = None,
    end: object = None,
) -> pd.DataFrame:
    """Read a derived table written by :func:`write_frame`, rows in ``[start, end)``."""
    parts = [pq.read_table(p).to_pandas() for p in store.partitions(exchange, symbol, kind)]
    if not parts:
        raise UnknownSymbolError(f"store {store.root} has no {kind} for {symbol} on {exchange}")
    frame = pd.concat(parts).sort_index()
    lo, hi = to_ns(start), to_ns(end)
    keep = np.ones(len(frame), bool)
    times = pd.DatetimeIndex(frame.index).as_unit("ns").asi8
    if lo is not None:
        keep &= times >= lo
    if hi is not None:
        keep &= times < hi
    out: pd.DataFrame = frame[keep]
    return out
