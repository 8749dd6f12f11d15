"""Market data over a websocket (Binance spot / USD-M, MEXC spot), with REST snapshots beside it.

:class:`MarketFeed` keeps one connection (diff depth, trades) open: it
reconnects with exponential backoff and jitter, lets the websockets library answer pings, and
calls a connection stale (and reconnects) when no frame came for ``stale_after_s``. Every frame
is stamped with its receive time — or, from the project's simulator, the recorded receive time
it carries — and handed to a :class:`FeedSink` in
arrival order. What differs between exchanges (URLs, subscribing, decoding JSON or protobuf) is
in :mod:`mmts.live.protocols`.

Depth snapshots follow Binance's (and MEXC's, which is the same) "manage a local order book" procedure: while a snapshot is
being fetched, that symbol's diffs are held; when it arrives they are released around it in
receive order, so the book sync (``data.book_stream``) sees exactly the sequence a recording of
the session would hold. Retries go only to what is worth retrying (timeouts, dropped
connections, 429, 5xx), with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from mmts.core.errors import DataFormatError
from mmts.data.binance_messages import snapshot_rows
from mmts.live.protocols import REPLAY_FIELD, exchange_text, protocol_for
from mmts.live.tasks import ErrorHandler, log_error, spawn

log = logging.getLogger(__name__)

__all__ = [
    "REPLAY_FIELD",
    "REPLAY_HEADER",
    "FeedConfig",
    "FeedSink",
    "MarketFeed",
    "RetryableError",
]

REPLAY_HEADER = "X-Mmts-Replay-Ns"
_RETRY_STATUS = {418, 429, 500, 502, 503, 504}
#: Diffs held per symbol while its snapshot is fetched (at 10 Hz: about half an hour).
MAX_HELD = 20_000


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedConfig:
    """Where to connect and what to subscribe (exchange symbols, e.g. ``ETHUSDT``).

    ``exchange``: ``binance`` (spot), ``binanceusdm`` (USD-M futures) or ``mexc`` (spot).
    """

    exchange: str = "binance"
    ws_url: str = "wss://stream.binance.com:9443"
    rest_url: str = "https://api.binance.com"
    depth: tuple[str, ...] = ()
    trades: tuple[str, ...] = ()
    #: Symbols whose ``@bookTicker`` (best bid/ask) is subscribed too (the recorder keeps it).
    book_ticker: tuple[str, ...] = ()
    snapshot_limit: int = 5000
    stale_after_s: float = 10.0
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 30.0
    request_timeout_s: float = 10.0
    #: Seconds between application-level pings (MEXC; Binance's are websocket pings).
    keepalive_s: float = 20.0


class FeedSink(Protocol):
    """What a feed delivers to (on the feed's event loop, in receive order)."""

    def on_depth(self, symbol: str, rows: np.ndarray) -> None:
        """Take one depth message (``book_dt`` rows: a diff or a snapshot)."""

    def on_trade(self, symbol: str, record: np.ndarray) -> None:
        """Take one trade (a ``trade_dt`` record)."""

    def on_connection(self, up: bool, stamp: int, reason: str) -> None:
        """Learn that the connection came up or went down (at stream time ``stamp``)."""


class RetryableError(Exception):
    """A request that failed in a way worth retrying (timeout, dropped connection, 429, 5xx)."""


def backoff_delays(initial: float, cap: float, rng: random.Random | None = None) -> Any:
    """Yield reconnect delays: exponential, capped, each drawn in [0.5, 1.5) x (full jitter)."""
    rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
    attempt = 0
    while True:
        yield min(cap, initial * 2**attempt) * (0.5 + rng.random())
        attempt = min(attempt + 1, 30)


class MarketFeed:
    """One websocket connection's market data into a :class:`FeedSink`; see the module docstring."""

    def __init__(self, cfg: FeedConfig, sink: FeedSink, *, clock: Callable[[], int] = time.time_ns,
                 raw: Callable[[int, str, str], None] | None = None) -> None:  # fmt: skip
        """``raw(stamp, symbol, text)`` gets every frame and snapshot as received (the recorder)."""
        self.cfg, self.sink, self.clock, self.raw = cfg, sink, clock, raw
        self.protocol = protocol_for(cfg.exchange)
        self.last_stamp = 0
        self.last_frame_wall = 0.0
        self.connected = False
        self.stale = False
        self.reconnects = 0
        self.frames = 0
        self.malformed = 0
        self.snapshots = 0
        self.rest_errors = 0
        #: Symbol -> (stamp when its snapshot was asked for, diffs held meanwhile).
        self.pending: dict[str, tuple[int, list[np.ndarray]]] = {}
        self.depth_floor: dict[str, int] = {}
        self.delivered_until: dict[str, int] = {}
        self._session: Any = None
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Told of a background task that failed (a session stops trading on it).
        self.on_error: ErrorHandler = log_error
        self._ws: Any = None
        self._got_frames = False
        #: ``perf_counter_ns`` when the input being handled (a frame, a REST answer) arrived: the
        #: start of the tick-to-decision latency.
        self.frame_received_ns = 0

    # -- stamps ---------------------------------------------------------------------------------

    def _stamp(self, recorded: Any) -> int:
        """Stamp a websocket frame: never earlier than the previous one (clocks step back)."""
        stamp = int(recorded) if isinstance(recorded, int) else self.clock()
        self.last_stamp = max(self.last_stamp, stamp)
        return self.last_stamp

    # -- REST -----------------------------------------------------------------------------------

    async def get_json(self, path: str, params: dict[str, Any]) -> tuple[Any, int]:
        """GET ``rest_url + path``; return the JSON body and its receive stamp.

        Raises :class:`RetryableError` for what may pass on retry and ``DataFormatError`` for a
        refusal (4xx other than 418/429) or a body that is not JSON.
        """
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.cfg.request_timeout_s)
            )
        url = self.cfg.rest_url.rstrip("/") + path
        try:
            async with self._session.get(url, params=params) as response:
                text = await response.text()
                recorded = response.headers.get(REPLAY_HEADER)
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as e:
            raise RetryableError(f"GET {path}: {type(e).__name__}: {e}") from e
        if status in _RETRY_STATUS:
            raise RetryableError(f"GET {path}: HTTP {status} {text[:120]}")
        if status != 200:
            raise DataFormatError(f"GET {path} {params}: HTTP {status} {text[:200]}")
        try:
            body = json.loads(text)
        except ValueError as e:
            raise RetryableError(f"GET {path}: the body is not JSON: {text[:80]!r}") from e
        # REST answers come on another connection: their stamps do not move the stream's clock.
        return body, int(recorded) if recorded else self.clock()

    async def get_with_retries(self, path: str, params: dict[str, Any],
                               attempts: int = 8) -> tuple[Any, int]:  # fmt: skip
        """:meth:`get_json`, retried with backoff on :class:`RetryableError`."""
        delays = backoff_delays(self.cfg.backoff_initial_s, self.cfg.backoff_max_s)
        for attempt in range(attempts):
            try:
                return await self.get_json(path, params)
            except RetryableError as e:
                self.rest_errors += 1
                if attempt == attempts - 1:
                    raise
                delay = next(delays)
                log.warning("%s; retrying in %.2f s", e, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def request_snapshot(self, symbol: str) -> None:
        """Fetch a depth snapshot of ``symbol`` (once at a time), holding its diffs meanwhile."""
        if symbol in self.pending:
            return
        self.pending[symbol] = (self.last_stamp, [])
        spawn(self._snapshot(symbol), f"depth snapshot of {symbol}", lambda: self.on_error,
              self._tasks)  # fmt: skip

    async def _snapshot(self, symbol: str) -> None:
        params = {
            "symbol": symbol,
            "limit": min(self.cfg.snapshot_limit, self.protocol.max_snapshot_limit),
        }
        while True:
            try:
                body, stamp = await self.get_with_retries(self.protocol.depth_path, params)
                rows = snapshot_rows(body, 0)
                if self.raw is not None:
                    self.raw(stamp, symbol, json.dumps(body, separators=(",", ":")))
                break
            except (RetryableError, DataFormatError) as e:
                log.warning("depth snapshot of %s failed (%s); trying again", symbol, e)
                await asyncio.sleep(self.cfg.backoff_max_s / 10)
        self.snapshots += 1
        self._release_snapshot(symbol, rows, stamp)  # a failure here reaches on_error

    def _release_snapshot(self, symbol: str, rows: np.ndarray, stamp: int) -> None:
        """Hand over the diffs held that came before the snapshot, the snapshot, then the rest.

        The symbol stays pending until the snapshot is handed over: the held diffs reach a book
        that is out of sync, and a sink that asks for a snapshot then must not get a second one
        (it would arrive after this one and reset a book that had just synced).
        """
        _, held = self.pending.get(symbol, (0, []))
        k = 0
        while k < len(held) and int(held[k]["local_ts"][0]) <= stamp:
            self._deliver(symbol, held[k])
            k += 1
        self.pending.pop(symbol, None)
        stamp = max(stamp, int(held[k - 1]["local_ts"][0])) if k else stamp
        rows["local_ts"] = stamp
        self._deliver(symbol, rows)
        # Diffs still on their way were sent before the snapshot was taken: they take effect at
        # its time, as Binance's procedure applies buffered diffs (and as the store records them).
        self.depth_floor[symbol] = stamp
        for message in held[k:]:
            self._deliver(symbol, message)

    def _deliver(self, symbol: str, rows: np.ndarray) -> None:
        """Hand one depth message to the sink, never earlier than the one before it."""
        floor = self.delivered_until.get(symbol, 0)
        if int(rows["local_ts"][0]) < floor:
            rows["local_ts"] = floor
        self.delivered_until[symbol] = int(rows["local_ts"][0])
        self.sink.on_depth(symbol, rows)

    # -- websocket ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until ``stop`` is set."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import WebSocketException

        cfg = self.cfg
        url = self.protocol.url(cfg.ws_url, cfg.depth, cfg.trades, cfg.book_ticker)
        delays = backoff_delays(self.cfg.backoff_initial_s, self.cfg.backoff_max_s)
        watchdog = asyncio.get_running_loop().create_task(self._watchdog(stop))
        try:
            while not stop.is_set():
                reason = "closed"
                try:
                    async with connect(url, proxy=None, max_size=2**24, open_timeout=self.cfg.request_timeout_s,
                                       ping_interval=20, ping_timeout=20, compression=None) as ws:  # fmt: skip
                        self._ws = ws
                        self.protocol.connected()
                        for request in self.protocol.subscribe(cfg.depth, cfg.trades):
                            await ws.send(request)
                        self.connected, self.stale = True, False
                        self.last_frame_wall = time.monotonic()
                        self.sink.on_connection(True, self.last_stamp, "connected")
                        for symbol in self.cfg.depth:
                            self.request_snapshot(symbol)
                        self._got_frames = False
                        await self._read(ws, stop)
                except (OSError, TimeoutError, WebSocketException) as e:
                    reason = f"{type(e).__name__}: {e}"
                finally:
                    self._ws = None
                    if stop.is_set():
                        reason = "stopped"
                    if self._got_frames:  # a connection that worked starts the backoff over
                        delays = backoff_delays(self.cfg.backoff_initial_s, self.cfg.backoff_max_s)
                    if self.connected:
                        self.connected = False
                        self.sink.on_connection(False, self.last_stamp, reason)
                if stop.is_set():
                    break
                self.reconnects += 1
                delay = next(delays)
                log.warning(
                    "market data connection lost (%s); reconnecting in %.2f s", reason, delay
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
        finally:
            watchdog.cancel()
            await self.close()

    async def close(self) -> None:
        """Cancel pending snapshot requests and close the REST session."""
        for task in list(self._tasks):
            task.cancel()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _read(self, ws: Any, stop: asyncio.Event) -> None:
        """Handle frames until the connection ends (closed by ``stop``, the server or a fault)."""

        async def close_on_stop() -> None:
            await stop.wait()
            await ws.close()

        loop = asyncio.get_running_loop()
        closer = loop.create_task(close_on_stop())
        pinger = loop.create_task(self._keepalive(ws)) if self.protocol.keepalive else None
        try:
            async for frame in ws:
                self.last_frame_wall = time.monotonic()
                self.stale = False
                self._got_frames = True
                self._on_frame(frame)
        finally:
            closer.cancel()
            if pinger is not None:
                pinger.cancel()

    async def _keepalive(self, ws: Any) -> None:
        """Send the protocol's ping now and then (MEXC drops a quiet connection)."""
        while True:
            await asyncio.sleep(self.cfg.keepalive_s)
            await ws.send(self.protocol.keepalive)

    def _on_frame(self, frame: str | bytes) -> None:
        self.frame_received_ns = time.perf_counter_ns()
        try:
            push = self.protocol.decode(frame)
        except DataFormatError as e:
            self.malformed += 1
            log.warning("bad frame skipped: %s", e)
            return
        if push is None:
            return
        stamp = self._stamp(push.recorded)
        self.frames += 1
        symbol, rows = push.symbol, push.rows
        if self.raw is not None and push.text is not None:  # only the recorder needs the text
            self.raw(stamp, symbol, exchange_text(push) or "")
        if push.kind == "depth":
            rows["local_ts"] = max(stamp, self.depth_floor.get(symbol, stamp))
            if symbol in self.pending:
                held = self.pending[symbol][1]
                held.append(rows)
                if len(held) > MAX_HELD:  # the snapshot is late: the oldest cannot bridge it
                    del held[: len(held) - MAX_HELD]
            else:
                self._deliver(symbol, rows)
        elif push.kind == "trade":
            rows["local_ts"] = stamp
            for k in range(rows.shape[0]):
                self.sink.on_trade(symbol, rows[k : k + 1])

    async def _watchdog(self, stop: asyncio.Event) -> None:
        """Call the feed stale after ``stale_after_s`` without a frame, and reconnect."""
        while not stop.is_set():
            await asyncio.sleep(min(1.0, self.cfg.stale_after_s / 4))
            quiet = time.monotonic() - self.last_frame_wall
            if self.connected and quiet > self.cfg.stale_after_s and not self.stale:
                self.stale = True
                log.warning("no market data for %.1f s: stale, reconnecting", quiet)
                if self._ws is not None:
                    with contextlib.suppress(Exception):
                        await self._ws.close(code=4000, reason="stale")
