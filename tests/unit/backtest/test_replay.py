"""The replayed event stream: joining a recorded book midway gives the book a full replay has."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmts.backtest.replay import replay_events
from mmts.config import FeatureConfig
from mmts.core.events import BookEvent
from mmts.core.time import to_ns
from mmts.data import open_store
from mmts.features.inputs_stream import ModelInputBuilder

CFG = FeatureConfig(tick={"ETH/USDT": 0.01, "BTC/USDT": 0.01})
EARLY, LATE = to_ns("2024-08-08T23:54:20Z") or 0, to_ns("2024-08-09T00:03:00Z") or 0


def _inputs(store: object, start: int, times: list[int]) -> list:
    builder = ModelInputBuilder(CFG)
    out, pending = [], list(times)
    for event in replay_events(store, CFG, start, times[-1]):
        while pending and event.time > pending[0]:
            out.append(builder.build(pending.pop(0), outputs={}))
        if isinstance(event, BookEvent):
            builder.on_book_event(event.code, event.time, event.side, event.price, event.qty)
        else:
            builder.on_bar(event.symbol, event.timeframe, event.open_ns, event.ohlcv)
    out.extend(builder.build(t, outputs={}) for t in pending)
    return out


@pytest.mark.slow
def test_a_replay_that_starts_inside_the_recorded_book_sees_the_same_book(
    sample_store_path: Path,
) -> None:
    store = open_store(sample_store_path)
    times = [LATE + k * 10**9 for k in (0, 1, 30, 61, 120)]
    joined, full = _inputs(store, LATE, times), _inputs(store, EARLY, times)
    for a, b in zip(joined, full, strict=True):
        assert a.masks["cob"][-1], "the book is known from the first decision on"
        np.testing.assert_array_equal(a.blocks["cob"][-1], b.blocks["cob"][-1])
    # Once the imbalance averages' longest window (60 s) has passed, every block is the same.
    for name in ("cob", "imbalance"):
        tail = slice(-(times[-1] - LATE) // 10**9 + 60, None)
        np.testing.assert_array_equal(joined[-1].blocks[name][tail], full[-1].blocks[name][tail])
        np.testing.assert_array_equal(joined[-1].masks[name][tail], full[-1].masks[name][tail])
