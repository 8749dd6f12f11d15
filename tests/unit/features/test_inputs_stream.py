"""The step driver of the model input equals the batch driver bit for bit on real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmts.config import FeatureConfig
from mmts.core.time import to_ns
from mmts.core.timeframes import timeframe_ns
from mmts.data import open_store
from mmts.features import model_input
from mmts.features.inputs_stream import ModelInputBuilder
from mmts.testing.replay import feed_log


def test_step_driver_equals_batch_driver_through_the_window(sample_store_path: Path) -> None:
    store = open_store(sample_store_path)
    cfg = FeatureConfig(tick={"ETH/USDT": 0.01})
    decisions = [to_ns(t) for t in ["2024-08-08T23:54:10Z", "2024-08-08T23:58:00.250Z",
                                    "2024-08-09T00:02:31Z", "2024-08-09T00:05:09Z"]]  # fmt: skip
    start = (decisions[0] or 0) - 400 * 86400 * 10**9
    series = [(cfg.primary_symbol, tf) for tf in cfg.timeframes] + [(cfg.reference_symbol, "1s")]
    bars = {key: store.bars(key[0], key[1], start=start, end=decisions[-1]) for key in series}
    replay, rows = store.book_replay(cfg.primary_symbol)

    builder = ModelInputBuilder(cfg, model_slots=("cnn",))
    fed_bars = dict.fromkeys(series, 0)
    j = 0
    for at in decisions:
        assert at is not None
        for key, frame in bars.items():
            step = timeframe_ns(key[1])
            opens = frame.index.as_unit("ns").asi8
            values = frame.to_numpy()
            while fed_bars[key] < len(frame) and opens[fed_bars[key]] + step <= at:
                builder.on_bar(
                    key[0], key[1], int(opens[fed_bars[key]]), tuple(values[fed_bars[key]])
                )
                fed_bars[key] += 1
        j = feed_log(builder.on_book_event, replay.log_code, replay.log_ts, rows, j, at)
        builder.on_model_output("cnn", np.full(36, 0.5))
        step_input = builder.build(at)
        batch_input = model_input(
            store, at, cfg, model_slots=("cnn",), model_outputs={"cnn": np.full(36, 0.5)}
        )
        for name in batch_input.blocks:
            assert np.array_equal(step_input.blocks[name], batch_input.blocks[name]), (at, name)
            assert np.array_equal(step_input.masks[name], batch_input.masks[name]), (at, name)


def test_step_driver_needs_the_tick() -> None:
    with pytest.raises(ValueError, match="needs the tick of ETH/USDT"):
        ModelInputBuilder(FeatureConfig())


def test_bars_out_of_order_are_refused() -> None:
    builder = ModelInputBuilder(FeatureConfig(tick={"ETH/USDT": 0.01}))
    builder.on_bar("ETH/USDT", "1m", 120 * 10**9, (1, 1, 1, 1, 1))
    with pytest.raises(ValueError, match="time order"):
        builder.on_bar("ETH/USDT", "1m", 60 * 10**9, (1, 1, 1, 1, 1))


def test_bar_ring_keeps_the_newest_bars_in_order_across_compactions() -> None:
    from mmts.features.inputs_stream import _BarRing

    ring = _BarRing(300)
    for i in range(1000):
        ring.push(i * 60, (i, i, i, i, 1.0))
        opens, values = ring.window()
        n = min(i + 1, 300)
        assert opens.tolist() == [60 * k for k in range(i + 1 - n, i + 1)]
        assert values[-1, 0] == i
