"""What differs between exchanges' market-data websockets: URLs, subscription, frame decoding.

A :class:`~mmts.live.feed.MarketFeed` does the rest the same way for all of them (reconnects,
snapshots, the local-book hold/release, stamps). Each protocol turns one websocket frame into a
:class:`Push` — book rows or trade records, the exchange symbol, and the simulator's recorded
receive time when present — or ``None`` for control frames (subscription answers, pongs).

- :class:`BinanceProtocol`: JSON combined streams (``/stream?streams=a/b``), spot
  (``@depth@100ms``, ``U``/``u`` continuity, ``/api/v3``) or USD-M futures (``@depth@100ms`` on
  ``fstream``, ``pu`` continuity, ``/fapi/v1``).
- :class:`MexcProtocol`: spot ``wss://wbs-api.mexc.com/ws``; a ``SUBSCRIPTION`` request after
  connecting, protobuf pushes (``data.mexc_messages``), a JSON ``PING`` every 20 s (MEXC closes
  a connection without traffic after a minute). MEXC has no 1 s klines: the 1 s history a session
  starts with is built from ``/api/v3/aggTrades``. MEXC sends no trade ids, so deals are numbered
  here, consecutively within a connection and with a break at each reconnect — exactly what the
  1 s bar builder needs to know (a run of trades with nothing missing).
"""

from __future__ import annotations

import json
from typing import NamedTuple

import numpy as np

from mmts.core.errors import DataFormatError
from mmts.data import mexc_messages as mexc
from mmts.data.binance_messages import depth_rows, stream_kind, stream_symbol, trade_record

#: The JSON field (Binance) in which the project's simulator sends the recorded receive time.
REPLAY_FIELD = "mmts_replay_ns"
EXCHANGES = ("binance", "binanceusdm", "mexc")


class Push(NamedTuple):
    """One market-data frame: ``rows`` are ``book_dt`` rows (depth) or ``trade_dt`` records."""

    kind: str
    symbol: str
    rows: np.ndarray
    recorded: int | None
    #: The frame's JSON text, for the recorder (:func:`exchange_text` strips the simulator's
    #: field); None where not kept.
    text: str | None


def exchange_text(push: Push) -> str | None:
    """Return the frame as the exchange sends it: without the simulator's replay field."""
    if push.text is None or push.recorded is None:
        return push.text
    return push.text[: push.text.rindex(f',"{REPLAY_FIELD}"')] + "}"


class BinanceProtocol:
    """Binance spot or USD-M futures combined streams (JSON)."""

    keepalive: str | None = None  # websockets answers Binance's pings itself

    def __init__(self, futures: bool = False) -> None:
        self.futures = futures
        api = "/fapi/v1" if futures else "/api/v3"
        self.depth_path, self.klines_path, self.time_path = (
            f"{api}/depth",
            f"{api}/klines",
            f"{api}/time",
        )
        self.intervals = {tf: tf for tf in ("1s", "1m", "5m", "15m", "1h", "4h", "1d")}
        #: Where recent trades are listed, for series without klines (None: every series has them).
        self.agg_trades_path: str | None = None
        #: Largest depth snapshot: spot takes 1..5000 levels, USD-M only 5/10/20/50/100/500/1000.
        self.max_snapshot_limit = 1000 if futures else 5000

    def url(self, base: str, depth: tuple[str, ...], trades: tuple[str, ...],
            book_ticker: tuple[str, ...]) -> str:  # fmt: skip
        """Return the combined-stream URL of the subscriptions."""
        streams = ([s.lower() + "@depth@100ms" for s in depth] + [s.lower() + "@trade" for s in trades]
                   + [s.lower() + "@bookTicker" for s in book_ticker])  # fmt: skip
        return base.rstrip("/") + "/stream?streams=" + "/".join(streams)

    def subscribe(self, depth: tuple[str, ...], trades: tuple[str, ...]) -> list[str]:
        """Frames to send after connecting (none: the URL subscribes)."""
        return []

    def connected(self) -> None:
        """Learn that a new connection is up (Binance: nothing to do)."""

    def decode(self, frame: str | bytes) -> Push | None:
        """One frame; ``None`` for a SUBSCRIBE answer or a stream we do not use."""
        try:
            message = json.loads(frame)
            if "result" in message and "id" in message:
                return None  # a reply to SUBSCRIBE
            stream, data = message["stream"], message["data"]
        except (ValueError, KeyError, TypeError) as e:
            raise DataFormatError(f"malformed frame: {str(frame)[:80]!r}") from e
        recorded = message.pop(REPLAY_FIELD, None)
        text = frame if isinstance(frame, str) else frame.decode()
        kind, symbol = stream_kind(stream), stream_symbol(stream)
        if kind == "depth":
            rows = depth_rows(data, 0)
        elif kind == "trade":
            rows = trade_record(data, 0)
        else:
            rows = np.empty(0)
        return Push(kind, symbol, rows, int(recorded) if recorded is not None else None, text)


