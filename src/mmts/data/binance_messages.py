"""One Binance message at a time, as the live feed receives it, into the store's records.

The batch reader (:mod:`mmts.data.binance_ws`) parses whole recordings with a numba kernel; a
live client gets one decoded JSON object per websocket frame. These functions turn such an
object into exactly the rows the batch reader makes from the same line (a test checks every
line of the real recordings), so a live book and a replayed one are built from equal rows.

Errors name the field: a message that lacks what Binance always sends raises
:class:`~mmts.core.errors.DataFormatError` instead of producing a half-filled row.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mmts.core.enums import FLAG_SNAPSHOT, SIDE_BUY, SIDE_SELL
from mmts.core.errors import DataFormatError
from mmts.core.schema import NO_ID, NO_TS, book_dt, trade_dt

_MS = 1_000_000


def stream_kind(stream: str) -> str:
    """Return ``depth``, ``trade``, ``bookTicker`` or the stream's own suffix."""
    suffix = stream.split("@", 1)[1] if "@" in stream else stream
    return "depth" if suffix.startswith("depth") else suffix


def stream_symbol(stream: str) -> str:
    """Return the exchange symbol a combined-stream name is about, upper case (``ETHUSDT``)."""
    return stream.split("@", 1)[0].upper()


def levels_array(levels: Any, what: str) -> np.ndarray:
    """``[[price, qty], ...]`` (decimal strings) as a float64 ``(n, 2)`` array, checked.

    ``what`` names the message in the error (which update, which side).
    """
    if not isinstance(levels, list):
        raise DataFormatError(f"{what} must be a list of [price, qty] pairs; was {levels!r:.80}")
    if not levels:
        return np.empty((0, 2))
    try:
        out = np.array(levels, dtype=np.float64)
    except (TypeError, ValueError) as e:
        bad = next((lv for lv in levels if not _is_level(lv)), levels[0])
        raise DataFormatError(f"{what} has a bad level {bad!r:.60}") from e
    if out.ndim != 2 or out.shape[1] != 2:
        raise DataFormatError(f"{what} has a bad level {levels[0]!r:.60}")
    price, qty = out[:, 0], out[:, 1]
    ok = (price > 0) & np.isfinite(price) & (qty >= 0) & np.isfinite(qty)
    if not ok.all():
        bad = levels[int(np.argmin(ok))]
        raise DataFormatError(f"{what} level {bad!r:.60}: price must be positive and size non-negative")  # fmt: skip
    return out


def _is_level(level: Any) -> bool:
    try:
        float(level[0]), float(level[1])
    except (TypeError, ValueError, IndexError, KeyError):
        return False
    return len(level) == 2


def book_rows(bids: np.ndarray, asks: np.ndarray, local_ts: int, exch_ts: int, first_id: int,
          last_id: int, prev_id: int, flags: int) -> np.ndarray:  # fmt: skip
    """Book rows of one message: bids first, then asks (an empty message keeps one placeholder)."""
    n_bid, n = bids.shape[0], bids.shape[0] + asks.shape[0]
    rows = np.zeros(max(n, 1), book_dt)  # an empty diff keeps one placeholder row
    rows["local_ts"], rows["exch_ts"] = local_ts, exch_ts
    rows["first_id"], rows["last_id"], rows["prev_id"] = first_id, last_id, prev_id
    rows["flags"] = flags
    if n:
        rows["side"][:n_bid], rows["side"][n_bid:n] = SIDE_BUY, SIDE_SELL
        rows["price"][:n_bid], rows["price"][n_bid:n] = bids[:, 0], asks[:, 0]
        rows["qty"][:n_bid], rows["qty"][n_bid:n] = bids[:, 1], asks[:, 1]
    return rows


def _need(data: dict[str, Any], key: str, what: str) -> Any:
    try:
        return data[key]
    except (KeyError, TypeError):
        raise DataFormatError(f"{what} lacks field {key!r}: {str(data)[:120]}") from None


def depth_rows(data: dict[str, Any], local_ts: int) -> np.ndarray:
    """Rows of one diff-depth event (the ``data`` of a ``@depth`` stream message).

    Spot carries ``U``/``u``; futures also ``pu`` and a matching-engine time ``T`` (used as the
    exchange time, like the batch reader does).
    """
    what = "depth update"
    first, last = int(_need(data, "U", what)), int(_need(data, "u", what))
    prev = int(data["pu"]) if "pu" in data else NO_ID
    exch_ms = data.get("T", data.get("E"))
    exch = int(exch_ms) * _MS if exch_ms is not None else NO_TS
    bids = levels_array(data.get("b", []), f"{what} {first}..{last} bids")
    asks = levels_array(data.get("a", []), f"{what} {first}..{last} asks")
    return book_rows(bids, asks, int(local_ts), exch, first, last, prev, 0)


def snapshot_rows(snapshot: dict[str, Any], local_ts: int) -> np.ndarray:
    """Rows of a REST depth snapshot (``{"lastUpdateId", "bids", "asks"}``; MEXC's has this shape too)."""
    what = "depth snapshot"
    last = int(_need(snapshot, "lastUpdateId", what))
    exch_ms = snapshot.get("T", snapshot.get("E", snapshot.get("timestamp")))  # MEXC: timestamp
    exch = int(exch_ms) * _MS if exch_ms is not None else NO_TS
    bids = levels_array(_need(snapshot, "bids", what), f"{what} {last} bids")
    asks = levels_array(_need(snapshot, "asks", what), f"{what} {last} asks")
    return book_rows(bids, asks, int(local_ts), exch, last, last, NO_ID, FLAG_SNAPSHOT)


def trade_record(data: dict[str, Any], local_ts: int) -> np.ndarray:
    """One ``trade_dt`` record from a ``@trade`` event (aggressor from the ``m`` flag)."""
    what = "trade"
    out = np.zeros(1, trade_dt)
    out["local_ts"] = int(local_ts)
    out["exch_ts"] = int(_need(data, "T", what)) * _MS
    out["trade_id"] = int(_need(data, "t", what))
    price, qty = float(_need(data, "p", what)), float(_need(data, "q", what))
    if not (price > 0 and qty > 0 and np.isfinite(price + qty)):
        raise DataFormatError(f"trade {data.get('t')}: price and quantity must be positive and finite")  # fmt: skip
    out["price"], out["qty"] = price, qty
    # m: the buyer is the maker, so the aggressor sold.
    out["side"] = SIDE_SELL if bool(_need(data, "m", what)) else SIDE_BUY
    return out
