"""Live market data as the runtime's event stream, in the order replay produces it.

:class:`LiveMarket` is the :class:`~mmts.live.feed.FeedSink` of a feed. It syncs the primary
symbol's book (``data.book_stream``), builds 1 s bars from trades (``live.bars``), fetches the
closed 1 m / 1 h / 1 d bars from REST klines as each closes, and hands the runtime
``core.events`` in exactly the order ``backtest.replay.replay_events`` would: by time, bars
before book events at equal times.

Sources finish at different moments (a 1 s bar is final when a later trade arrives, a 1 m bar
when its kline was fetched), so events wait in a heap until no source can still produce an
earlier one — each source's *watermark*. A source that holds the others back for
``max_wait_s`` of wall-clock time (a kline that never comes, a market without trades) is passed
over; what it delivers later is counted in ``late`` and dropped, because an out-of-order event
would be a look-ahead. Wall-clock, not event time: a replay sped up 50 times must not pass over
a REST round trip that took its usual milliseconds.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from time import monotonic, perf_counter_ns

import numpy as np

from mmts.config import FeatureConfig
from mmts.core import sync_nb
from mmts.core.errors import DataFormatError
from mmts.core.events import BarEvent, Event
from mmts.core.schema import trade_dt
from mmts.core.timeframes import timeframe_ns
from mmts.data.bars import bar_records_from_trades
from mmts.data.book_stream import BookSyncStream
from mmts.live.bars import TradeBars
from mmts.live.feed import MarketFeed, RetryableError
from mmts.live.tasks import ErrorHandler, log_error, spawn

log = logging.getLogger(__name__)

_MS = 1_000_000
#: Trades over which the clock offset is estimated, and the offset that earns a warning (ms).
OFFSET_WINDOW = 2000
CLOCK_WARN_MS = 250.0


def exchange_name(symbol: str) -> str:
    """``ETH/USDT`` -> ``ETHUSDT``."""
    return symbol.split(":", 1)[0].replace("/", "").upper()


@dataclass
class _BarSource:
    symbol: str
    timeframe: str
    step: int
    rank: int
    #: Every bar closing at or before this is final (delivered or passed over).
    final_until: int = -1
    from_trades: TradeBars | None = None
    fetching: bool = False
    missing: int = 0
    #: ``time.monotonic()`` since when this source holds the others back (None: it does not).
    blocking_since: float | None = None

    @property
    def next_close(self) -> int:
        return self.final_until + self.step


@dataclass
class MarketStatus:
    """What the status line and the state file report about market data."""

    book_valid: bool = False
    resyncs: int = 0
    late: int = 0
    missing_bars: int = 0
    events: int = 0
    #: The latest incidents (disconnects), newest last; at most 100.
    incidents: list[str] = field(default_factory=list)
    #: Receive stamp minus exchange time, smallest over the last trades (ms): the local clock's
    #: offset plus the fastest delivery. Bars close on exchange time and book events on receive
    #: time, so a bar waits until the book's clock passes its close: a clock this far behind
    #: delays every decision by about as much (None until trades came).
    clock_offset_ms: float | None = None


class LiveMarket:
    """Turn a feed's messages into ordered runtime events; see the module docstring.

    Parameters
    ----------
    features : the experiment's feature configuration (symbols, timeframes, frames, tick).
    emit : called with each event, in order (the runtime's ``feed``).
    fill_timeframe : the primary bars the venue fills against (also fetched).
    futures : the primary book uses futures id continuity.
    max_wait_s : event-time seconds a source may hold the others back.
    """

    def __init__(self, features: FeatureConfig, emit: Callable[[Event], None], *,
                 fill_timeframe: str = "1m", futures: bool = False,
                 max_wait_s: float = 5.0) -> None:  # fmt: skip
        self.features, self.emit = features, emit
        self.primary = exchange_name(features.primary_symbol)
        self.reference = exchange_name(features.reference_symbol)
        self.book = BookSyncStream(futures, tick=features.tick_size(features.primary_symbol))
        self.max_wait_s = float(max_wait_s)
        series = {(features.primary_symbol, tf) for tf in features.timeframes}
        series |= {(features.reference_symbol, "1s"), (features.primary_symbol, fill_timeframe)}
        self.sources: dict[tuple[str, str], _BarSource] = {}
        for rank, (symbol, tf) in enumerate(sorted(series)):  # rank: ties as in replay_events
            source = _BarSource(exchange_name(symbol), tf, timeframe_ns(tf), rank)
            if tf == "1s":
                source.from_trades = TradeBars(source.step)
            self.sources[(source.symbol, tf)] = source
        self.heap: list[tuple[int, int, int, int, Event]] = []
        self.seq = itertools.count()
        self.feed: MarketFeed | None = None
        self.clock = 0  # the newest receive stamp seen
        self.released_until = np.iinfo(np.int64).min
        self._last_kind = 0  # kind of the last event released (0 bar, 1 book)
        self.status = MarketStatus()
        #: Called with the book each time it becomes valid (tests compare it with replay's).
        self.on_synced: Callable[[BookSyncStream], None] | None = None
        #: What was passed over or dropped late: ``(time, kind or -1, what, timeframe, mark)``.
        self.late_log: deque[tuple[int, int, str, str, int]] = deque(maxlen=1000)
        self._offsets: deque[int] = deque(maxlen=OFFSET_WINDOW)
        self._offset_warned = False
        self._trades_seen = 0
        #: Told of a kline fetch that failed (a session stops trading on it).
        self.on_error: ErrorHandler = log_error

    @property
    def trade_symbols(self) -> tuple[str, ...]:
        """Exchange symbols whose trades make bars (subscribe their trade streams)."""
        return tuple(sorted({s.symbol for s in self.sources.values() if s.from_trades}))

    # -- warm-up --------------------------------------------------------------------------------

    async def warm_up(self, feed: MarketFeed, now_ns: int) -> None:
        """Fetch the last ``frames`` closed bars of every series (history before the live start)."""
        self.feed = feed
        self.clock = now_ns
        for source in self.sources.values():
            n = self.features.frames + 1
            first_open = (now_ns // source.step - n) * source.step
            bars = await self._klines(source, first_open, n)
            for open_ms, values in bars:
                self._push_bar(source, open_ms * _MS, values)
            last_close = (now_ns // source.step) * source.step
            source.final_until = last_close
            if source.from_trades is not None:
                source.from_trades.open_ts = -1
        self.release()

    async def _klines(self, source: _BarSource, first_open: int, limit: int
                      ) -> list[tuple[int, tuple[float, float, float, float, float]]]:  # fmt: skip
        if self.feed is None:
            raise RuntimeError("warm_up() connects the market to a feed first")
        protocol = self.feed.protocol
        interval = protocol.intervals.get(source.timeframe)
        if interval is None and source.from_trades is not None and protocol.agg_trades_path:
            return await self._bars_from_agg_trades(source, first_open, protocol.agg_trades_path)
        if interval is None:
            log.info("%s has no %s klines; that series starts empty", self.feed.cfg.exchange, source.timeframe)  # fmt: skip
            return []
        params = {"symbol": source.symbol, "interval": interval,
                  "startTime": max(first_open, 0) // _MS, "limit": min(limit, 1000)}  # fmt: skip
        rows, _ = await self.feed.get_with_retries(protocol.klines_path, params)
        out = []
        for row in rows:
            open_ms = int(row[0])
            out.append((open_ms, (float(row[1]), float(row[2]), float(row[3]), float(row[4]), float(row[5]))))  # fmt: skip
        return out

    async def _bars_from_agg_trades(self, source: _BarSource, first_open: int, path: str
                                    ) -> list[tuple[int, tuple[float, float, float, float, float]]]:  # fmt: skip
        """Build the closed bars from ``first_open`` to now from the trades the exchange lists.

        Pages through ``path`` (Binance-style aggregated trades: ``p``, ``q``, ``T``) by time.
        Trades carry no id here, so a full page ends at its last millisecond, dropped and asked
        again as the next page's start: no trade is counted twice or missed. Every second from
        ``first_open`` is covered completely, so each bar is final (empty seconds by policy).
        """
        if self.feed is None:
            raise RuntimeError("warm_up() connects the market to a feed first")
        now_ms = self.clock // _MS
        cursor, trades = max(first_open, 0) // _MS, []
        while cursor <= now_ms:
            params = {
                "symbol": source.symbol,
                "startTime": cursor,
                "endTime": now_ms,
                "limit": 1000,
            }
            rows, _ = await self.feed.get_with_retries(path, params)
            if len(rows) < 1000:
                trades += rows
                break
            last = int(rows[-1]["T"])
            page = [r for r in rows if int(r["T"]) < last]
            if not page:  # 1,000 trades in one millisecond: take them and move on
                page, last = rows, last + 1
            trades += page
            cursor = last
        records = np.zeros(len(trades), trade_dt)
        try:
            records["exch_ts"] = [int(t["T"]) * _MS for t in trades]
            records["price"] = [float(t["p"]) for t in trades]
            records["qty"] = [float(t["q"]) for t in trades]
        except (KeyError, TypeError, ValueError) as e:
            raise DataFormatError(f"{path} {source.symbol}: bad trade in the answer ({e})") from e
        step = source.step
        first = max(first_open, 0) // step * step
        last_open = self.clock // step * step - step  # the open second's trades are not needed
        records = records[records["exch_ts"] < last_open + step]
        if not len(records):
            return []
        bars = bar_records_from_trades(records, step, first, last_open)
        return [
            (int(b["ts"]) // _MS, (float(b["open"]), float(b["high"]), float(b["low"]),
                                   float(b["close"]), float(b["volume"])))
            for b in bars
        ]  # fmt: skip

    # -- feed sink ------------------------------------------------------------------------------

    def on_depth(self, symbol: str, rows: np.ndarray) -> None:
        """Sync the primary book with one depth message; queue its log entries."""
        if symbol != self.primary:
            return
        if int(rows["local_ts"][0]) < self.book.last_ts:
            # Held while a snapshot was fetched, then passed by a disconnect marker: a message
            # cannot take effect before the book's last change.
            rows["local_ts"] = self.book.last_ts
        self.clock = max(self.clock, int(rows["local_ts"][0]))
        was_valid = self.book.valid
        for event in self.book.push(rows):
            self._push(event.time, 1, event)
        self._after_book(was_valid)
        self.release()

    def on_trade(self, symbol: str, record: np.ndarray) -> None:
        """Add one trade to its symbol's 1 s bars; queue the bars it made final."""
        self.clock = max(self.clock, int(record["local_ts"][0]))
        self._offsets.append(int(record["local_ts"][0]) - int(record["exch_ts"][0]))
        self._trades_seen += 1
        if self._trades_seen % 100 == 0:  # a min over the window every 100 trades, not each one
            self._update_offset()
        source = self.sources.get((symbol, "1s"))
        if source is not None and source.from_trades is not None:
            bars = source.from_trades.push(int(record["exch_ts"][0]), int(record["trade_id"][0]),
                                           float(record["price"][0]), float(record["qty"][0]))  # fmt: skip
            for bar in bars:
                values = (float(bar["open"]), float(bar["high"]), float(bar["low"]),
                          float(bar["close"]), float(bar["volume"]))  # fmt: skip
                self._push_bar(source, int(bar["ts"]), values)
            source.final_until = max(source.final_until, source.from_trades.final_until)
        self.release()

    def _update_offset(self) -> None:
        offset_ms = min(self._offsets) / _MS
        self.status.clock_offset_ms = offset_ms
        if offset_ms < -CLOCK_WARN_MS and not self._offset_warned:
            self._offset_warned = True
            log.warning(
                "trades arrive %.0f ms before their exchange time: this clock is behind the "
                "exchange's, and every decision waits about that long (sync the clock, e.g. NTP)",
                -offset_ms,
            )

    def on_connection(self, up: bool, stamp: int, reason: str) -> None:
        """Mark the book out of sync when the connection drops (diffs may have been lost)."""
        if not up:
            was_valid = self.book.valid
            for event in self.book.invalidate(max(stamp, self.clock)):
                self._push(event.time, 1, event)
            self._after_book(was_valid, counts=reason != "stopped")
            self.status.incidents = [
                *self.status.incidents[-99:],
                f"disconnected at {stamp}: {reason}",
            ]
            self.release()

    def _after_book(self, was_valid: bool, counts: bool = True) -> None:
        self.status.book_valid = self.book.valid
        if was_valid and not self.book.valid and counts:
            self.status.resyncs += 1
        if not was_valid and self.book.valid and self.on_synced is not None:
            self.on_synced(self.book)
        # Out of sync with no snapshot on its way (an id gap, a bridge that failed): ask for one.
        # Not while disconnected: the feed asks when it is back.
        unsynced = int(self.book.status[sync_nb.SY_STATE]) == sync_nb.STATE_UNSYNCED
        if (
            unsynced
            and self.book.book is not None
            and self.feed is not None
            and self.feed.connected
        ):
            self.feed.request_snapshot(self.primary)

    # -- ordering -------------------------------------------------------------------------------

    def _push(self, time: int, kind: int, event: Event, rank: int = 0) -> None:
        heapq.heappush(self.heap, (time, kind, rank, next(self.seq), event))

    def _push_bar(self, source: _BarSource, open_ns: int, values: tuple[float, ...]) -> None:
        close = open_ns + source.step
        symbol = (self.features.primary_symbol if source.symbol == self.primary
                  else self.features.reference_symbol)  # fmt: skip
        event = BarEvent(close, symbol, source.timeframe, open_ns, values)  # type: ignore[arg-type]
        self._push(close, 0, event, source.rank)

    def _book_watermark(self) -> int:
        if self.feed is not None and self.primary in self.feed.pending:
            return self.feed.pending[self.primary][0]
        return self.clock

    def release(self) -> None:
        """Emit every event no source can still precede; fetch klines that are due."""
        self._fetch_due()
        book_mark = self._book_watermark()
        now = monotonic()
        sources = list(self.sources.values())
        min_close = min(s.next_close for s in sources)
        unblocked = False
        while self.heap:
            time, kind, rank, _, event = self.heap[0]
            if kind == 1 and time < min_close:  # the common case: a book event no bar can precede
                if not unblocked:
                    for source in sources:
                        source.blocking_since = None
                    unblocked = True
            else:
                ok = True
                for source in sources:
                    mark = source.next_close
                    if mark < time or (mark == time and (kind == 1 or source.rank < rank)):
                        if source.blocking_since is None:
                            source.blocking_since = now
                        if now - source.blocking_since > self.max_wait_s:
                            self._pass_over(source, time)
                            continue
                        ok = False
                        break
                    source.blocking_since = None
                if ok and kind == 0 and time > book_mark:
                    ok = False
                if not ok:
                    return
                min_close = min(s.next_close for s in sources)
            heapq.heappop(self.heap)
            if time < self.released_until or (kind == 0 and time == self.released_until
                                               and self._last_kind == 1):  # fmt: skip
                self.status.late += 1
                self.late_log.append(
                    (
                        time,
                        kind,
                        type(event).__name__,
                        getattr(event, "timeframe", ""),
                        self.released_until,
                    )
                )
                continue
            self.released_until, self._last_kind = time, kind
            self.status.events += 1
            self.emit(event)

    def _pass_over(self, source: _BarSource, time: int) -> None:
        """Give up on a source's bars up to ``time`` (the runtime must not wait forever)."""
        source.final_until = max(source.final_until, time // source.step * source.step)
        source.blocking_since = None
        source.missing += 1
        self.status.missing_bars += 1
        self.late_log.append((self.clock, -1, source.symbol, source.timeframe, source.final_until))

    def _fetch_due(self) -> None:
        if self.feed is None:
            return
        for source in self.sources.values():
            if (
                source.from_trades is None
                and not source.fetching
                and self.clock >= source.next_close
            ):
                source.fetching = True
                # The fetch ends in release() -> runtime.feed -> decide -> order: its failures
                # are the session's.
                spawn(self._fetch(source), f"kline fetch {source.symbol} {source.timeframe}",
                      lambda: self.on_error)  # fmt: skip

    async def _fetch(self, source: _BarSource) -> None:
        started = monotonic()
        try:
            delay = 0.01
            while True:
                due_open = source.final_until
                try:
                    bars = await self._klines(source, due_open, 1000)
                except RetryableError as e:
                    log.warning("klines %s %s: %s", source.symbol, source.timeframe, e)
                    bars = []
                if self.feed is not None:  # the answer is the input being handled now
                    self.feed.frame_received_ns = perf_counter_ns()
                fresh = [
                    (o, v)
                    for o, v in bars
                    if o * _MS >= due_open and o * _MS + source.step <= self.clock
                ]
                for open_ms, values in fresh:
                    self._push_bar(source, open_ms * _MS, values)
                    source.final_until = max(source.final_until, open_ms * _MS + source.step)
                if source.final_until > due_open or monotonic() - started > self.max_wait_s:
                    break
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
        finally:
            source.fetching = False
        self.release()
