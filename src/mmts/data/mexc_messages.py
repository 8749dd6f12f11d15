"""MEXC spot websocket pushes (protobuf) into the store's records, and back (for the simulator).

MEXC's spot websocket (``wss://wbs-api.mexc.com/ws``) sends its market data as protobuf
``PushDataV3ApiWrapper`` messages: a channel name, the symbol, send/create times (ms) and one
body. Two bodies matter here:

- ``publicAggreDepths`` (channel ``spot@public.aggre.depth.v3.api.pb@100ms@SYM``): changed levels
  (``price``/``quantity`` decimal strings, quantity 0 removes the level) with ``fromVersion`` and
  ``toVersion``. MEXC's local-book procedure is Binance's spot one with ``U = fromVersion`` and
  ``u = toVersion`` (snapshot ``lastUpdateId``, drop ``toVersion <= lastUpdateId``, then each
  ``fromVersion`` = previous ``toVersion`` + 1), so the rows go to the same
  :class:`~mmts.data.book_stream.BookSyncStream`.
- ``publicAggreDeals`` (``spot@public.aggre.deals.v3.api.pb@100ms@SYM``): the trades of 100 ms,
  each with ``price``, ``quantity``, ``tradeType`` (1 taker buy, 2 taker sell) and ``time`` (ms).
  MEXC sends no trade id: the live feed numbers the deals of one connection consecutively.

The schema is MEXC's published one (github.com/mexcdevelop/websocket-proto), declared here for the
fields we read — a test checks it against the generated classes ccxt ships — plus one field the
project's simulator adds (``mmtsReplayNs``, :data:`REPLAY_FIELD_NUMBER`): the recorded receive
time, the counterpart of the JSON field the Binance simulator adds. MEXC never sends it.
"""

from __future__ import annotations

from functools import cache
from typing import Any, NamedTuple

import numpy as np

from mmts.core.enums import SIDE_BUY, SIDE_SELL
from mmts.core.errors import DataFormatError
from mmts.core.schema import NO_ID, trade_dt
from mmts.data.binance_messages import book_rows, levels_array

_MS = 1_000_000
DEPTH_CHANNEL = "spot@public.aggre.depth.v3.api.pb@100ms"
DEALS_CHANNEL = "spot@public.aggre.deals.v3.api.pb@100ms"
#: Field of the wrapper that carries the simulator's recorded receive time (ns).
REPLAY_FIELD_NUMBER = 8001
_BUY, _SELL = 1, 2

# (name, number, type, label, message type): protobuf's descriptor constants.
_STRING, _INT64, _INT32, _MESSAGE = 9, 3, 5, 11
_ONE, _MANY = 1, 3
_SCHEMA: dict[str, list[tuple[str, int, int, int, str]]] = {
    "PublicAggreDepthV3ApiItem": [
        ("price", 1, _STRING, _ONE, ""),
        ("quantity", 2, _STRING, _ONE, ""),
    ],
    "PublicAggreDepthsV3Api": [
        ("asks", 1, _MESSAGE, _MANY, "PublicAggreDepthV3ApiItem"),
        ("bids", 2, _MESSAGE, _MANY, "PublicAggreDepthV3ApiItem"),
        ("eventType", 3, _STRING, _ONE, ""),
        ("fromVersion", 4, _STRING, _ONE, ""),
        ("toVersion", 5, _STRING, _ONE, ""),
    ],
    "PublicAggreDealsV3ApiItem": [
        ("price", 1, _STRING, _ONE, ""),
        ("quantity", 2, _STRING, _ONE, ""),
        ("tradeType", 3, _INT32, _ONE, ""),
        ("time", 4, _INT64, _ONE, ""),
    ],
    "PublicAggreDealsV3Api": [
        ("deals", 1, _MESSAGE, _MANY, "PublicAggreDealsV3ApiItem"),
        ("eventType", 2, _STRING, _ONE, ""),
    ],
    "PushDataV3ApiWrapper": [
        ("channel", 1, _STRING, _ONE, ""),
        ("symbol", 3, _STRING, _ONE, ""),
        ("symbolId", 4, _STRING, _ONE, ""),
        ("createTime", 5, _INT64, _ONE, ""),
        ("sendTime", 6, _INT64, _ONE, ""),
        ("publicAggreDepths", 313, _MESSAGE, _ONE, "PublicAggreDepthsV3Api"),
        ("publicAggreDeals", 314, _MESSAGE, _ONE, "PublicAggreDealsV3Api"),
        ("mmtsReplayNs", REPLAY_FIELD_NUMBER, _INT64, _ONE, ""),
    ],
}


