"""Block-bootstrap intervals and the regime rule, against plain oracles."""

from __future__ import annotations

import numpy as np
import pytest

from mmts.study.stats import (
    block_indices,
    block_sums,
    explained_share,
    pooled_mean_interval,
    regime,
    return_interval,
    total_return,
)


def test_block_indices_are_runs_of_consecutive_steps_wrapping_around_the_series() -> None:
    rng = np.random.default_rng(0)
    idx = block_indices(100, 8, 50, rng)
    assert idx.shape == (50, 100)
    assert idx.min() >= 0 and idx.max() < 100
    runs = idx[:, :96].reshape(50, 12, 8)  # whole blocks: each a run of 8 consecutive steps
    assert (np.diff(runs, axis=2) % 100 == 1).all()  # ... circular: step 99 is followed by 0


def test_every_step_is_resampled_equally_often_the_last_ones_too() -> None:
    # A moving-block bootstrap draws a series' first and last steps less often than the rest: a
    # profit made in the last steps then falls outside its own interval (found in a study).
    counts = np.bincount(
        block_indices(200, 48, 4000, np.random.default_rng(1)).ravel(), minlength=200
    )
    assert counts.min() > 0.9 * counts.mean() and counts.max() < 1.1 * counts.mean()
    late_profit = np.zeros(300)
    late_profit[-5:] = 0.002  # one trade, at the very end
    lo, hi = return_interval(late_profit, block=48, resamples=1000, confidence=0.9, seed=0)
    assert lo <= total_return(late_profit) <= hi


def test_return_interval_equals_a_plain_loop_oracle() -> None:
    returns = np.random.default_rng(1).normal(0.0002, 0.01, 300)
    found = return_interval(returns, block=10, resamples=400, confidence=0.9, seed=5)
    rng = np.random.default_rng(5)
    starts = rng.integers(0, 300, size=(400, 30))
    totals = []
    for row in starts:
        picked = [returns[(s + j) % 300] for s in row for j in range(10)][:300]
        value = 1.0
        for r in picked:
            value *= 1.0 + r
        totals.append(value - 1.0)
    assert found == pytest.approx(tuple(np.quantile(totals, [0.05, 0.95])), rel=1e-12)


def test_block_sums_equal_the_sums_of_the_resampled_steps() -> None:
    values = np.random.default_rng(2).normal(0.0, 0.01, 157)  # the last block is cut short
    for block in (1, 10, 157, 500):
        idx = block_indices(157, block, 60, np.random.default_rng(9))
        sums = block_sums(values, block, 60, np.random.default_rng(9))
        np.testing.assert_allclose(sums, values[idx].sum(axis=1), rtol=0, atol=1e-15)


def test_pooled_mean_interval_equals_a_plain_loop_oracle() -> None:
    folds = [np.random.default_rng(k).normal(0.0001, 0.01, n) for k, n in ((3, 50), (4, 83))]
    found = pooled_mean_interval(folds, block=12, resamples=300, confidence=0.9, seed=8)
    rng = np.random.default_rng(8)
    means = np.zeros(300)
    for s in folds:  # each fold resampled within itself, in order, from one generator
        starts = rng.integers(0, len(s), size=(300, -(-len(s) // 12)))
        for i, row in enumerate(starts):
            means[i] += sum([s[(a + j) % len(s)] for a in row for j in range(12)][: len(s)])
    means /= sum(len(s) for s in folds)
    expected = (np.concatenate(folds).mean(), *np.quantile(means, [0.05, 0.95]))
    assert found == pytest.approx(expected, rel=1e-12)


def test_a_step_that_loses_everything_compounds_to_minus_one() -> None:
    returns = np.r_[np.full(20, 0.001), -1.0, np.full(20, 0.001)]
    lo, hi = return_interval(returns, block=5, resamples=200, confidence=0.9, seed=0)
    assert lo == pytest.approx(-1.0) and hi > lo  # some resamples miss the ruinous step


def test_an_interval_is_none_without_steps_and_a_point_for_a_constant_series() -> None:
    assert return_interval(np.zeros(1), block=5, resamples=50, confidence=0.9, seed=0) is None
    lo, hi = return_interval(np.full(40, 0.001), block=5, resamples=50, confidence=0.9, seed=0)
    assert lo == pytest.approx(hi) == pytest.approx(total_return(np.full(40, 0.001)))


def test_pooled_mean_resamples_each_fold_within_itself() -> None:
    a, b = np.full(30, 0.01), np.full(70, -0.01)
    mean, lo, hi = pooled_mean_interval([a, b], block=7, resamples=100, confidence=0.9, seed=0)
    assert mean == pytest.approx(-0.004)  # (30 * 0.01 - 70 * 0.01) / 100
    assert lo == pytest.approx(mean) and hi == pytest.approx(mean)  # blocks never mix folds
    noisy = [np.random.default_rng(k).normal(0, 0.01, 200) for k in range(3)]
    mean, lo, hi = pooled_mean_interval(noisy, block=10, resamples=300, confidence=0.9, seed=0)
    assert lo < mean < hi
    assert pooled_mean_interval([], block=5, resamples=10, confidence=0.9, seed=0) is None


@pytest.mark.parametrize(
    ("prices", "name"),
    [
        ([100, 90, 106], "up"),
        ([100, 120, 94], "down"),
        ([100, 104.9], "sideways"),
        ([100], "sideways"),
    ],
)
def test_regime_rule_is_the_segment_price_change_against_the_threshold(prices: list[float],
                                                                      name: str) -> None:  # fmt: skip
    assert regime(np.asarray(prices, float), 0.05) == name


def test_explained_share_equals_the_anova_ratio_of_a_plain_oracle() -> None:
    rng = np.random.default_rng(3)
    groups = [int(g) for g in rng.integers(0, 3, 40)]
    values = np.array(groups, float) * 0.5 + rng.normal(0, 0.3, 40)
    mean = values.mean()
    between = sum(
        sum(1 for g in groups if g == k) * (values[[g == k for g in groups]].mean() - mean) ** 2
        for k in set(groups)
    )
    assert explained_share(groups, values) == pytest.approx(between / ((values - mean) ** 2).sum())
    assert explained_share([0, 1, 0, 1], np.array([1.0, 2.0, 1.0, 2.0])) == pytest.approx(1.0)
    assert explained_share([0, 1, 0, 1], np.array([1.0, 1.0, 2.0, 2.0])) == pytest.approx(0.0)
    assert explained_share([0, 0, 0], np.array([1.0, 2.0, 3.0])) is None  # one group
    assert explained_share([0, 1], np.array([1.0, 2.0])) is None  # too few trials
    assert explained_share([0, 1, 2], np.array([1.0, 1.0, 1.0])) is None  # nothing to explain
