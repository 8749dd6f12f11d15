"""Cost-aware labels (hand cases, no look-back leakage) and purged walk-forward splits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mmts.execution import CostModel
from mmts.models.labels import UNKNOWN, cost_aware_labels, forward_returns
from mmts.models.output import Action
from mmts.models.splits import walk_forward

STEP = 60_000_000_000


def test_labels_net_costs_and_dead_zone() -> None:
    costs = CostModel(taker_fee=0.001, half_spread=0.0)  # round trip 0.2 %
    r = np.array([0.0031, 0.0025, -0.0031, 0.001, np.nan])
    labels = cost_aware_labels(r, costs, dead_zone=0.001)
    assert labels.tolist() == [Action.BUY, Action.HOLD, Action.SELL, Action.HOLD, UNKNOWN]


def test_forward_return_looks_up_the_exit_bar_by_time() -> None:
    opens = np.array([0, 1, 2, 4, 5]) * STEP  # bar 3 missing
    closes = np.array([100.0, 101.0, 102.0, 104.0, 105.0])
    fwd = forward_returns(opens, closes, STEP, 2)
    assert fwd[0] == pytest.approx(0.02)
    assert np.isnan(fwd[1])  # exit bar (3) missing: unknown, not the next one
    assert fwd[2] == pytest.approx(104 / 102 - 1)
    assert np.isnan(fwd[3]) and np.isnan(fwd[4])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(50, 200), min_size=8, max_size=60), st.integers(1, 5), st.data())
def test_label_at_t_ignores_everything_before_t(closes: list[float], horizon: int, data) -> None:
    closes_arr = np.array(closes)
    opens = np.arange(closes_arr.shape[0]) * STEP
    i = data.draw(st.integers(0, closes_arr.shape[0] - 1))
    before = closes_arr.copy()
    before[:i] = data.draw(st.floats(50, 200))  # change every close before bar i
    costs = CostModel()
    a = cost_aware_labels(forward_returns(opens, closes_arr, STEP, horizon), costs, 0.0005)
    b = cost_aware_labels(forward_returns(opens, before, STEP, horizon), costs, 0.0005)
    assert a[i:].tolist() == b[i:].tolist()


@settings(max_examples=60, deadline=None)
@given(st.integers(200, 2000), st.integers(0, 50), st.integers(1, 3))
def test_walk_forward_keeps_order_and_purge(n: int, purge_steps: int, folds: int) -> None:
    times = np.arange(n, dtype=np.int64) * STEP
    purge = purge_steps * STEP
    assume(purge < int(n * 0.1) * STEP)  # shorter than the validation and test segments
    for split in walk_forward(times, purge, n_folds=folds, val_fraction=0.15, test_fraction=0.1):
        assert split.train.size and split.val.size and split.test.size
        assert times[split.train[-1]] + purge < times[split.val[0]]
        assert times[split.val[-1]] + purge < times[split.test[0]]


def test_walk_forward_refuses_what_does_not_fit() -> None:
    with pytest.raises(ValueError, match="purge gap"):
        walk_forward(np.arange(10) * STEP, 100 * STEP)
    with pytest.raises(ValueError, match="no room"):
        walk_forward(np.arange(100) * STEP, 0, n_folds=5, val_fraction=0.3, test_fraction=0.3)
    with pytest.raises(ValueError, match="increasing"):
        walk_forward(np.array([2, 1]), 0)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(1, 500), min_size=60, max_size=400), st.integers(0, 20),
       st.integers(1, 6), st.sampled_from(["expanding", "rolling"]))  # fmt: skip
def test_study_folds_keep_order_purge_and_shares_by_count(steps: list[int], purge_steps: int,
                                                           folds: int, scheme: str) -> None:  # fmt: skip
    """Synthetic decision times with holes of any length: every segment has decisions."""
    from mmts.models.splits import study_folds

    times = np.cumsum(np.asarray(steps, np.int64)) * 60
    purge = purge_steps * 60
    try:
        splits = study_folds(times, purge, n_folds=folds, scheme=scheme)
    except ValueError as e:
        assume("too few" not in str(e) and "leaves no" not in str(e))
        raise
    tests = [s.test for s in splits]
    assert np.array_equal(np.concatenate(tests), np.arange(tests[0][0], len(times)))  # tiled tail
    sizes = [t.shape[0] for t in tests]
    assert max(sizes) - min(sizes) <= 1  # equal shares by count, whatever the holes
    for s in splits:
        assert s.train.shape[0] and s.val.shape[0] and s.test.shape[0]
        assert times[s.train].max() < times[s.val].min() - purge
        assert times[s.val].max() < times[s.test].min() - purge
    if scheme == "expanding":
        assert all(s.train[0] == 0 for s in splits)


def test_study_folds_find_decisions_where_a_cut_by_time_falls_in_a_hole(shared_data) -> None:
    """The 2020-2023 ETH 1 m history: stretches of a month or so, years apart."""
    import json

    from mmts.models.splits import study_folds

    folder = shared_data / "klines" / "binance-spot-1m-more"
    opens = np.unique(np.concatenate([
        np.asarray([row[0] for row in json.loads(p.read_text())], np.int64) * 10**6
        for p in sorted(folder.glob("*/ETH_USDT-1m.json"))]))  # fmt: skip
    times = opens[::5]  # a decision every 5 minutes
    horizon = 15 * 60 * 10**9
    by_time = walk_forward(times, horizon, n_folds=10, test_fraction=0.05, val_fraction=0.05)
    assert any(s.test.shape[0] == 0 for s in by_time)  # a test segment that fell in a hole
    splits = study_folds(times, horizon, n_folds=10)
    assert all(s.test.shape[0] > 1000 and s.val.shape[0] > 100 for s in splits)
    years = {str(np.datetime64(int(times[s.test[0]]), "ns"))[:4] for s in splits}
    assert len(years) >= 2  # the folds test across the regimes of several years


def test_an_experiment_without_start_or_end_decides_over_all_the_store_holds(
    sample_store_path,
) -> None:
    import dataclasses

    import pandas as pd

    from mmts.data import open_store
    from mmts.models.experiment import load_experiment
    from mmts.models.prepare import prepare

    store = open_store(sample_store_path)
    exp = load_experiment()
    exp = dataclasses.replace(exp, data=dataclasses.replace(exp.data, start=None, end=None))
    times = prepare(store, exp).decisions.times
    bars = store.bars(exp.features.primary_symbol, "1m")
    first_close = pd.Timestamp(bars.index[0]).value + 60 * 10**9
    last_close = pd.Timestamp(bars.index[-1]).value + 60 * 10**9
    assert first_close <= times[0] < first_close + 5 * 60 * 10**9  # the first 5-minute decision
    assert last_close - 5 * 60 * 10**9 < times[-1] <= last_close
    half = dataclasses.replace(
        exp, data=dataclasses.replace(exp.data, start="2024-08-10T00:00:00Z")
    )
    assert prepare(store, half).decisions.times[0] == pd.Timestamp("2024-08-10", tz="UTC").value
