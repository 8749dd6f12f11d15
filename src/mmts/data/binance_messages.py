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


def _levels(levels: Any, side: int, what: str) -> list[tuple[int, float, float]]:
    if not isinstance(levels, list):
        raise DataFormatError(f"{what} must be a list of [price, qty] pairs; was {levels!r:.80}")
    out = []
    for level in levels:
        try:
            price, qty = float(level[0]), float(level[1])
        except (TypeError, ValueError, IndexError) as e:
            raise DataFormatError(f"{what} has a bad level {level!r:.60}") from e
        if not (price > 0 and np.isfinite(price) and qty >= 0 and np.isfinite(qty)):
            raise DataFormatError(f"{what} level {level!r:.60}: price must be positive and size non-negative")  # fmt: skip
        out.append((side, price, qty))
    return out


def _rows(levels: list[tuple[int, float, float]], local_ts: int, exch_ts: int, first_id: int,
          last_id: int, prev_id: int, flags: int) -> np.ndarray:  # fmt: skip
    rows = np.zeros(max(len(levels), 1), book_dt)  # an empty diff keeps one placeholder row
    rows["local_ts"], rows["exch_ts"] = local_ts, exch_ts
    rows["first_id"], rows["last_id"], rows["prev_id"] = first_id, last_id, prev_id
    rows["flags"] = flags
    if levels:
        arr = np.array(
            levels, dtype=[("side", np.int8), ("price", np.float64), ("qty", np.float64)]
        )
        rows["side"], rows["price"], rows["qty"] = arr["side"], arr["price"], arr["qty"]
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
    levels = _levels(data.get("b", []), SIDE_BUY, f"{what} {first}..{last} bids")
    levels += _levels(data.get("a", []), SIDE_SELL, f"{what} {first}..{last} asks")
    return _rows(levels, int(local_ts), exch, first, last, prev, 0)


def snapshot_rows(snapshot: dict[str, Any], local_ts: int) -> np.ndarray:
    """Rows of a REST depth snapshot (``{"lastUpdateId", "bids", "asks"}``)."""
    what = "depth snapshot"
    last = int(_need(snapshot, "lastUpdateId", what))
    exch_ms = snapshot.get("T", snapshot.get("E"))
    exch = int(exch_ms) * _MS if exch_ms is not None else NO_TS
    levels = _levels(_need(snapshot, "bids", what), SIDE_BUY, f"{what} {last} bids")
    levels += _levels(_need(snapshot, "asks", what), SIDE_SELL, f"{what} {last} asks")
    return _rows(levels, int(local_ts), exch, last, last, NO_ID, FLAG_SNAPSHOT)


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
