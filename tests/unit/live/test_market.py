"""LiveMarket's warm-up where an exchange has no 1 s klines (MEXC): bars from listed trades."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmts.config import FeatureConfig
from mmts.core.events import BarEvent
from mmts.data import open_store
from mmts.live.feed import FeedConfig, MarketFeed
from mmts.live.market import LiveMarket
from mmts.testing.sim_exchange import SimExchange

pytestmark = pytest.mark.network

ROOT = Path(__file__).resolve().parents[3]
SPOT = ROOT / "data" / "raw" / "binance-ws" / "spot"


@pytest.mark.slow
def test_mexc_warm_up_builds_the_importer_s_1s_bars_from_agg_trades(
    sample_store_path: Path,
) -> None:
    """Ten minutes replayed, then a session starts: its 1 s history equals the store's bars."""
    store = open_store(sample_store_path)
    files = [SPOT / f"{s}usdt_2024080{d}.gz" for s in ("eth", "btc") for d in (8, 9)]
    with SimExchange(files, store=store, speed=0, start_on_connect=False, exchange="mexc") as sim:
        assert sim.wait_finished(120)
        now = sim.clock_ns()
        emitted: list[Any] = []
        market = LiveMarket(FeatureConfig(), emitted.append)
        feed = MarketFeed(FeedConfig(exchange="mexc", rest_url=sim.url), market)

        async def warm() -> None:
            try:
                await market.warm_up(feed, now)
            finally:
                await feed.close()

        asyncio.run(warm())
        pages = [q for _, path, q in sim.requests if path == "/api/v3/aggTrades"]
    assert len(pages) >= 8  # ~7,000 ETH trades in 300 s: the paging across full pages is exercised
    for symbol in ("ETH/USDT", "BTC/USDT"):
        ours = [
            e
            for e in emitted
            if isinstance(e, BarEvent) and e.symbol == symbol and e.timeframe == "1s"
        ]
        opens = np.array([e.open_ns for e in ours])
        assert len(ours) == 301 and np.all(np.diff(opens) == 1_000_000_000)
        stored = store.read("binance", symbol, "bars_1s", int(opens[0]), int(opens[-1]) + 1)
        common = np.intersect1d(opens, stored["ts"])
        assert len(common) >= 300  # the store drops the recording's last second; nothing else
        mine = {e.open_ns: e.ohlcv for e in ours}
        for bar in stored[np.isin(stored["ts"], common)]:
            expected = (bar["open"], bar["high"], bar["low"], bar["close"], bar["volume"])
            assert mine[int(bar["ts"])] == expected, int(bar["ts"])
