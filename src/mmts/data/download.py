"""Download historical OHLCV through ccxt (Binance, MEXC), page by page, resumably.

Each page is validated and written to the store before the next is requested, so an
interrupted download keeps what it fetched, and running the same download again continues at
the first missing bar. What ccxt classes as retryable (``OperationFailed``: HTTP 429 and 5xx,
timeouts, dropped connections) is retried with exponential backoff; anything else (a bad
symbol, a rejected request) stops the download with the exchange's message.
Only closed bars are stored: a bar still forming at request time is never written.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from mmts.core.errors import MmtsError
from mmts.core.schema import bar_dt
from mmts.core.time import iso, to_ns, wall_clock_ns
from mmts.core.timeframes import bar_kind, timeframe_ns
from mmts.data.klines import validate_bars
from mmts.data.store import Store

_MS = 1_000_000
#: Exchanges whose OHLCV download is supported and tested against the local simulator.
SUPPORTED_EXCHANGES = ("binance", "mexc")


class DownloadError(MmtsError):
    """The download stopped; what was fetched before is stored."""


@dataclass
class DownloadReport:
    """What a download did."""

    exchange: str
    symbol: str
    timeframe: str
    start: str
    end: str
    resumed_from: str | None = None
    requests: int = 0
    retries: int = 0
    bars_new: int = 0
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)


def point_ccxt_at(exchange: Any, base_url: str) -> None:
    """Rewrite every URL in a ccxt exchange's ``urls['api']`` to ``base_url``, keeping paths.

    Used to talk to a local exchange simulator (or a proxy) instead of the exchange's hosts.
    """

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: rewrite(v) for k, v in node.items()}
        if isinstance(node, str) and node.startswith(("http://", "https://")):
            return base_url.rstrip("/") + urlsplit(node).path
        return node

    exchange.urls["api"] = rewrite(exchange.urls["api"])


def make_exchange(exchange_id: str, *, api_url: str | None = None, timeout_ms: int = 10_000) -> Any:
    """Create a ccxt exchange for public market data (no keys), optionally pointed at ``api_url``."""
    if exchange_id not in SUPPORTED_EXCHANGES:
        raise ValueError(f"exchange must be one of {SUPPORTED_EXCHANGES}; was {exchange_id!r}")
    import ccxt  # heavy: imported only when downloading

    exchange = getattr(ccxt, exchange_id)({"enableRateLimit": True, "timeout": timeout_ms})
    if api_url is not None:
        point_ccxt_at(exchange, api_url)
    return exchange


def _retrying(
    call: Callable[[], Any],
    report: DownloadReport,
    *,
    max_retries: int,
    backoff_s: float,
    what: str,
) -> Any:
    import ccxt

    attempt = 0
    while True:
        report.requests += 1
        try:
            return call()
        except ccxt.OperationFailed as e:  # ccxt's retryable class: 429, 5xx, timeouts, resets
            attempt += 1
            report.retries += 1
            message = f"{what}: {type(e).__name__}: {str(e)[:200]}"
            report.errors.append(message)
            if attempt > max_retries:
                raise DownloadError(f"{message} (gave up after {max_retries} retries)") from e
            time.sleep(min(backoff_s * 2 ** (attempt - 1), 30.0))
        except ccxt.BaseError as e:
            raise DownloadError(f"{what}: {type(e).__name__}: {str(e)[:300]}") from e


def _resume_point(
    store: Store, exchange: str, symbol: str, kind: str, start: int, end: int, step: int
) -> int:
    """Return the first bar time in ``[start, end)`` from which bars are missing."""
    if not store.partitions(exchange, symbol, kind):
        return start
    ts = store.read(exchange, symbol, kind, start, end)["ts"]
    if ts.shape[0] == 0 or ts[0] != start:
        return start
    expected = start + step * np.arange(ts.shape[0])
    holes = np.flatnonzero(ts != expected)
    return int(expected[holes[0]]) if holes.size else int(ts[-1]) + step


def download_ohlcv(
    store: Store,
    exchange: str,
    symbol: str,
    timeframe: str,
    start: object,
    end: object = None,
    *,
    api_url: str | None = None,
    page_limit: int | None = None,
    max_retries: int = 5,
    backoff_s: float = 1.0,
    timeout_ms: int = 10_000,
    progress: bool = False,
) -> DownloadReport:
    """Download closed OHLCV bars with open time in ``[start, end)`` into ``store``.

    Parameters
    ----------
    store : destination; bars go to ``bars_<timeframe>`` of ``exchange``/``symbol``.
    exchange : ``'binance'`` or ``'mexc'`` (ccxt ids).
    symbol : unified symbol, e.g. ``'BTC/USDT'``.
    timeframe : e.g. ``'1m'``.
    start, end : times (ISO, Timestamp, int ns); ``end`` defaults to now.
    api_url : base URL replacing the exchange's hosts (a local simulator in tests).
    page_limit : bars per request (ccxt's default for the exchange when None).
    max_retries, backoff_s : retry policy for network errors (backoff doubles each retry).
    timeout_ms : per-request timeout.
    progress : show a tqdm progress bar.

    Raises
    ------
    DownloadError
        After ``max_retries`` network failures in a row, or on any non-network exchange error.
        Pages fetched before the failure stay stored; calling again resumes.
    """
    step = timeframe_ns(timeframe)
    kind = bar_kind(timeframe)
    start_ns = to_ns(start)
    if start_ns is None:
        raise ValueError("start is required")
    start_ns = -(-start_ns // step) * step  # first whole bar
    now = wall_clock_ns()
    end_ns = min(to_ns(end) or now, now)
    report = DownloadReport(exchange, symbol, timeframe, iso(start_ns), iso(end_ns))
    since = _resume_point(store, exchange, symbol, kind, start_ns, end_ns, step)
    if since != start_ns:
        report.resumed_from = iso(since)
    if since >= end_ns:
        return report

    client = make_exchange(exchange, api_url=api_url, timeout_ms=timeout_ms)
    _retrying(
        client.load_markets,
        report,
        max_retries=max_retries,
        backoff_s=backoff_s,
        what="load markets",
    )
    if symbol not in client.markets:
        raise DownloadError(f"{exchange} has no market {symbol!r}")

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(
            total=(end_ns - since) // step, unit="bar", desc=f"{exchange} {symbol} {timeframe}"
        )
    try:
        while since < end_ns:
            what = f"fetch_ohlcv {symbol} {timeframe} since {iso(since)}"
            since_ms = since // _MS

            def fetch(since_ms: int = since_ms) -> Any:
                return _fetch_page(client, symbol, timeframe, since_ms, page_limit)

            page = _retrying(fetch, report, max_retries=max_retries, backoff_s=backoff_s, what=what)
            bars = _page_to_bars(page, since, end_ns, step, wall_clock_ns())
            if bars.shape[0] == 0:
                break  # nothing more on the exchange up to end
            bars, _ = validate_bars(bars, timeframe, f"{exchange} {what}")
            report.bars_new += store.write(exchange, symbol, kind, bars)
            advanced = int(bars["ts"][-1]) + step
            if bar is not None:
                bar.update((advanced - since) // step)
            since = advanced
    finally:
        if bar is not None:
            bar.close()
    return report


def _fetch_page(client: Any, symbol: str, timeframe: str, since_ms: int, limit: int | None) -> Any:
    """Fetch one page; an empty page must come from a well-formed empty JSON array.

    ccxt turns a body that is not JSON into an empty list, which would look like the end of the
    data; such a response is raised as ccxt's retryable ``ExchangeNotAvailable`` instead.
    """
    import ccxt

    page = client.fetch_ohlcv(symbol, timeframe, since_ms, limit)
    if not page:
        raw = getattr(client, "last_http_response", None)
        try:
            ok = isinstance(json.loads(raw), list) if raw is not None else True
        except ValueError:
            ok = False
        if not ok:
            raise ccxt.ExchangeNotAvailable(f"malformed response: {str(raw)[:80]!r}")
    if not isinstance(page, list) or any(not isinstance(r, list) or len(r) < 6 for r in page):
        raise ccxt.ExchangeNotAvailable(f"malformed OHLCV page: {str(page)[:80]!r}")
    return page


def _page_to_bars(page: list[list[Any]], since: int, end: int, step: int, now: int) -> np.ndarray:
    rows = [r for r in page if r and r[0] is not None]
    bars = np.zeros(len(rows), bar_dt)
    if not rows:
        return bars
    raw = np.array([[float(x) if x is not None else np.nan for x in r[:6]] for r in rows])
    bars["ts"] = raw[:, 0].astype(np.int64) * _MS
    for i, name in enumerate(("open", "high", "low", "close", "volume"), start=1):
        bars[name] = raw[:, i]
    bars["trades"] = -1
    keep = (bars["ts"] >= since) & (bars["ts"] < end) & (bars["ts"] + step <= now)
    out: np.ndarray = bars[keep]
    return out
