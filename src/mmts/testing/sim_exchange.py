"""A Binance (or MEXC) stand-in on 127.0.0.1: recorded websocket traffic replayed, REST beside it.

:class:`SimExchange` replays raw recordings (``<local ts> <JSON>`` lines, the files of
``../shared/data/binance-ws`` or of ``mmts record``) over a real websocket in Binance's
combined-stream format, paced by the recorded receive times (``speed`` times faster), and
answers the REST a live client needs on the same port: server time, exchangeInfo, depth
snapshots and klines. Its clock is the replay's: klines exist only for bars closed by then.

Depth snapshots: a client that asks before the recording's own snapshot was received gets that
snapshot when the replay reaches it (the recorded REST round trip); later requests get the
simulator's current book (the recorded snapshot plus every diff replayed since, so exactly what
replaying the recording gives), with ``lastUpdateId`` the last diff applied.

Every frame carries the recorded receive time as ``"mmts_replay_ns"`` beside ``stream``/``data``
(REST answers: header ``X-Mmts-Replay-Ns``). Binance never sends it; a live client that finds it
stamps messages with it instead of its own clock, so a replayed session sees the times the
backtest sees: that is what makes live-vs-backtest parity exact rather than approximate.

With ``exchange="mexc"`` the same recordings are served the way MEXC's spot API serves its
own data: ``/ws`` takes ``SUBSCRIPTION`` requests for the aggregated depth and deals channels and
pushes protobuf frames (``data.mexc_messages``; versions are Binance's update ids, the recorded
receive time rides in the wrapper's ``mmtsReplayNs`` field), ``PING`` gets ``PONG``, and the REST
is MEXC's (klines with ``60m`` intervals, a depth snapshot with ``timestamp``). There is no MEXC
recording to replay: this checks the MEXC client's protocol and book procedure on real market
data, not MEXC's own market.

Faults, on demand (:meth:`SimExchange.inject_ws`, :meth:`SimExchange.inject`) or at replay times
(:meth:`SimExchange.schedule`): dropped connections, update-id gaps, malformed frames, stalls,
HTTP 429/5xx, slow and dropped REST answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np

from mmts.core import sync_nb
from mmts.core import tickbook_nb as tbk
from mmts.core.errors import DataFormatError
from mmts.core.symbols import binance_symbol
from mmts.data.binance_messages import depth_rows, snapshot_rows, stream_kind, stream_symbol
from mmts.data.binance_ws import read_bytes, timestamp_scale
from mmts.data.book_stream import BookSyncStream
from mmts.data.mexc_messages import DEALS_CHANNEL, DEPTH_CHANNEL, encode_deals, encode_depth
from mmts.data.store import Store
from mmts.testing.exchange_sim import Fault, RestResponder
from mmts.testing.sim_orders import SimAccount

REPLAY_FIELD = "mmts_replay_ns"
REPLAY_HEADER = "X-Mmts-Replay-Ns"
_MS = 1_000_000
_DEPTH_PATHS = {"/api/v3/depth": False, "/fapi/v1/depth": True, "/dapi/v1/depth": True}
_MAX_DEPTH = 5000
#: The only depth-snapshot sizes Binance's futures REST accepts.
_FUTURES_DEPTH_LIMITS = {5, 10, 20, 50, 100, 500, 1000}
_ACCOUNT_PATHS = {
    ("POST", "/api/v3/order"): "new_order", ("GET", "/api/v3/order"): "get_order",
    ("DELETE", "/api/v3/order"): "cancel_order", ("GET", "/api/v3/openOrders"): "open_orders",
    ("GET", "/api/v3/account"): "account",
}  # fmt: skip
#: Wall seconds the replay waits at a recording's first snapshot for a client to ask for it.
FIRST_SNAPSHOT_WAIT_S = 2.0


@dataclass
class Recorded:
    """Recorded traffic, merged over files in receive order."""

    stamps: list[int] = field(default_factory=list)
    streams: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    #: Per exchange symbol: ``(stamp, snapshot JSON text)`` in receive order.
    snapshots: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    futures: dict[str, bool] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.stamps)


def load_recordings(paths: list[str | Path]) -> Recorded:
    """Read recordings into one receive-ordered timeline (files may hold several symbols)."""
    items: list[tuple[int, int, str, str]] = []  # (stamp, order, stream or '', text)
    snapshots: dict[str, list[tuple[int, str]]] = {}
    futures: dict[str, bool] = {}
    order = 0
    for path in paths:
        lines = read_bytes(path).decode().splitlines()
        scale = 0
        depth_symbols: set[str] = set()
        file_snaps: list[tuple[int, str]] = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            stamp_text, _, text = line.partition(" ")
            try:
                stamp = int(stamp_text)
            except ValueError:
                raise DataFormatError(
                    "expected '<timestamp> <JSON>'", path=str(path), line=number
                ) from None
            scale = scale or timestamp_scale(stamp, str(path), number)
            stamp *= scale
            if text.startswith('{"stream":"'):
                stream = text[11 : text.index('"', 11)]
                if stream_kind(stream) == "depth":
                    symbol = stream_symbol(stream)
                    depth_symbols.add(symbol)
                    # Futures diffs carry the previous update id: a recording of any update speed.
                    futures[symbol] = '"pu":' in text or symbol.endswith("_PERP")
                items.append((stamp, order, stream, text))
            elif text.startswith('{"lastUpdateId"'):
                file_snaps.append((stamp, text))
            else:
                raise DataFormatError(f"unknown message {text[:60]!r}", path=str(path), line=number)
            order += 1
        if file_snaps:
            if len(depth_symbols) != 1:
                raise DataFormatError(
                    "a file with snapshots must hold one depth stream", path=str(path)
                )
            snapshots.setdefault(depth_symbols.pop(), []).extend(file_snaps)
    items.sort(key=lambda item: (item[0], item[1]))
    rec = Recorded(futures=futures)
    rec.stamps = [i[0] for i in items]
    rec.streams = [i[2] for i in items]
    rec.texts = [i[3] for i in items]
    rec.snapshots = {s: sorted(v) for s, v in snapshots.items()}
    return rec


class _SimBook:
    """The simulator's own book of one symbol: the recording replayed, served as snapshots."""

    def __init__(self, futures: bool, snapshots: list[tuple[int, str]]) -> None:
        self.stream = BookSyncStream(futures)
        self.pending = deque(snapshots)
        self.first_snapshot = snapshots[0][0] if snapshots else None
        self.first_reached = asyncio.Event()
        self.first_requested = asyncio.Event()
        self.first_text = snapshots[0][1] if snapshots else ""

    def advance(self, stamp: int) -> None:
        """Apply recorded snapshots received up to ``stamp``."""
        while self.pending and self.pending[0][0] <= stamp:
            snap_stamp, text = self.pending.popleft()
            self.stream.push(snapshot_rows(json.loads(text), snap_stamp))
            self.first_reached.set()

    def snapshot(self, limit: int) -> dict[str, Any] | None:
        if not self.stream.valid or self.stream.book is None:
            return None
        out: dict[str, Any] = {"lastUpdateId": int(self.stream.status[sync_nb.SY_LAST_U])}
        for key, side in (("bids", 0), ("asks", 1)):
            prices, qtys = tbk.tb_levels(self.stream.book, side, limit)
            out[key] = [[repr(float(p)), repr(float(q))] for p, q in zip(prices, qtys, strict=True)]
        return out


