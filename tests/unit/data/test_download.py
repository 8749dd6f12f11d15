"""OHLCV download through ccxt against the local exchange simulator (127.0.0.1 only)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mmts.data import open_store
from mmts.data.download import DownloadError, download_ohlcv
from mmts.data.store import Store
from mmts.testing.exchange_sim import ExchangeSimulator, Fault

pytestmark = pytest.mark.network
START, END = "2024-08-01", "2024-08-02T12:00"  # 2,160 real 1 m bars from the bundled store


@pytest.fixture(params=["binance", "mexc"])
def sim(request: pytest.FixtureRequest, sample_store_path: Path) -> Iterator[ExchangeSimulator]:
    # The simulator replays the bundled Binance bars through either exchange's REST protocol.
    with ExchangeSimulator(
        open_store(sample_store_path), exchange=request.param, source_exchange="binance"
    ) as s:
        yield s


def _expected(sim: ExchangeSimulator) -> object:
    return sim.store.bars("BTC/USDT", "1m", START, END)


def _download(store: Store, sim: ExchangeSimulator, **kwargs: object):
    return download_ohlcv(
        store,
        sim.exchange,
        "BTC/USDT",
        "1m",
        START,
        END,
        api_url=sim.url,
        backoff_s=0.001,
        **kwargs,
    )


def test_pages_through_the_range(sim: ExchangeSimulator, tmp_path: Path) -> None:
    store = open_store(tmp_path)
    report = _download(store, sim, page_limit=300)
    assert report.bars_new == 2160 and report.retries == 0
    assert store.bars("BTC/USDT", "1m", exchange=sim.exchange).equals(_expected(sim))
    pages = [q for p, q in sim.requests if p.endswith("klines")]
    assert len(pages) == 8  # ceil(2160 / 300)
    assert all(q["limit"] == "300" for q in pages)


def test_retries_rate_limits_server_errors_timeouts_and_drops(
    sim: ExchangeSimulator, tmp_path: Path
) -> None:
    sim.inject(
        Fault("status", status=429, path="klines"),
        Fault("status", status=503, path="klines"),
        Fault("drop", path="klines"),
        Fault("malformed", path="klines"),
        Fault("delay", seconds=0.4, path="klines"),
        Fault("status", status=429, path="exchangeInfo"),
    )
    store = open_store(tmp_path)
    report = _download(store, sim, timeout_ms=150)
    assert report.retries == 6
    kinds = " ".join(report.errors)
    for name in ["RateLimitExceeded" if sim.exchange == "mexc" else "DDoSProtection", "RequestTimeout",
                 "malformed response", "NetworkError"]:  # fmt: skip
        assert name in kinds
    assert store.bars("BTC/USDT", "1m", exchange=sim.exchange).equals(_expected(sim))


def test_interrupted_download_resumes_where_it_stopped(
    sim: ExchangeSimulator, tmp_path: Path
) -> None:
    store = open_store(tmp_path)
    sim.inject(*[Fault("pass", path="klines")] * 2, *[Fault("drop", path="klines")] * 3)
    with pytest.raises(DownloadError, match="gave up after 2 retries"):
        _download(store, sim, page_limit=500, max_retries=2)
    assert len(store.bars("BTC/USDT", "1m", exchange=sim.exchange)) == 1000  # two pages kept

    sim.requests.clear()
    report = _download(store, sim, page_limit=500)
    assert report.resumed_from == "2024-08-01T16:40:00Z"
    first = next(q for p, q in sim.requests if p.endswith("klines"))
    assert int(first["startTime"]) == 1722530400000  # 16:40 in ms: nothing fetched twice
    assert store.bars("BTC/USDT", "1m", exchange=sim.exchange).equals(_expected(sim))
    # A third run has nothing left to do and sends no request.
    sim.requests.clear()
    assert _download(store, sim).requests == 0 and sim.requests == []


def test_unknown_symbol_is_not_retried(sim: ExchangeSimulator, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="no market 'DOGE/USDT'"):
        download_ohlcv(
            open_store(tmp_path), sim.exchange, "DOGE/USDT", "1m", START, END, api_url=sim.url
        )


def test_only_closed_bars_are_stored(
    sim: ExchangeSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pretend "now" is 2024-08-01 10:00:30: the 10:00 bar is still forming.
    now = 1722506430 * 10**9
    monkeypatch.setattr("mmts.data.download.wall_clock_ns", lambda: now)
    store = open_store(tmp_path)
    download_ohlcv(store, sim.exchange, "BTC/USDT", "1m", START, None, api_url=sim.url)
    bars = store.bars("BTC/USDT", "1m", exchange=sim.exchange)
    assert str(bars.index[-1]) == "2024-08-01 09:59:00+00:00"