class MexcProtocol:
    """MEXC spot: protobuf pushes after a JSON subscription."""

    keepalive: str | None = json.dumps({"method": "PING"})
    futures = False

    def __init__(self) -> None:
        self.depth_path, self.klines_path, self.time_path = (
            "/api/v3/depth",
            "/api/v3/klines",
            "/api/v3/time",
        )
        self.intervals = {"1m": "1m", "5m": "5m", "15m": "15m", "1h": "60m", "4h": "4h", "1d": "1d"}
        #: No 1 s klines on MEXC: 1 s history is built from aggregated trades.
        self.agg_trades_path: str | None = "/api/v3/aggTrades"
        self.max_snapshot_limit = 5000
        #: Symbol -> the id the next deal gets.
        self.next_deal: dict[str, int] = {}

    def url(self, base: str, depth: tuple[str, ...], trades: tuple[str, ...],
            book_ticker: tuple[str, ...]) -> str:  # fmt: skip
        """MEXC subscribes by request: the URL is the base (``.../ws``)."""
        if book_ticker:
            raise ValueError("the MEXC feed does not subscribe best bid/ask")
        return base.rstrip("/") if base.rstrip("/").endswith("/ws") else base.rstrip("/") + "/ws"

    def subscribe(self, depth: tuple[str, ...], trades: tuple[str, ...]) -> list[str]:
        """One ``SUBSCRIPTION`` request for the depth and deals channels (30 at most per connection)."""
        params = [f"{mexc.DEPTH_CHANNEL}@{s.upper()}" for s in depth]
        params += [f"{mexc.DEALS_CHANNEL}@{s.upper()}" for s in trades]
        if len(params) > 30:
            raise ValueError(
                f"MEXC allows 30 subscriptions per connection; asked for {len(params)}"
            )
        return [json.dumps({"method": "SUBSCRIPTION", "params": params})]

    def connected(self) -> None:
        """Break every symbol's deal numbering: deals missed while disconnected are unknown."""
        self.next_deal = {symbol: k + 1 for symbol, k in self.next_deal.items()}

    def decode(self, frame: str | bytes) -> Push | None:
        """Decode a binary push; ``None`` for a JSON answer (subscription, PONG)."""
        if isinstance(frame, str):
            try:
                answer = json.loads(frame)
            except ValueError as e:
                raise DataFormatError(f"malformed MEXC text frame: {frame[:80]!r}") from e
            refused = isinstance(answer, dict) and (
                answer.get("code", 0) not in (0, None) or "Not Subscribed" in str(answer.get("msg"))
            )  # MEXC has answered a blocked subscription with code 0 and this message
            if refused:
                raise DataFormatError(f"MEXC refused a request: {frame[:200]}")
            return None
        push = mexc.decode_push(frame)
        if push.kind == "depth":
            rows = mexc.depth_rows(push, 0)
        elif push.kind == "trade":
            rows = mexc.deal_records(push, 0)
            first = self.next_deal.get(push.symbol, 0)
            rows["trade_id"] = np.arange(first, first + rows.shape[0])
            self.next_deal[push.symbol] = first + rows.shape[0]
        else:
            return None
        return Push(push.kind, push.symbol, rows, push.replay_ns, None)


def protocol_for(exchange: str) -> BinanceProtocol | MexcProtocol:
    """Return the protocol of ``binance`` (spot), ``binanceusdm`` (USD-M futures) or ``mexc`` (spot)."""
    if exchange == "binance":
        return BinanceProtocol(futures=False)
    if exchange == "binanceusdm":
        return BinanceProtocol(futures=True)
    if exchange == "mexc":
        return MexcProtocol()
    raise ValueError(f"exchange must be one of {', '.join(EXCHANGES)}; was {exchange!r}")
