"""Every input rebuilt from frames stored once equals the input the model read (property)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from mmts.config import FeatureConfig
from mmts.core.timeframes import NS_PER_SECOND, timeframe_ns
from mmts.features.inputs import (
    InputWindows,
    ModelInputLayout,
    assemble_windows,
    decision_seconds,
    input_hash,
)
from mmts.history.frames import FrameTracker, frame_tables, windows_from_frames

CFG = FeatureConfig(frames=6, timeframes=("1s", "1m"), n_buckets=2, imbalance_buckets=1,
                    imbalance_windows_s=(1, 3), pivot_levels=1, tick={"ETH/USDT": 0.01})  # fmt: skip
LAYOUT = ModelInputLayout(config=CFG)
T0 = 1_723_161_600 * NS_PER_SECOND  # a whole minute


def _series(draw: st.DrawFn, tf: str, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bars of one series: open times (some missing), OHLCV, and when each reached the driver."""
    step = timeframe_ns(tf)
    present = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    opens = np.array([T0 - 8 * step + k * step for k in range(n) if present[k]], np.int64)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    close = 100 + rng.random(opens.shape[0])
    values = np.column_stack([close, close + 0.1, close - 0.1, close, rng.random(opens.shape[0])])
    # Arrival: at its close or later (a late kline), never before the series' previous bar.
    delays = np.array(draw(st.lists(st.integers(0, 3), min_size=opens.shape[0],
                                    max_size=opens.shape[0])), np.int64)  # fmt: skip
    arrival = np.maximum.accumulate(opens + step + delays * NS_PER_SECOND)
    return opens, values, arrival


@st.composite
def _history(draw: st.DrawFn) -> dict[str, object]:
    series = {(CFG.primary_symbol, "1s"): _series(draw, "1s", 40),
              (CFG.primary_symbol, "1m"): _series(draw, "1m", 12),
              (CFG.reference_symbol, "1s"): _series(draw, "1s", 40)}  # fmt: skip
    seconds = T0 - 10 * NS_PER_SECOND + np.arange(40, dtype=np.int64) * NS_PER_SECOND
    known = np.array(draw(st.lists(st.booleans(), min_size=40, max_size=40)))
    times = sorted(set(draw(st.lists(st.integers(0, 30), min_size=1, max_size=12))))
    return {"series": series, "seconds": seconds, "known": known,
            "times": [T0 - 10 * NS_PER_SECOND + k * NS_PER_SECOND for k in times]}  # fmt: skip


def _windows(history: dict[str, object], at: int) -> InputWindows:
    """What a step driver holds at ``at``: arrived closed bars (its ring), final COB rows."""
    bars = {}
    for key, (opens, values, arrival) in history["series"].items():  # type: ignore[attr-defined]
        ok = (opens + timeframe_ns(key[1]) <= at) & (arrival <= at)
        bars[key] = (opens[ok][-(CFG.frames + 1) :], values[ok][-(CFG.frames + 1) :])
    secs = decision_seconds(at, CFG.frames)
    n_side = 2 * CFG.n_buckets + 1
    bid = np.full((secs.shape[0], n_side), np.nan)
    ask, imb = bid.copy(), np.full(secs.shape[0], np.nan)
    ma = np.full((secs.shape[0], 2), np.nan)
    stored, known = history["seconds"], history["known"]
    for i, s in enumerate(secs):
        j = np.searchsorted(stored, s)  # type: ignore[call-overload]
        if j < len(stored) and stored[j] == s and known[j]:  # type: ignore[arg-type, index]
            bid[i] = np.arange(n_side) * (s % 7 + 1)
            ask[i] = bid[i][::-1] + 1
            imb[i], ma[i] = 0.1 * (s % 5), (0.2, -0.3)
    return InputWindows(at, bars, (bid, ask, imb, ma))


@settings(max_examples=60, deadline=None)
@given(_history())
def test_inputs_rebuilt_from_frames_stored_once_hash_the_same(history: dict[str, object]) -> None:
    tracker = FrameTracker(LAYOUT)
    read = []
    new = []
    for at in history["times"]:  # type: ignore[attr-defined]
        windows = _windows(history, at)
        read.append(assemble_windows(LAYOUT, windows, {}))
        new.append(tracker.new_frames(windows))
    bars, cob = (t.to_pandas() for t in frame_tables(3, new))
    stored_rows = len(bars)
    for x in read:
        rebuilt = assemble_windows(LAYOUT, windows_from_frames(LAYOUT, x.at, bars, cob), {})
        assert input_hash(rebuilt) == input_hash(x)
    # Each bar is stored once: no more rows than distinct bars seen.
    distinct = {(k, o) for k, (opens, _, _) in history["series"].items() for o in opens}  # type: ignore[attr-defined]
    assert stored_rows <= len(distinct)


def test_a_frame_stored_again_by_another_worker_counts_once() -> None:
    history_rows = {"series": {}, "seconds": np.array([T0], np.int64), "known": np.array([True])}
    windows = _windows(history_rows, T0)
    one = frame_tables(0, [FrameTracker(LAYOUT).new_frames(windows)])
    two = frame_tables(0, [FrameTracker(LAYOUT).new_frames(windows)])
    cob = pa.concat_tables([one[1], two[1]]).to_pandas()
    assert len(cob) == 2 * CFG.frames  # every row of the window, by each tracker
    x = assemble_windows(LAYOUT, windows, {})
    rebuilt = assemble_windows(LAYOUT, windows_from_frames(LAYOUT, T0, one[0].to_pandas(), cob), {})
    assert input_hash(rebuilt) == input_hash(x)


def test_the_hash_sees_every_block_and_mask() -> None:
    history_rows = {"series": {}, "seconds": np.array([T0], np.int64), "known": np.array([True])}
    x = assemble_windows(LAYOUT, _windows(history_rows, T0), {})
    before = input_hash(x)
    for name in x.blocks:
        for kind in ("blocks", "masks"):
            arrays = getattr(x, kind)
            original = arrays[name]
            changed = original.copy()
            changed.flat[0] = (
                not changed.flat[0] if changed.dtype == np.bool_ else changed.flat[0] + 1
            )
            arrays[name] = changed
            assert input_hash(x) != before, (name, kind)
            arrays[name] = original
    assert input_hash(x) == before
