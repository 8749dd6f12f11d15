"""Compute features for a store's symbols and store them beside the data (``mmts features build``)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from mmts.config import FeatureConfig
from mmts.core.stores import FeatureStore
from mmts.core.time import iso
from mmts.features.api import cob
from mmts.features.pivots import pivots

#: Timeframes whose bars get pivots stored.
PIVOT_TIMEFRAMES = ("1m", "1h", "1d")


def build_features(
    store: FeatureStore,
    symbols: list[str] | None = None,
    start: object = None,
    end: object = None,
    *,
    config: FeatureConfig | None = None,
) -> list[dict[str, Any]]:
    """Compute COB rows (symbols with order-book data) and pivots (1m/1h/1d bars) into the store.

    COB rows go to ``features_cob``; pivots to ``features_pivots_<tf>`` indexed by
    confirmation time. Returns one summary entry per table written: symbol, kind, rows, start,
    end and (for COB) how many rows are NaN because the book was not valid.
    """
    cfg = config or FeatureConfig()
    keys = store.streams()
    wanted = symbols or sorted(
        {k.symbol for k in keys if k.kind == "book" or k.kind.startswith("bars_")}
    )
    summary: list[dict[str, Any]] = []
    for symbol in wanted:
        held = {k.kind: k.exchange for k in keys if k.symbol == symbol}
        if not held:
            raise KeyError(f"store {store.root} holds nothing for {symbol}")
        if "book" in held:
            frame = cob(store, symbol, start, end, config=cfg, exchange=held["book"])
            if len(frame):
                store.write_frame(held["book"], symbol, "features_cob", frame)
            summary.append(
                _entry(symbol, "features_cob", frame, int(frame["bid_usd_0"].isna().sum()))
            )
        for tf in PIVOT_TIMEFRAMES:
            kind = f"bars_{tf}"
            if kind not in held:
                continue
            bars = store.bars(symbol, tf, start, end, exchange=held[kind])
            table = pivots(bars, cfg.pivot_levels, strength=cfg.pivot_strength)
            indexed = table.set_index(pd.DatetimeIndex(table["confirmed_time"], name="confirmed"))
            if len(indexed):
                store.write_frame(held[kind], symbol, f"features_pivots_{tf}", indexed)
            summary.append(_entry(symbol, f"features_pivots_{tf}", indexed, None))
    return summary


def _entry(symbol: str, kind: str, frame: pd.DataFrame, invalid: int | None) -> dict[str, Any]:
    index = pd.DatetimeIndex(frame.index)
    entry: dict[str, Any] = {
        "symbol": symbol,
        "kind": kind,
        "rows": len(frame),
        "start": iso(index[0].value) if len(frame) else None,
        "end": iso(index[-1].value) if len(frame) else None,
    }
    if invalid is not None:
        entry["invalid_rows"] = invalid
    return entry


__all__ = ["build_features"]
