"""Latency of one standardized model input with the step driver (p50/p99), beside the batch one.

The step driver is fed the real window's closed bars and book events second by second; each
decision's ``build(at)`` is timed alone. The batch driver (``model_input(store, at)``, reading
the store each time) is the reference. Both give identical inputs (tested in the suite).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from mmts.config import FeatureConfig
from mmts.core.timeframes import timeframe_ns
from mmts.data import open_store
from mmts.features import model_input
from mmts.features.inputs_stream import ModelInputBuilder
from mmts.testing.replay import feed_log


def run(store_path: Path, repeat: int = 1) -> list[dict[str, object]]:
    store = open_store(store_path)
    cfg = FeatureConfig(tick={"ETH/USDT": 0.01})
    replay, rows = store.book_replay(cfg.primary_symbol)
    first, last = int(replay.log_ts[0]), int(replay.log_ts[-1])
    decisions = np.arange(first - first % 10**9 + 10**9, last, 10**9)
    series = [(cfg.primary_symbol, tf) for tf in cfg.timeframes] + [(cfg.reference_symbol, "1s")]
    bars = {
        key: store.bars(key[0], key[1], start=first - 400 * 86400 * 10**9, end=last)
        for key in series
    }
    builder = ModelInputBuilder(cfg)
    fed = dict.fromkeys(series, 0)
    j = 0
    build_ns = []
    for at in decisions:
        for key, frame in bars.items():
            step = timeframe_ns(key[1])
            opens = frame.index.as_unit("ns").asi8
            values = frame.to_numpy()
            while fed[key] < len(frame) and opens[fed[key]] + step <= at:
                builder.on_bar(key[0], key[1], int(opens[fed[key]]), tuple(values[fed[key]]))
                fed[key] += 1
        j = feed_log(builder.on_book_event, replay.log_code, replay.log_ts, rows, j, int(at))
        t0 = time.perf_counter_ns()
        builder.build(int(at))
        build_ns.append(time.perf_counter_ns() - t0)
    step_us = np.array(build_ns[5:]) / 1e3  # the first builds compile numba kernels
    batch_us = []
    for at in decisions[::60]:
        t0 = time.perf_counter_ns()
        model_input(store, int(at), cfg)
        batch_us.append((time.perf_counter_ns() - t0) / 1e3)
    p50, p99 = np.percentile(step_us, [50, 99])
    return [{
        "benchmark": f"model input, one decision ({len(step_us)} decisions, step driver)",
        "mmts": f"p50 {p50:.0f} us, p99 {p99:.0f} us",
        "reference": f"batch from store: p50 {np.median(batch_us) / 1e3:.0f} ms",
        "speedup": f"{np.median(batch_us) / p50:.0f}x",
    }]  # fmt: skip
