"""What a study concludes from per-step returns: block-bootstrap intervals and the regime rule.

Per-step returns are autocorrelated (a position is held across steps, volatility clusters), so
intervals come from a circular block bootstrap (Politis and Romano): resample blocks of
``block`` consecutive steps, not single steps. Same seed, same intervals.
"""

from __future__ import annotations

import numpy as np

#: The regimes a test segment falls in, by :func:`regime`.
REGIMES = ("up", "down", "sideways")


def block_starts(n: int, block: int, resamples: int, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Draw circular block bootstrap resamples of ``n`` steps: block starts and lengths.

    Returns ``starts`` ``[resamples, k]`` and the ``k`` block ``lengths`` (``block`` each, the
    last cut so a resample has exactly ``n`` steps). Blocks start anywhere and wrap past the
    last step to the first, so every step is drawn equally often (a moving-block bootstrap
    draws the first and last steps less, and a profit made at a segment's end would then fall
    outside its own interval).
    """
    block = max(1, min(block, n))
    k = -(-n // block)
    starts = rng.integers(0, n, size=(resamples, k))
    lengths = np.full(k, block)
    lengths[-1] = n - (k - 1) * block
    return starts, lengths


def block_indices(n: int, block: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Return ``[resamples, n]`` step indices of :func:`block_starts`' resamples of ``n`` steps."""
    starts, lengths = block_starts(n, block, resamples, rng)
    steps = np.arange(int(lengths[0]))
    idx: np.ndarray = ((starts[:, :, None] + steps) % n).reshape(resamples, -1)[:, :n]
    return idx


def block_sums(values: np.ndarray, block: int, resamples: int, rng: np.random.Generator
               ) -> np.ndarray:  # fmt: skip
    """Return each resample's sum of ``values``: ``values[block_indices(...)].sum(axis=1)``.

    From prefix sums of the series twice over: a block's sum is two lookups, not ``block``
    additions (a study's summary resamples every fold of every model a thousand times).
    """
    v = np.asarray(values, np.float64)
    starts, lengths = block_starts(v.shape[0], block, resamples, rng)
    prefix = np.concatenate(([0.0], np.cumsum(np.concatenate((v, v)))))
    sums: np.ndarray = (prefix[starts + lengths] - prefix[starts]).sum(axis=1)
    return sums


def total_return(returns: np.ndarray, axis: int = -1) -> np.ndarray:
    """Return the compounded return of per-step returns along ``axis``."""
    return np.asarray(np.prod(1.0 + np.asarray(returns, np.float64), axis=axis) - 1.0)


def interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    """Return the central ``confidence`` interval of bootstrap ``samples`` (percentiles)."""
    tail = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(np.asarray(samples, np.float64), [tail, 1.0 - tail])
    return float(lo), float(hi)


def return_interval(returns: np.ndarray, *, block: int, resamples: int, confidence: float,
                    seed: int) -> tuple[float, float] | None:  # fmt: skip
    """Return the block-bootstrap interval of the compounded return of ``returns`` (None: fewer than 2)."""
    r = np.asarray(returns, np.float64)
    if r.shape[0] < 2:
        return None
    rng = np.random.default_rng(seed)
    if (r <= -1.0).any():  # a step that loses everything has no logarithm: compound directly
        return interval(total_return(r[block_indices(r.shape[0], block, resamples, rng)]),
                        confidence)  # fmt: skip
    return interval(np.expm1(block_sums(np.log1p(r), block, resamples, rng)), confidence)


def pooled_mean_interval(series: list[np.ndarray], *, block: int, resamples: int,
                         confidence: float, seed: int) -> tuple[float, float, float] | None:  # fmt: skip
    """Return the mean per-step return over several folds' series, with its interval.

    Each fold is resampled within itself (a block never joins two folds), then all are pooled.
    Returns ``(mean, low, high)``; None without any step.
    """
    kept = [np.asarray(s, np.float64) for s in series if len(s) >= 1]
    if not kept:
        return None
    rng = np.random.default_rng(seed)
    total = sum(s.shape[0] for s in kept)
    sums = np.zeros(resamples)
    for s in kept:
        sums += block_sums(s, block, resamples, rng)
    lo, hi = interval(sums / total, confidence)
    return float(np.concatenate(kept).mean()), lo, hi


def regime(prices: np.ndarray, threshold: float) -> str:
    """Name a test segment's regime from its decision prices: ``up``, ``down`` or ``sideways``.

    The rule: the price change from the segment's first to its last decision; beyond
    ``+threshold`` it is ``up``, below ``-threshold`` ``down``, otherwise ``sideways``.
    """
    p = np.asarray(prices, np.float64)
    if p.shape[0] < 2 or not np.isfinite(p[[0, -1]]).all():
        return "sideways"
    change = p[-1] / p[0] - 1.0
    if change > threshold:
        return "up"
    if change < -threshold:
        return "down"
    return "sideways"


def explained_share(groups: list[object], values: np.ndarray) -> float | None:
    """Return the share of ``values``' variance explained by ``groups`` (one-way ANOVA eta²).

    A sweep's parameter importance: 1 means the parameter alone decides the objective, 0 that it
    changes nothing. None when it cannot be told: fewer than 3 values, one group, or no variance.
    """
    y = np.asarray(values, np.float64)
    keys = [repr(g) for g in groups]
    if len(y) < 3 or len(set(keys)) < 2:
        return None
    total = float(np.sum((y - y.mean()) ** 2))
    if total <= 0:
        return None
    between = 0.0
    for key in set(keys):
        part = y[[k == key for k in keys]]
        between += len(part) * float(part.mean() - y.mean()) ** 2
    return between / total