class SimExchange:
    """Serve recorded Binance traffic (websocket) and REST on one loopback port.

    Parameters
    ----------
    paths : recordings to replay (merged in receive order).
    store : a store whose bars answer ``/api/v3/klines`` (history for a live client's warm-up).
    speed : replay speed (1 = real time; ``0`` = as fast as the client reads).
    start_on_connect : start the replay clock when the first websocket client connects
        (else at :meth:`start`).
    """

    def __init__(self, paths: list[str | Path], *, store: Store | None = None,
                 host: str = "127.0.0.1", port: int = 0, speed: float = 1.0,
                 start_on_connect: bool = True, balances: dict[str, float] | None = None,
                 exchange: str = "binance") -> None:  # fmt: skip
        if exchange not in {"binance", "mexc"}:
            raise ValueError(f"exchange must be binance or mexc; was {exchange!r}")
        self.exchange = exchange
        if host not in {"127.0.0.1", "localhost", "::1"}:
            raise ValueError(f"the simulator only listens on loopback; host was {host!r}")
        self.recorded = load_recordings(list(paths))
        if not len(self.recorded):
            raise DataFormatError("the recordings hold no stream messages", path=str(paths))
        self.host, self.port, self.speed = host, int(port), float(speed)
        self.start_on_connect = start_on_connect
        symbols = {stream_symbol(s) for s in self.recorded.streams}
        self.symbols = sorted(symbols)
        self.rest = RestResponder(
            store, exchange=exchange, source_exchange="binance", now_ns=self.clock_ns,
            extra_symbols=tuple(binance_symbol(s, "spot") for s in self.symbols
                                if not self.recorded.futures.get(s)),
        )  # fmt: skip
        #: Exchange symbol -> its recorded trades, ``(receive stamp, data)`` in receive order
        #: (parsed at the first ``aggTrades`` request: most sessions never ask).
        self._trades: dict[str, list[tuple[int, dict[str, Any]]]] | None = None
        #: Lower-case symbol -> its recorded depth stream (a client may ask another update speed).
        self._depth_streams = {
            stream_symbol(s).lower(): s
            for s in set(self.recorded.streams)
            if stream_kind(s) == "depth"
        }
        self._books: dict[str, _SimBook] = {}
        #: The spot account behind the order endpoints (needs an X-MBX-APIKEY header, any value).
        self.account = SimAccount(lambda symbol, side: self.book_levels(symbol, side, _MAX_DEPTH),
                                  lambda: self.clock_ns() // _MS, balances)  # fmt: skip
        self._clients: dict[Any, set[str]] = {}
        self._transports: dict[Any, Any] = {}
        self._rest_faults: deque[Fault] = deque()
        self._ws_faults: deque[Fault] = deque()
        self._scheduled: list[tuple[int, Fault]] = []
        self._lock = threading.Lock()
        self._position = 0  # next frame to send
        self._last_stamp = self.recorded.stamps[0]
        self._wall0: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._replay_task: asyncio.Task[None] | None = None
        self.finished = threading.Event()
        self.error: BaseException | None = None
        #: Every REST request: ``(method, path, query)``; websocket faults applied: ``(stamp, kind)``.
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.applied: list[tuple[int, str]] = []
        self.frames_sent = 0

    # -- clock ----------------------------------------------------------------------------------

    def clock_ns(self) -> int:
        """Return the replay clock: the recorded time the replay is at (frozen before and after)."""
        stamps = self.recorded.stamps
        if self._wall0 is None:
            return stamps[0]
        if self.finished.is_set() or self.speed <= 0:
            return self._last_stamp
        elapsed = (time.monotonic() - self._wall0) * self.speed
        return max(self._last_stamp, min(stamps[0] + int(elapsed * 1e9), stamps[-1]))

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """REST base URL, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """Websocket base URL (``/stream?streams=...`` and ``/ws/<stream>`` under it)."""
        return f"ws://{self.host}:{self.port}"

    def start(self) -> Self:
        """Serve in a background thread; returns when the port is bound."""
        self._thread = threading.Thread(target=self._run, name="sim-exchange", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self.error is not None:
            raise RuntimeError(f"the simulator failed to start: {self.error}") from self.error
        return self

    def stop(self) -> None:
        """Close every connection and the port."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_finished(self, timeout: float | None = None) -> bool:
        """Block until every recorded frame was sent (or ``timeout`` seconds)."""
        return self.finished.wait(timeout)

    async def stop_when_finished(self, stop: asyncio.Event, linger_s: float = 1.5) -> None:
        """Set ``stop`` once every recorded frame was sent and ``linger_s`` more passed.

        For a client running in another event loop (a session, the recorder) that should end
        with the replay: ``linger_s`` lets the last frames and REST answers arrive.
        """
        while not self.finished.is_set():
            await asyncio.sleep(0.1)
        await asyncio.sleep(linger_s)
        stop.set()

    def book_levels(self, symbol: str, side: int, depth: int) -> tuple[np.ndarray, np.ndarray]:
        """Return the simulator's current book of ``symbol`` (exchange name), best first."""
        book = self._books[symbol.upper()].stream.book
        if book is None:
            return np.zeros(0), np.zeros(0)
        return tbk.tb_levels(book, side, depth)

    # -- faults ----------------------------------------------------------------------------------

    def inject(self, *faults: Fault) -> None:
        """Queue REST faults; each applies once, to the next request whose path contains its path."""
        with self._lock:
            self._rest_faults.extend(faults)

    def inject_ws(self, *faults: Fault) -> None:
        """Queue websocket faults, applied at the next frame whose stream contains ``path``.

        Kinds: ``drop`` (close every connection without a close frame), ``close`` (a close frame,
        code 1001, as Binance sends before maintenance), ``gap`` (skip that frame: an update-id
        gap for a depth stream), ``malformed`` (send a truncated frame first), ``delay`` (stall
        the stream ``seconds``, then send what piled up).
        """
        with self._lock:
            self._ws_faults.extend(faults)

    def schedule(self, at_ns: int, fault: Fault) -> None:
        """Apply a websocket fault at the first frame recorded at or after ``at_ns``."""
        with self._lock:
            self._scheduled.append((int(at_ns), fault))
            self._scheduled.sort(key=lambda item: item[0])

    def _ws_fault(self, stamp: int, stream: str) -> Fault | None:
        with self._lock:
            if self._scheduled and self._scheduled[0][0] <= stamp:
                fault = self._scheduled[0][1]
                if fault.path in stream:
                    self._scheduled.pop(0)
                    return fault
            for fault in self._ws_faults:
                if fault.path in stream:
                    self._ws_faults.remove(fault)
                    return fault
        return None

    def _rest_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._rest_faults:
                if fault.path in path:
                    self._rest_faults.remove(fault)
                    return fault
        return None

    # -- serving ---------------------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as e:  # noqa: BLE001 - reported to start() / the CLI
            self.error = e
            self._ready.set()
        finally:
            loop.close()

    async def _serve(self) -> None:
        from aiohttp import web

        self._stop = asyncio.Event()
        self._books = {
            s: _SimBook(self.recorded.futures.get(s, False), self.recorded.snapshots.get(s, []))
            for s in self.symbols
            if s in self.recorded.futures
        }
        for book in self._books.values():  # compile the sync kernels before serving anyone
            if book.first_text:
                BookSyncStream(book.stream.is_futures).push(
                    snapshot_rows(json.loads(book.first_text), 0)
                )
        app = web.Application()
        app.router.add_get("/ws/{stream}", self._ws_handler)
        app.router.add_get("/stream", self._ws_handler)
        app.router.add_get("/ws", self._ws_handler)
        app.router.add_route("*", "/{tail:.*}", self._rest_handler)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        server = getattr(site, "_server", None)
        if self.port == 0 and server is not None and server.sockets:
            self.port = int(server.sockets[0].getsockname()[1])
        if not self.start_on_connect:
            self._start_replay()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            if self._replay_task is not None:
                self._replay_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._replay_task
            for ws in list(self._clients):
                with contextlib.suppress(Exception):
                    await ws.close()
            await runner.cleanup()

    def _start_replay(self) -> None:
        if self._replay_task is None:
            self._wall0 = time.monotonic()
            self._replay_task = asyncio.get_running_loop().create_task(self._replay())

    async def _replay(self) -> None:
        rec = self.recorded
        t0 = rec.stamps[0]
        wall0 = self._wall0 or time.monotonic()
        for k in range(len(rec)):
            stamp, stream = rec.stamps[k], rec.streams[k]
            wait = (
                wall0 + (stamp - t0) / 1e9 / self.speed - time.monotonic()
                if self.speed > 0
                else 0.0
            )
            # Yield at every frame, even when catching up: REST answers must not starve.
            await asyncio.sleep(wait if wait > 0.0005 else 0)
            self._position, self._last_stamp = k, stamp
            for each in self._books.values():
                if (
                    each.first_snapshot is not None
                    and not each.first_reached.is_set()
                    and stamp > each.first_snapshot
                ):
                    # Hold the replay at the recording's snapshot until a client asks for it (its
                    # recorded round trip), so a sped-up replay cannot race past it.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(each.first_requested.wait(), FIRST_SNAPSHOT_WAIT_S)
                each.advance(stamp)
            book = self._books.get(stream_symbol(stream))
            fault = self._ws_fault(stamp, stream)
            if fault is not None:
                self.applied.append((stamp, fault.kind))
                skip = await self._apply_ws_fault(fault, stream)
                if fault.kind == "delay":
                    wall0 += fault.seconds
            else:
                skip = False
            text = rec.texts[k]
            if book is not None and stream_kind(stream) == "depth":
                book.stream.push(depth_rows(json.loads(text)["data"], stamp))
                if self.account.orders:
                    self.account.match(stream_symbol(stream))
            if not skip:
                await self._broadcast(stream, text, stamp)
        self.finished.set()

    async def _apply_ws_fault(self, fault: Fault, stream: str) -> bool:
        """Apply one fault; return True when the current frame must not be sent."""
        if fault.kind == "drop":
            for ws in list(self._clients):
                transport = self._transports.pop(ws, None)
                if transport is not None:
                    transport.abort()
                self._clients.pop(ws, None)
        elif fault.kind == "close":
            for ws in list(self._clients):
                self._clients.pop(ws, None)
                with contextlib.suppress(Exception):
                    await ws.close(code=1001, message=b"service restart")
        elif fault.kind == "malformed":
            for ws, streams in list(self._clients.items()):
                if stream in streams:
                    with contextlib.suppress(Exception):
                        if self.exchange == "mexc":  # a protobuf field longer than the frame
                            await ws.send_bytes(b"\n\x30spot@public.aggre")
                        else:
                            await ws.send_str('{"stream":"' + stream + '","data":{"e":"depthUp')
        elif fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
        elif fault.kind == "gap":
            return True
        return False

    async def _broadcast(self, stream: str, text: str, stamp: int) -> None:
        framed: str | bytes = ""
        for ws, streams in list(self._clients.items()):
            if stream not in streams:
                continue
            if self.exchange == "mexc":
                framed = framed or _mexc_frame(stream, text, stamp)
            else:
                framed = framed or f'{text[:-1]},"{REPLAY_FIELD}":{stamp}}}'
            try:
                await (ws.send_bytes(framed) if isinstance(framed, bytes) else ws.send_str(framed))
                self.frames_sent += 1
            except Exception:  # noqa: BLE001 - a client gone mid-send is dropped
                self._clients.pop(ws, None)

    async def _ws_handler(self, request: Any) -> Any:
        from aiohttp import WSMsgType, web

        ws = web.WebSocketResponse(heartbeat=None, autoping=True)
        await ws.prepare(request)
        streams: set[str] = set()
        if self.exchange == "binance":  # Binance subscribes by URL too; MEXC only by request
            names = [request.match_info.get("stream", "")]
            names += request.query.get("streams", "").split("/")
            streams.update(self._stream_name(name) for name in names if name)
        self._clients[ws] = streams
        self._transports[ws] = request.transport
        if self.start_on_connect:
            self._start_replay()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    req = json.loads(msg.data)
                    method, params, ident = req["method"], req.get("params", []), req.get("id")
                except (ValueError, KeyError, TypeError):
                    await ws.send_str(json.dumps({"error": {"code": 2, "msg": "Invalid JSON"}}))
                    continue
                if self.exchange == "mexc":
                    await ws.send_str(self._mexc_request(method, params, streams))
                    continue
                if method == "SUBSCRIBE":
                    streams.update(self._stream_name(p) for p in params)
                    result: Any = None
                elif method == "UNSUBSCRIBE":
                    streams.difference_update(self._stream_name(p) for p in params)
                    result = None
                elif method == "LIST_SUBSCRIPTIONS":
                    result = sorted(streams)
                else:
                    await ws.send_str(json.dumps({"error": {"code": 1, "msg": f"unknown method {method}"}, "id": ident}))  # fmt: skip
                    continue
                await ws.send_str(json.dumps({"result": result, "id": ident}))
        finally:
            self._clients.pop(ws, None)
            self._transports.pop(ws, None)
        return ws

    def _stream_name(self, name: str) -> str:
        """Binance stream names: the symbol is lower case, the rest as written (``@bookTicker``).

        A depth stream of another update speed than the recording's (``@depth@100ms`` asked of a
        ``@depth@0ms`` futures recording) gets the recorded one.
        """
        symbol, _, rest = name.partition("@")
        symbol = symbol.lower()
        if rest.startswith("depth") and symbol in self._depth_streams:
            return self._depth_streams[symbol]
        return f"{symbol}@{rest}" if rest else symbol

    def _mexc_request(self, method: str, params: list[str], streams: set[str]) -> str:
        """Answer a MEXC ``SUBSCRIPTION``/``UNSUBSCRIPTION``/``PING`` (the answer's JSON text)."""
        if method == "PING":
            return json.dumps({"id": 0, "code": 0, "msg": "PONG"})
        if method not in {"SUBSCRIPTION", "UNSUBSCRIPTION"}:
            return json.dumps({"id": 0, "code": 1, "msg": f"unknown method {method}"})
        names = []
        for channel in params:
            prefix, _, symbol = channel.rpartition("@")
            if prefix == DEPTH_CHANNEL:
                names.append(self._stream_name(f"{symbol}@depth"))
            elif prefix == DEALS_CHANNEL:
                names.append(f"{symbol.lower()}@trade")
            else:
                return json.dumps({"id": 0, "code": 1, "msg": f"Not Subscribed successfully! [{channel}]. Reason: Blocked!"})  # fmt: skip
        if method == "SUBSCRIPTION":
            streams.update(names)
        else:
            streams.difference_update(names)
        return json.dumps({"id": 0, "code": 0, "msg": ",".join(params)})

    async def _rest_handler(self, request: Any) -> Any:
        from aiohttp import web

        path, query = request.path, dict(request.query)
        if request.method in ("POST", "PUT", "DELETE") and request.can_read_body:
            query |= {k: str(v) for k, v in (await request.post()).items()}
        with self._lock:
            self.requests.append((request.method, path, query))
        fault = self._rest_fault(path)
        if fault is not None and fault.kind == "lost":
            # Processed, but the answer is lost on the way back (the client sees an error).
            await self._answer(request, path, query)
            return web.Response(status=fault.status or 503, body=self.rest.error_body(fault.status or 503),
                                content_type="application/json")  # fmt: skip
        if fault is not None:
            if fault.kind == "drop":
                if request.transport is not None:
                    request.transport.abort()
                return web.Response(status=500)
            if fault.kind == "delay":
                await asyncio.sleep(fault.seconds)
            elif fault.kind == "status":
                return web.Response(status=fault.status, body=self.rest.error_body(fault.status),
                                    headers={"Retry-After": "1"}, content_type="application/json")  # fmt: skip
            elif fault.kind == "malformed":
                return web.Response(status=200, text="<html>502 Bad Gateway", content_type="application/json")  # fmt: skip
        status, payload, stamp = await self._answer(request, path, query)
        return web.json_response(payload, status=status, headers={REPLAY_HEADER: str(stamp)})

    async def _answer(self, request: Any, path: str, query: dict[str, str]) -> tuple[int, Any, int]:
        stamp = self.clock_ns()
        account = _ACCOUNT_PATHS.get((request.method, path))
        if account is not None:
            if not (request.headers.get("X-MBX-APIKEY") or request.headers.get("X-MEXC-APIKEY")):
                return 401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}, stamp  # fmt: skip
            status, payload = getattr(self.account, account)(query)
            return status, payload, stamp
        if path in _DEPTH_PATHS:
            return await self._depth(query, _DEPTH_PATHS[path])
        if request.method == "GET" and path == "/api/v3/aggTrades":
            return self._agg_trades(query)
        if request.method == "GET" and (path.startswith(("/sapi/", "/api/v3/capital/"))):
            return 200, [], stamp  # wallet endpoints ccxt asks for (currencies): nothing to report
        if request.method == "GET":
            status, payload = self.rest.respond(path, query)
            return status, payload, stamp
        return 404, {"code": -1, "msg": f"unknown endpoint {request.method} {path}"}, stamp

    def _agg_trades(self, query: dict[str, str]) -> tuple[int, Any, int]:
        """``GET /api/v3/aggTrades``: the replay's trades received by now, one per entry.

        Binance's shape; MEXC's (``mexc`` mode) has no ids. ``startTime``/``endTime`` (ms,
        inclusive) select by trade time, oldest first, at most ``limit`` (1,000).
        """
        stamp = self.clock_ns()
        symbol = query.get("symbol", "").upper()
        if self._trades is None:
            rec, self._trades = self.recorded, {}
            for received, stream, text in zip(rec.stamps, rec.streams, rec.texts, strict=True):
                if stream_kind(stream) == "trade":
                    self._trades.setdefault(stream_symbol(stream), []).append((received, json.loads(text)["data"]))  # fmt: skip
        trades = self._trades.get(symbol)
        if trades is None:
            return 400, {"code": -1121, "msg": f"Invalid symbol {symbol!r}."}, stamp
        start, end = int(query.get("startTime", 0)), int(query.get("endTime", 2**62))
        limit = min(int(query.get("limit", 500)), 1000)
        out = []
        for received, data in trades:
            if received > stamp:
                break
            if start <= int(data["T"]) <= end:
                ident = None if self.exchange == "mexc" else int(data["t"])
                out.append({"a": ident, "f": ident, "l": ident, "p": data["p"], "q": data["q"],
                            "T": int(data["T"]), "m": bool(data["m"]), "M": True})  # fmt: skip
        out.sort(key=lambda t: t["T"])
        return 200, out[:limit], stamp

    async def _depth(self, query: dict[str, str], futures: bool) -> tuple[int, Any, int]:
        symbol = query.get("symbol", "").upper()
        book = self._books.get(symbol)
        if book is None:
            return 400, {"code": -1121, "msg": f"Invalid symbol {symbol!r}."}, self.clock_ns()
        if book.stream.is_futures != futures:  # a spot client on a futures recording, or back
            market = "a futures" if book.stream.is_futures else "a spot"
            hint = "binanceusdm" if book.stream.is_futures else "binance"
            return 400, {"code": -1121, "msg": f"Invalid symbol {symbol!r}: the simulator replays "
                         f"{market} recording of it (mmts live --exchange {hint})."}, self.clock_ns()  # fmt: skip
        try:
            limit = min(int(query.get("limit", 100)), _MAX_DEPTH)
        except ValueError:
            return 400, {"code": -1100, "msg": "Illegal characters found in parameter 'limit'."}, self.clock_ns()  # fmt: skip
        if futures and limit not in _FUTURES_DEPTH_LIMITS:
            return 400, {"code": -1130, "msg": "Data sent for parameter 'limit' is not valid."}, self.clock_ns()  # fmt: skip
        if book.first_snapshot is not None and not book.first_reached.is_set():
            # Asked before the recording's own snapshot arrived: answer with it, when it did.
            self._start_replay()
            book.first_requested.set()
            await book.first_reached.wait()
            body = json.loads(book.first_text)
            if self.exchange == "mexc":
                body["timestamp"] = book.first_snapshot // _MS
            return 200, body, book.first_snapshot
        body = book.snapshot(limit)
        if body is not None and self.exchange == "mexc":
            body["timestamp"] = self._last_stamp // _MS
        if body is None:
            return (
                503,
                {"code": -1001, "msg": "Internal error; book not available."},
                self.clock_ns(),
            )
        return 200, body, self._last_stamp


def _mexc_frame(stream: str, text: str, stamp: int) -> bytes:
    """Re-encode a recorded Binance depth or trade frame as the MEXC push of the same content."""
    data, symbol = json.loads(text)["data"], stream_symbol(stream)
    if stream_kind(stream) == "depth":
        return encode_depth(symbol, data["b"], data["a"], int(data["U"]), int(data["u"]), int(data["E"]), stamp)  # fmt: skip
    return encode_deals(symbol, [(data["p"], data["q"], not data["m"], int(data["T"]))], int(data["E"]), stamp)  # fmt: skip
