"""MarketFeed's snapshot hand-over: held diffs, the snapshot, then the rest, one fetch at a time."""

from __future__ import annotations

import asyncio

import numpy as np

from mmts.core.enums import FLAG_SNAPSHOT
from mmts.data.binance_messages import depth_rows, snapshot_rows
from mmts.live.feed import FeedConfig, MarketFeed


class _AsksWhileUnsynced:
    """A sink like LiveMarket: a diff reaching a book that has no snapshot yet asks for one."""

    def __init__(self) -> None:
        self.feed: MarketFeed | None = None
        self.got: list[tuple[int, bool]] = []

    def on_depth(self, symbol: str, rows: np.ndarray) -> None:
        snapshot = bool(rows["flags"][0] & FLAG_SNAPSHOT)
        if not snapshot and not any(s for _, s in self.got) and self.feed is not None:
            self.feed.request_snapshot(symbol)
        self.got.append((int(rows["local_ts"][0]), snapshot))

    def on_trade(self, symbol: str, record: np.ndarray) -> None:
        """Not used here."""

    def on_connection(self, up: bool, stamp: int, reason: str) -> None:
        """Not used here."""


def _diff(first: int, last: int, stamp: int) -> np.ndarray:
    data = {"e": "depthUpdate", "E": 1, "s": "ETHUSDT", "U": first, "u": last,
            "b": [["100.0", "1.0"]], "a": [["101.0", "2.0"]]}  # fmt: skip
    return depth_rows(data, stamp)


def test_held_diffs_before_the_snapshot_do_not_ask_for_a_second_one() -> None:
    sink = _AsksWhileUnsynced()
    feed = MarketFeed(FeedConfig(), sink)  # type: ignore[arg-type]
    sink.feed = feed
    snapshot = snapshot_rows({"lastUpdateId": 11, "bids": [["100.0", "1.0"]], "asks": [["101.0", "1.0"]]}, 0)  # fmt: skip

    async def hand_over() -> None:
        feed.pending["ETHUSDT"] = (0, [_diff(10, 11, 100), _diff(12, 12, 300)])
        feed._release_snapshot("ETHUSDT", snapshot, 200)

    asyncio.run(hand_over())
    # The held diff from before the snapshot, the snapshot at its stamp, then the later diff.
    assert sink.got == [(100, False), (200, True), (300, False)]
    assert not feed.pending and not feed._tasks  # no second fetch was started