@cache
def wrapper_class() -> Any:
    """Return the ``PushDataV3ApiWrapper`` message class (built once, in a pool of its own)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    file = descriptor_pb2.FileDescriptorProto(
        name="mmts_mexc_push.proto", package="mmts.mexc", syntax="proto3"
    )
    for name, fields in _SCHEMA.items():
        message = file.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            field = message.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                field.type_name = ".mmts.mexc." + type_name
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("mmts.mexc.PushDataV3ApiWrapper")
    )


class MexcPush(NamedTuple):
    """One decoded push: ``kind`` is ``depth``, ``trade`` or ``other``; ``body`` the protobuf body."""

    kind: str
    symbol: str
    channel: str
    send_ms: int
    replay_ns: int | None
    body: Any


def decode_push(frame: bytes) -> MexcPush:
    """Decode one binary frame; raise :class:`DataFormatError` for bytes that are not a push."""
    from google.protobuf.message import DecodeError

    push = wrapper_class()()
    try:
        push.ParseFromString(frame)
    except DecodeError as e:
        raise DataFormatError(
            f"MEXC push is not a PushDataV3ApiWrapper: {e} ({frame[:40]!r})"
        ) from e
    channel = push.channel
    symbol = push.symbol or channel.rsplit("@", 1)[-1]
    if push.HasField("publicAggreDepths"):
        kind, body = "depth", push.publicAggreDepths
    elif push.HasField("publicAggreDeals"):
        kind, body = "trade", push.publicAggreDeals
    else:
        kind, body = "other", None
    if kind != "other" and not symbol:
        raise DataFormatError(f"MEXC push on channel {channel!r} names no symbol")
    replay = int(push.mmtsReplayNs) or None
    return MexcPush(
        kind, symbol.upper(), channel, int(push.sendTime or push.createTime), replay, body
    )


def _version(body: Any, field: str) -> int:
    text = getattr(body, field)
    try:
        return int(text)
    except ValueError:
        raise DataFormatError(f"MEXC depth push: {field} {text!r} is not an integer") from None


def depth_rows(push: MexcPush, local_ts: int) -> np.ndarray:
    """Book rows of one ``publicAggreDepths`` push (``first_id``/``last_id`` = from/to version)."""
    body = push.body
    first, last = _version(body, "fromVersion"), _version(body, "toVersion")
    what = f"MEXC depth {push.symbol} {first}..{last}"
    bids = levels_array([[i.price, i.quantity] for i in body.bids], what + " bids")
    asks = levels_array([[i.price, i.quantity] for i in body.asks], what + " asks")
    exch = push.send_ms * _MS if push.send_ms else 0
    return book_rows(bids, asks, int(local_ts), exch, first, last, NO_ID, 0)


def deal_records(push: MexcPush, local_ts: int) -> np.ndarray:
    """``trade_dt`` records of one ``publicAggreDeals`` push (``trade_id`` left at ``NO_ID``)."""
    deals = push.body.deals
    out = np.zeros(len(deals), trade_dt)
    out["local_ts"], out["trade_id"] = int(local_ts), NO_ID
    for k, deal in enumerate(deals):
        try:
            price, qty = float(deal.price), float(deal.quantity)
        except ValueError:
            raise DataFormatError(f"MEXC deal {k} of {push.symbol}: bad price/quantity {deal.price!r}/{deal.quantity!r}") from None  # fmt: skip
        if not (price > 0 and qty > 0 and np.isfinite(price + qty)):
            raise DataFormatError(f"MEXC deal {k} of {push.symbol}: price and quantity must be positive and finite")  # fmt: skip
        if deal.tradeType not in (_BUY, _SELL) or deal.time <= 0:
            raise DataFormatError(f"MEXC deal {k} of {push.symbol}: tradeType {deal.tradeType} / time {deal.time} invalid")  # fmt: skip
        out["price"][k], out["qty"][k] = price, qty
        out["exch_ts"][k] = int(deal.time) * _MS
        out["side"][k] = SIDE_BUY if deal.tradeType == _BUY else SIDE_SELL
    return out


# -- encoding (the simulator speaks MEXC with the Binance recordings) -------------------------------


def encode_depth(symbol: str, bids: list[list[str]], asks: list[list[str]], from_version: int,
                 to_version: int, send_ms: int, replay_ns: int | None = None) -> bytes:  # fmt: skip
    """One ``publicAggreDepths`` push as MEXC frames it."""
    push = wrapper_class()(channel=f"{DEPTH_CHANNEL}@{symbol}", symbol=symbol, sendTime=send_ms,
                           createTime=send_ms, mmtsReplayNs=replay_ns or 0)  # fmt: skip
    body = push.publicAggreDepths
    body.eventType, body.fromVersion, body.toVersion = (
        DEPTH_CHANNEL,
        str(from_version),
        str(to_version),
    )
    for side, levels in ((body.bids, bids), (body.asks, asks)):
        for price, qty in levels:
            side.add(price=price, quantity=qty)
    return bytes(push.SerializeToString())


def encode_deals(symbol: str, deals: list[tuple[str, str, bool, int]], send_ms: int,
                 replay_ns: int | None = None) -> bytes:  # fmt: skip
    """One ``publicAggreDeals`` push: ``deals`` are ``(price, quantity, taker_buys, time_ms)``."""
    push = wrapper_class()(channel=f"{DEALS_CHANNEL}@{symbol}", symbol=symbol, sendTime=send_ms,
                           createTime=send_ms, mmtsReplayNs=replay_ns or 0)  # fmt: skip
    body = push.publicAggreDeals
    body.eventType = DEALS_CHANNEL
    for price, qty, taker_buys, time_ms in deals:
        body.deals.add(
            price=price, quantity=qty, tradeType=_BUY if taker_buys else _SELL, time=time_ms
        )
    return bytes(push.SerializeToString())
