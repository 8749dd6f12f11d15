"""Each documented model-input formula against a plain numpy/pandas oracle, on a parameter grid.

The batch, step and history drivers share these kernels, so their parity tests cannot catch a
wrong formula: these can. Inputs are real bars and COB rows from the bundled store, with the
edge cases (gaps, zero volume, a bad price, unknown book rows) planted in them. The same tests
run with numba's JIT off (``test_the_formulas_hold_with_the_jit_off``).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmts.core.time import to_ns
from mmts.data import open_store
from mmts.features.inputs_nb import cob_blocks_nb, ohlcv_block_nb, pivot_select_nb
from mmts.features.pivots import pivot_arrays
from mmts.models.summary_nb import block_summary_nb

ROOT = Path(__file__).resolve().parents[3]
STORE = open_store(ROOT / "data")
MINUTE = 60 * 10**9


def _bars(tf: str, start: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    step = {"1s": 10**9, "1m": MINUTE, "1h": 60 * MINUTE}[tf]
    lo = to_ns(start) or 0
    frame = STORE.bars("ETH/USDT", tf, start=lo, end=lo + n * step)
    return frame.index.asi8.astype(np.int64), frame[
        ["open", "high", "low", "close", "volume"]
    ].to_numpy()


def _ohlcv_oracle(opens: np.ndarray, values: np.ndarray, last_open: int, step: int,
                  frames: int) -> tuple[np.ndarray, np.ndarray, float]:  # fmt: skip
    """``[log(o/c0), log(h/c0), log(l/c0), log(c/c0), log1p(v / mean v)]`` on the slot grid."""
    df = pd.DataFrame(values, index=opens, columns=["o", "h", "l", "c", "v"])
    grid = last_open - (frames - 1 - np.arange(frames)) * step
    on_grid = df[(df.index >= grid[0]) & (df.index <= last_open)]
    block, mask = np.zeros((frames, 5), np.float32), np.zeros(frames, bool)
    if on_grid.empty:
        return block, mask, math.nan
    c0 = float(on_grid["c"].iloc[-1])
    mean_v = float(on_grid["v"].mean())
    with np.errstate(divide="ignore", invalid="ignore"):
        feats = pd.DataFrame({
            "o": np.log(on_grid["o"] / c0), "h": np.log(on_grid["h"] / c0),
            "l": np.log(on_grid["l"] / c0), "c": np.log(on_grid["c"] / c0),
            "v": np.log1p(on_grid["v"] / (mean_v if mean_v > 0 else 1.0)),
        })  # fmt: skip
    feats = feats[np.isfinite(feats).all(axis=1)]
    slots = ((feats.index - grid[0]) // step).to_numpy()
    block[slots] = feats.to_numpy(np.float32)
    mask[slots] = True
    return block, mask, c0


@pytest.mark.parametrize(
    ("tf", "start", "n", "frames", "plant"),
    [
        ("1m", "2024-08-10", 300, 300, None),
        ("1m", "2024-08-10", 300, 50, "gaps"),
        ("1m", "2024-08-10", 120, 300, "short history"),
        ("1h", "2024-05-01", 400, 300, "zero volume"),
        ("1s", "2024-08-09T00:00:00Z", 200, 120, "bad price"),
        ("1m", "2024-08-10", 5, 1, "one frame"),
    ],
)
def test_ohlcv_block_is_log_prices_over_the_latest_close_and_log1p_relative_volume(
    tf: str, start: str, n: int, frames: int, plant: str | None
) -> None:
    opens, values = _bars(tf, start, n)
    step = int(np.diff(opens).min())
    if plant == "gaps":
        keep = np.ones(opens.shape[0], bool)
        keep[[3, 4, 100, -7]] = False
        opens, values = opens[keep], values[keep]
    elif plant == "zero volume":
        values = values.copy()
        values[-20:, 4] = 0.0
    elif plant == "bad price":
        values = values.copy()
        values[-10, 2] = 0.0  # a low of zero: log is -inf, that row is masked
    last_open = int(opens[-1])
    block, mask, c0 = ohlcv_block_nb(opens, values, last_open, step, frames)
    want_block, want_mask, want_c0 = _ohlcv_oracle(opens, values, last_open, step, frames)
    assert c0 == want_c0
    np.testing.assert_array_equal(mask, want_mask)
    np.testing.assert_allclose(block, want_block, rtol=1e-6, atol=1e-7)
    if plant == "bad price":
        assert not mask[frames - 10]
    if plant == "short history":
        assert mask.sum() == n and not mask[: frames - n].any()


def test_an_empty_window_is_all_masked() -> None:
    opens, values = _bars("1m", "2024-08-10", 10)
    block, mask, c0 = ohlcv_block_nb(opens, values, int(opens[0]) - 100 * MINUTE, MINUTE, 50)
    assert not mask.any() and not block.any() and math.isnan(c0)


def _cob_rows(n_unknown: int) -> tuple[np.ndarray, ...]:
    from mmts.config import FeatureConfig
    from mmts.features.inputs import decision_seconds, primary_cob_rows

    cfg = FeatureConfig(tick={"ETH/USDT": 0.01})
    rows = STORE.book_events("ETH/USDT", end="2024-08-09T00:05:00Z")
    times = decision_seconds(to_ns("2024-08-09T00:03:00Z") or 0, 300)
    bid, ask, imb, ma = (np.array(a, np.float64) for a in primary_cob_rows(rows, times, cfg))
    bid[:n_unknown], imb[:n_unknown] = np.nan, np.nan  # rows of an unknown book
    ask[5, 3] = np.nan  # one bucket unknown
    ma[7, 2] = np.nan  # one average unknown
    return bid, ask, imb, ma


@pytest.mark.parametrize("n_unknown", [0, 1, 40])
def test_cob_block_is_bucket_notional_over_the_row_total(n_unknown: int) -> None:
    bid, ask, imb, ma = _cob_rows(n_unknown)
    cob, cob_mask, imbalance, imb_mask = cob_blocks_nb(bid, ask, imb, ma)
    centre = bid.shape[1] // 2
    # The buckets left out are empty by construction: no bid above the mid, no ask below it.
    assert np.nansum(bid[:, centre + 1 :]) == 0 and np.nansum(ask[:, :centre]) == 0
    kept = np.concatenate([bid[:, : centre + 1], ask[:, centre:]], axis=1)
    assert cob.shape == (bid.shape[0], 2 * (centre + 1))
    total = np.nansum(kept, axis=1)
    want_mask = np.isfinite(total) & (total > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        want = np.nan_to_num(kept / total[:, None], nan=0.0)
    want[~want_mask] = 0.0
    np.testing.assert_array_equal(cob_mask, want_mask)
    np.testing.assert_allclose(cob, want.astype(np.float32), rtol=1e-6)
    assert cob_mask.sum() >= 300 - n_unknown - 1  # the real window has a book throughout
    # Imbalance: the raw value and its averages, available only where all of them are known.
    want_imb_mask = np.isfinite(imb) & np.isfinite(ma).all(axis=1)
    np.testing.assert_array_equal(imb_mask, want_imb_mask)
    want_imb = np.where(want_imb_mask[:, None], np.column_stack([imb, ma]), 0.0)
    np.testing.assert_allclose(imbalance, want_imb.astype(np.float32), rtol=1e-6)
    assert not imb_mask[7]


def _pivot_oracle(level: np.ndarray, kind: np.ndarray, time: np.ndarray, confirmed: np.ndarray,
                  price: np.ndarray, at: int, c0: float, levels: int) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    df = pd.DataFrame({"level": level, "kind": kind, "time": time, "confirmed": confirmed,
                       "price": price})  # fmt: skip
    known = df[(df["confirmed"] <= at) & (df["level"] <= levels)]
    latest = known.sort_values(["confirmed", "time"]).groupby(["level", "kind"]).tail(1)
    block, mask = np.zeros((2 * levels, 3), np.float32), np.zeros(2 * levels, bool)
    for r in latest.itertuples():
        row = 2 * (r.level - 1) + r.kind
        block[row] = [math.log(r.price / c0), math.log1p((at - r.time) / 1e9),
                      math.log1p((at - r.confirmed) / 1e9)]  # fmt: skip
        mask[row] = True
    return block, mask


@pytest.mark.parametrize(("strength", "levels", "hours"), [(2, 5, 12), (1, 3, 6), (3, 2, 48)])
def test_pivots_block_is_the_latest_confirmed_pivot_per_level_and_kind(
    strength: int, levels: int, hours: int
) -> None:
    opens, values = _bars("1m", "2024-08-12", hours * 60)
    level, kind, time, confirmed, price = pivot_arrays(
        opens, np.ascontiguousarray(values[:, 1]), np.ascontiguousarray(values[:, 2]), MINUTE,
        levels, strength,
    )  # fmt: skip
    assert level.shape[0] > 10
    c0 = float(values[-1, 3])
    for at in (int(opens[hours * 30]), int(opens[-1]) + MINUTE):
        block, mask = pivot_select_nb(level, kind, time, confirmed, price, at, c0, levels)
        want_block, want_mask = _pivot_oracle(level, kind, time, confirmed, price, at, c0, levels)
        np.testing.assert_array_equal(mask, want_mask)
        np.testing.assert_allclose(block, want_block, rtol=1e-6)


@pytest.mark.parametrize("available", ["all", "some", "none"])
def test_block_summary_is_last_row_mean_and_share_available(available: str) -> None:
    opens, values = _bars("1m", "2024-08-10", 300)
    block, _, _ = ohlcv_block_nb(opens, values, int(opens[-1]), MINUTE, 300)
    mask = {
        "all": np.ones(300, bool),
        "some": np.arange(300) % 3 == 0,
        "none": np.zeros(300, bool),
    }[available]
    out = np.full(2 * 5 + 1 + 4, -9.0)
    end = block_summary_nb(block, mask, out, 2)
    assert end == 2 + 2 * 5 + 1 and (out[:2] == -9.0).all() and (out[end:] == -9.0).all()
    rows = pd.DataFrame(block[mask].astype(np.float64))
    want_last = rows.iloc[-1].to_numpy() if len(rows) else np.zeros(5)
    want_mean = rows.mean().to_numpy() if len(rows) else np.zeros(5)
    np.testing.assert_allclose(out[2:7], want_last, rtol=1e-6)
    np.testing.assert_allclose(out[7:12], want_mean, rtol=1e-6, atol=1e-9)
    assert out[12] == pytest.approx(mask.mean())


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="already without the JIT")
def test_the_formulas_hold_with_the_jit_off() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, "-k", "not jit_off"],
        check=False, capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, "NUMBA_DISABLE_JIT": "1"},
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " passed" in done.stdout and "failed" not in done.stdout
