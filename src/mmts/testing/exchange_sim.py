"""A local exchange simulator: real HTTP on 127.0.0.1 speaking Binance's or MEXC's public REST.

It serves what ccxt needs to load markets and page through historical klines, from bars held
in an mmts store (real recorded data), and injects faults on demand: HTTP 429 and 5xx, slow
responses (client timeouts), dropped connections and malformed bodies. Tests point ccxt's
``urls['api']`` at :attr:`ExchangeSimulator.url`; nothing ever talks to a real host.

>>> from mmts.data import open_store
>>> with ExchangeSimulator(open_store("data"), exchange="binance") as sim:
...     sim.url.startswith("http://127.0.0.1:")
True
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import numpy as np

from mmts.core.symbols import market_of, parse_symbol
from mmts.core.timeframes import timeframe_ns
from mmts.data.store import Store

_MS = 1_000_000

#: Exchange interval names -> mmts timeframes.
_INTERVALS = {
    "binance": {
        "1s": "1s",
        "1m": "1m",
        "5m": "5m",
        "15m": "15m",
        "1h": "1h",
        "4h": "4h",
        "1d": "1d",
    },
    "mexc": {"1m": "1m", "5m": "5m", "15m": "15m", "60m": "1h", "4h": "4h", "1d": "1d"},
}
_MAX_LIMIT = {"binance": 1000, "mexc": 1000}
_DEFAULT_LIMIT = {"binance": 500, "mexc": 500}


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault, applied to the next request whose path contains ``path``.

    ``kind`` is ``"status"`` (answer with HTTP ``status``), ``"delay"`` (wait ``seconds``, then
    answer normally), ``"drop"`` (close the connection without answering), ``"malformed"``
    (answer 200 with a body that is not JSON) or ``"pass"`` (answer normally: use it to let a
    number of requests through before the next fault).
    """

    kind: str
    status: int = 0
    seconds: float = 0.0
    path: str = ""


