"""The data contract: one numpy record dtype per market-data kind.

Every timestamp is int64 nanoseconds since the Unix epoch, UTC. ``local_ts`` is when the
recorder received the message; ``exch_ts`` is the exchange's own time for the event (for
futures depth the matching-engine time ``T``, else the event time ``E``). A source without a
time stores :data:`NO_TS`, which pandas reads as ``NaT``.

The Parquet store (``mmts.data.store``) writes exactly these fields as columns, in this order.
"""

from __future__ import annotations

import numpy as np

#: Missing timestamp. Equal to pandas' ``NaT`` integer value, so conversion is free.
NO_TS: int = int(np.iinfo(np.int64).min)
#: Missing exchange id (trade id, update id).
NO_ID: int = -1

#: A trade print.
#: ``local_ts``/``exch_ts``: receive time / trade time (ns); ``trade_id``: exchange trade id
#: (``NO_ID`` if unknown); ``price``: quote currency per base unit; ``qty``: base units (contracts
#: on inverse markets); ``side``: aggressor, +1 taker buy, -1 taker sell (``Side``).
trade_dt = np.dtype(
    [
        ("local_ts", np.int64),
        ("exch_ts", np.int64),
        ("trade_id", np.int64),
        ("price", np.float64),
        ("qty", np.float64),
        ("side", np.int8),
    ]
)

#: One price level of an L2 depth message (diff or snapshot); a message spans several rows.
#: ``local_ts``: the time the event could first be applied to a local book, i.e. its receive time,
#: raised to the snapshot's receive time for diffs buffered while waiting for a snapshot;
#: ``exch_ts``: exchange time; ``first_id``/``last_id``: the message's update-id range (``U``/``u``,
#: both ``lastUpdateId`` for a snapshot); ``prev_id``: futures ``pu`` (``NO_ID`` on spot);
#: ``side``: +1 bid, -1 ask; ``price``/``qty``: the level's new absolute quantity, 0 removes it;
#: ``flags``: ``BookFlag`` bits (snapshot, last row of its message, invalid after a gap).
book_dt = np.dtype(
    [
        ("local_ts", np.int64),
        ("exch_ts", np.int64),
        ("first_id", np.int64),
        ("last_id", np.int64),
        ("prev_id", np.int64),
        ("side", np.int8),
        ("price", np.float64),
        ("qty", np.float64),
        ("flags", np.uint8),
    ]
)

#: The fields a book replay reads (``book_dt`` without the exchange time): a day of two
#: symbols' depth is ~14 % smaller in memory read this way.
REPLAY_FIELDS = tuple(n for n in book_dt.names or () if n != "exch_ts")

#: Best bid and offer (Binance ``bookTicker``).
#: ``update_id``: the book update id it reflects; ``bid_px``/``bid_qty``/``ask_px``/``ask_qty``:
#: the top of book, quote per base and base units.
bbo_dt = np.dtype(
    [
        ("local_ts", np.int64),
        ("exch_ts", np.int64),
        ("update_id", np.int64),
        ("bid_px", np.float64),
        ("bid_qty", np.float64),
        ("ask_px", np.float64),
        ("ask_qty", np.float64),
    ]
)

#: An OHLCV bar. ``ts``: bar open time (ns, UTC); ``open``/``high``/``low``/``close``: trade
#: prices; ``volume``: base units traded; ``trades``: trade count (-1 if the source does not say).
#: A bar without trades has volume 0 and open = high = low = close = the previous close, exactly
#: as Binance klines do; it carries no price information and resampling skips it for OHLC.
bar_dt = np.dtype(
    [
        ("ts", np.int64),
        ("open", np.float64),
        ("high", np.float64),
        ("low", np.float64),
        ("close", np.float64),
        ("volume", np.float64),
        ("trades", np.int64),
    ]
)

#: A detected break in a book's update-id sequence (or a crossed book), one row per incident.
#: ``local_ts``: receive time of the first message that could not be applied; ``resync_ts``: the
#: snapshot that made the book valid again (``NO_TS`` if none followed); ``expected_id``: the id
#: continuity required; ``found_id``: what the message carried; ``line``: 1-based line in the
#: source file. The source file name is kept beside it in the store.
gap_dt = np.dtype(
    [
        ("local_ts", np.int64),
        ("resync_ts", np.int64),
        ("expected_id", np.int64),
        ("found_id", np.int64),
        ("line", np.int64),
    ]
)

#: Every kind the store knows, keyed by name. Bar kinds are ``bars_<timeframe>``.
EVENT_DTYPES: dict[str, np.dtype] = {"trades": trade_dt, "book": book_dt, "bbo": bbo_dt}
