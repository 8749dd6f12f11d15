"""The public feature functions, reading from a store."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmts.config import FeatureConfig
from mmts.core.schema import REPLAY_FIELDS
from mmts.core.stores import MarketData, require_market_data
from mmts.core.symbols import market_of
from mmts.core.time import to_ns
from mmts.features.cob import cob_frame, cob_from_rows, whole_seconds


def cob(
    store: MarketData,
    symbol: str,
    start: object = None,
    end: object = None,
    bucket_usd: float | None = None,
    n_buckets: int = 20,
    *,
    config: FeatureConfig | None = None,
    exchange: str | None = None,
) -> pd.DataFrame:
    """Return COB features of ``symbol``, one row per whole second ``t`` in ``[start, end)``.

    Each row describes the book after every event received at or before ``t`` (the book
    replay's rules): 41 ``bid_usd_k`` and ``ask_usd_k`` buckets (USD notional per bucket of
    ``bucket_usd`` around the mid; NaN beyond the deepest known level), ``imbalance`` (the latest
    sample at or before ``t`` over offsets -5..5) and ``imbalance_ma_{1,5,15,60}s``. Rows where
    the book is not valid are NaN. Seconds run from the first to the last stored book event.

    Parameters
    ----------
    store : an ``mmts.data.Store``.
    symbol : unified symbol.
    start, end : time range (ISO strings, Timestamps or int ns); end is exclusive.
    bucket_usd : bucket width; the config's width for the symbol when None.
    n_buckets : buckets each side of the centre.
    config : feature configuration (imbalance offsets and windows, default widths).
    exchange : needed only when several exchanges hold the symbol.
    """
    require_market_data(store, "mmts.features.cob")
    cfg = config or FeatureConfig()
    width = cfg.bucket_width(symbol) if bucket_usd is None else float(bucket_usd)
    if width <= 0:
        raise ValueError(f"bucket_usd must be positive; was {bucket_usd}")
    start_ns, end_ns = to_ns(start), to_ns(end)
    rows = store.book_events(symbol, None, end_ns, exchange=exchange, fields=REPLAY_FIELDS)
    if rows.shape[0] == 0:
        times = np.empty(0, np.int64)
    else:
        first = (
            int(rows["local_ts"].min())
            if start_ns is None
            else max(start_ns, int(rows["local_ts"].min()))
        )
        last = (
            int(rows["local_ts"].max())
            if end_ns is None
            else min(end_ns - 1, int(rows["local_ts"].max()))
        )
        times = whole_seconds(first, last)
    bid, ask, _mid, imb, ma = cob_from_rows(
        rows, times, width, n_buckets, cfg.imbalance_buckets, cfg.imbalance_windows_s,
        cfg.book_stale_s, is_futures=market_of(symbol) != "spot",
    )  # fmt: skip
    return cob_frame(bid, ask, imb, ma, times, n_buckets, cfg.imbalance_windows_s)