class RestResponder:
    """Binance's or MEXC's public market REST (markets, klines, time) answered from a store.

    ``now_ns`` caps what exists: klines only of bars closed by then, and the server time (a
    replaying simulator passes its replay clock, so nothing from after "now" leaks out).
    ``extra_symbols`` are listed as markets besides the store's.
    """

    def __init__(self, store: Store | None, *, exchange: str = "binance",
                 source_exchange: str | None = None, now_ns: Callable[[], int] | None = None,
                 extra_symbols: tuple[str, ...] = ()) -> None:  # fmt: skip
        if exchange not in _INTERVALS:
            raise ValueError(f"exchange must be one of {sorted(_INTERVALS)}; was {exchange!r}")
        self.store = store
        self.exchange = exchange
        self.source_exchange = source_exchange or exchange
        self.now_ns = now_ns or time.time_ns
        self.extra_symbols = tuple(extra_symbols)

    # -- responses -------------------------------------------------------------------------------

    def _symbols(self, market: str = "spot") -> list[str]:
        keys = self.store.streams() if self.store is not None else []
        stored = {
            k.symbol
            for k in keys
            if k.exchange == self.source_exchange
            and k.kind.startswith("bars_")
            and market_of(k.symbol) == market
        }
        return sorted(stored | {s for s in self.extra_symbols if market_of(s) == market})

    def _exchange_info(self) -> dict[str, Any]:
        symbols = []
        for symbol in self._symbols():
            base, quote, _ = parse_symbol(symbol)
            entry: dict[str, Any] = {
                "symbol": base + quote,
                "baseAsset": base,
                "quoteAsset": quote,
                "baseAssetPrecision": 8,
                "quoteAssetPrecision": 8,
                "quotePrecision": 8,
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
                "isSpotTradingAllowed": True,
                "isMarginTradingAllowed": False,
                "permissions": ["SPOT"],
            }
            if self.exchange == "binance":
                entry |= {
                    "status": "TRADING",
                    "filters": [
                        {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000.00",
                         "tickSize": "0.01"},
                        {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000.0",
                         "stepSize": "0.00001"},
                    ],
                }  # fmt: skip
            else:
                entry |= {
                    "status": "1",
                    "filters": [],
                    "baseSizePrecision": "0.00001",
                    "quoteAmountPrecision": "1",
                    "maxQuoteAmount": "2000000",
                    "makerCommission": "0",
                    "takerCommission": "0.0005",
                }
            symbols.append(entry)
        return {
            "timezone": "UTC",
            "serverTime": self.now_ns() // _MS,
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": symbols,
        }

    def _klines(self, query: dict[str, str], market: str = "spot") -> tuple[int, Any]:
        pair = query.get("symbol", "")
        interval = query.get("interval", "")
        timeframe = _INTERVALS[self.exchange].get(interval)
        symbol = next(
            (s for s in self._symbols(market) if s.split(":")[0].replace("/", "") == pair), None
        )
        if symbol is None or timeframe is None:
            return 400, {"code": -1121, "msg": f"Invalid symbol or interval {pair!r} {interval!r}."}
        limit = min(
            int(query.get("limit", _DEFAULT_LIMIT[self.exchange])), _MAX_LIMIT[self.exchange]
        )
        start = int(query["startTime"]) * _MS if "startTime" in query else None
        end = int(query["endTime"]) * _MS if "endTime" in query else None
        kind = f"bars_{timeframe}"
        if self.store is None or not self.store.partitions(self.source_exchange, symbol, kind):
            return 200, []
        # Binance: endTime is inclusive; MEXC: exclusive.
        end_excl = None if end is None else (end + 1 if self.exchange == "binance" else end)
        # Only bars closed by "now" exist (a replaying simulator's clock): open <= now - step.
        step_ns = timeframe_ns(timeframe)
        last_open_excl = (self.now_ns() - step_ns) + 1
        end_excl = last_open_excl if end_excl is None else min(end_excl, last_open_excl)
        bars = self.store.read(self.source_exchange, symbol, kind, start, end_excl)
        bars = bars[:limit] if start is not None else bars[-limit:]
        step_ms = timeframe_ns(timeframe) // _MS
        rows = []
        for b in bars:
            open_ms = int(b["ts"]) // _MS
            row: list[Any] = [
                open_ms, _num(b["open"]), _num(b["high"]), _num(b["low"]), _num(b["close"]),
                _num(b["volume"]), open_ms + step_ms - 1, _num(b["volume"] * b["close"]),
            ]  # fmt: skip
            if self.exchange == "binance":
                row += [int(max(b["trades"], 0)), "0", "0", "0"]
            rows.append(row)
        return 200, rows

    def respond(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        """Return ``(status, JSON body)`` for a GET request (no fault applied)."""
        if self.exchange == "binance":
            if path == "/api/v3/exchangeInfo":
                return 200, self._exchange_info()
            if path in {"/fapi/v1/exchangeInfo", "/dapi/v1/exchangeInfo"}:
                return 200, {"timezone": "UTC", "serverTime": self.now_ns() // _MS,
                             "rateLimits": [], "exchangeFilters": [], "assets": [], "symbols": []}  # fmt: skip
            if path == "/api/v3/klines":
                return self._klines(query)
            if path == "/fapi/v1/klines":  # USD-M: the store's linear-perp bars
                return self._klines(query, market="linear")
            if path in {"/api/v3/time", "/fapi/v1/time"}:
                return 200, {"serverTime": self.now_ns() // _MS}
        else:
            if path == "/api/v3/exchangeInfo":
                return 200, self._exchange_info()
            if path == "/api/v1/contract/detail":
                return 200, {"success": True, "code": 0, "data": []}
            if path == "/api/v3/klines":
                return self._klines(query)
            if path == "/api/v3/time":
                return 200, {"serverTime": self.now_ns() // _MS}
        return 404, {"code": -1, "msg": f"unknown endpoint {path}"}

    def error_body(self, status: int) -> bytes:
        """Return the body each exchange sends with an error status (documented, or a gateway's)."""
        if status == 429:
            body = (
                {"code": -1003, "msg": "Too many requests."}
                if self.exchange == "binance"
                else {"code": 429, "msg": "Too Many Requests"}
            )
            return json.dumps(body).encode()
        if status >= 500 and self.exchange == "binance":
            return json.dumps(
                {
                    "code": -1001,
                    "msg": "Internal error; unable to process your request. Please try again.",
                }
            ).encode()
        if status >= 500:
            return f"<html><body><h1>{status} Service Unavailable</h1></body></html>".encode()
        return json.dumps({"code": -1100, "msg": f"HTTP {status}"}).encode()


class ExchangeSimulator(RestResponder):
    """Serve one exchange's public REST (markets, klines) from a store on 127.0.0.1."""

    def __init__(
        self,
        store: Store,
        *,
        exchange: str = "binance",
        source_exchange: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(store, exchange=exchange, source_exchange=source_exchange)
        if host not in {"127.0.0.1", "localhost", "::1"}:
            raise ValueError(f"the simulator only listens on loopback; host was {host!r}")
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        #: Every request served: ``(path, query dict)``, in arrival order.
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        host, port = self._server.server_address[:2]
        host_text = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{host_text}:{port}"

    def start(self) -> Self:
        """Start serving in a background thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults ----------------------------------------------------------------------------------

    def inject(self, *faults: Fault) -> None:
        """Queue faults; each applies once, to the next matching request."""
        with self._lock:
            self._faults.extend(faults)

    def _next_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path in path:
                    self._faults.remove(fault)
                    return fault
        return None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        sim = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet: tests read sim.requests instead

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                with sim._lock:
                    sim.requests.append((parts.path, query))
                fault = sim._next_fault(parts.path)
                if fault is not None and fault.kind == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault is not None and fault.kind == "delay":
                    time.sleep(fault.seconds)
                if fault is not None and fault.kind == "status":
                    self._send(fault.status, sim.error_body(fault.status), {"Retry-After": "1"})
                    return
                status, payload = sim.respond(parts.path, query)
                raw = (
                    b"<html>502 Bad Gateway"
                    if fault is not None and fault.kind == "malformed"
                    else json.dumps(payload).encode()
                )
                self._send(status, raw)

            def _send(
                self, status: int, body: bytes, headers: dict[str, str] | None = None
            ) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test): nothing to answer

        return Handler


def _num(value: float) -> str:
    """Format like the exchanges do: a decimal string that parses back to the same float."""
    return repr(float(np.float64(value)))
