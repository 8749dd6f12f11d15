"""Walk-forward splits with a purge gap: train, then validation, then test, in time order.

Between consecutive segments, samples whose decision time lies within ``purge`` of the next
segment's first time are dropped, so a label (which looks ``horizon`` ahead) never overlaps the
data of a later segment. Folds expand: each fold's test follows the previous fold's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Split:
    """Sample indices of one walk-forward fold."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def walk_forward(
    times: np.ndarray,
    purge: int,
    *,
    n_folds: int = 1,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
) -> list[Split]:
    """Return ``n_folds`` expanding walk-forward splits of sorted decision ``times`` (int ns).

    The last fold tests on the final ``test_fraction`` of the span; earlier folds step back by
    one test length each. ``purge`` (ns) must cover the label horizon.
    """
    times = np.asarray(times, np.int64)
    if times.shape[0] and np.any(np.diff(times) <= 0):
        raise ValueError("decision times must be strictly increasing")
    if purge < 0 or n_folds < 1 or not 0 < val_fraction < 1 or not 0 < test_fraction < 1:
        raise ValueError("need purge >= 0, n_folds >= 1 and fractions in (0, 1)")
    if times.shape[0] == 0:
        raise ValueError("no decision times to split")
    lo, hi = int(times[0]), int(times[-1]) + 1
    span = hi - lo
    test_len = int(span * test_fraction)
    val_len = int(span * val_fraction)
    if min(val_len, test_len) <= purge:
        raise ValueError(
            f"the purge gap ({purge} ns) must be shorter than the validation ({val_len} ns) and "
            f"test ({test_len} ns) segments"
        )
    splits = []
    for k in range(n_folds):
        test_end = hi - (n_folds - 1 - k) * test_len
        test_start = test_end - test_len
        val_start = test_start - val_len
        if val_start - purge <= lo:
            raise ValueError(
                f"fold {k}: no room for training data; use fewer folds or a longer span"
            )
        train = np.flatnonzero(times < val_start - purge)
        val = np.flatnonzero((times >= val_start) & (times < test_start - purge))
        test = np.flatnonzero((times >= test_start) & (times < test_end))
        splits.append(Split(train, val, test))
    return splits
