"""Walk-forward splits with a purge gap: train, then validation, then test, in time order.

Between consecutive segments, samples whose decision time lies within ``purge`` of the next
segment's first time are dropped, so a label (which looks ``horizon`` ahead) never overlaps the
data of a later segment. Folds expand: each fold's test follows the previous fold's.

:func:`walk_forward` cuts one stretch of history by time. :func:`study_folds` cuts by decision
count, for history with holes (months of data, years apart): a hole then takes no segment's
share, and no segment is empty because it fell into one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from mmts.core.settings import check_settings, option
from mmts.core.time import time_problem


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


SCHEMES = ("expanding", "rolling")


def study_folds(times: np.ndarray, purge: int, *, n_folds: int, scheme: str = "expanding",
                val_fraction: float = 0.2, initial_blocks: int = 2) -> list[Split]:  # fmt: skip
    """Return ``n_folds`` walk-forward folds of sorted decision ``times`` (int ns), cut by count.

    The decisions are cut into ``n_folds + initial_blocks`` blocks of equal count. Fold ``k``
    tests on block ``initial_blocks + k``. Its training window is every decision before that
    (``expanding``) or the ``initial_blocks`` blocks just before it (``rolling``); the window's
    last ``val_fraction`` (by count) validates, the rest trains. Purge: a training decision
    within ``purge`` of the first validation time, and a validation decision within ``purge`` of
    the first test time, are dropped (``purge`` covers the label horizon).
    """
    times = np.asarray(times, np.int64)
    if times.shape[0] and np.any(np.diff(times) <= 0):
        raise ValueError("decision times must be strictly increasing")
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}; was {scheme!r}")
    if purge < 0 or n_folds < 1 or initial_blocks < 1 or not 0 < val_fraction < 1:
        raise ValueError(
            "need purge >= 0, n_folds >= 1, initial_blocks >= 1, val_fraction in (0, 1)"
        )
    n = times.shape[0]
    blocks = n_folds + initial_blocks
    edges = np.linspace(0, n, blocks + 1).astype(np.int64)
    if np.any(np.diff(edges) < 2):
        raise ValueError(f"{n} decisions are too few for {n_folds} folds of {blocks} blocks")
    folds = []
    for k in range(n_folds):
        test_lo, test_hi = int(edges[initial_blocks + k]), int(edges[initial_blocks + k + 1])
        window_lo = 0 if scheme == "expanding" else int(edges[k])
        val_size = max(1, round(val_fraction * (test_lo - window_lo)))
        val_lo = max(window_lo + 1, test_lo - val_size)
        window = np.arange(window_lo, test_lo)
        train = window[(window < val_lo) & (times[window] < times[val_lo] - purge)]
        val = window[(window >= val_lo) & (times[window] < times[test_lo] - purge)]
        test = np.arange(test_lo, test_hi)
        if train.shape[0] == 0 or val.shape[0] == 0:
            raise ValueError(f"fold {k}: the purge ({purge} ns) leaves no training or validation "
                             "decision; use fewer folds or a shorter horizon")  # fmt: skip
        folds.append(Split(train, val, test))
    return folds


@dataclass(frozen=True)
class Segments:
    """One fold as spans of time, ``[start, end)`` in ns: what a worker needs to rebuild it.

    Indices belong to one decision grid; spans survive a trip to another process (or machine),
    which rebuilds the same grid from the store and finds the same decisions in them.
    """

    train: tuple[int, int]
    val: tuple[int, int]
    test: tuple[int, int]

    @classmethod
    def of(cls, times: np.ndarray, split: Split) -> Segments:
        """Return the spans of ``split``'s segments of ``times`` (each non-empty)."""

        def span(idx: np.ndarray) -> tuple[int, int]:
            return int(times[idx[0]]), int(times[idx[-1]]) + 1

        return cls(span(split.train), span(split.val), span(split.test))

    @property
    def start(self) -> int:
        """The first training decision time."""
        return self.train[0]

    @property
    def end(self) -> int:
        """The end of the test span (exclusive)."""
        return self.test[1]

    def split(self, times: np.ndarray) -> Split:
        """Return the indices of ``times`` that fall in each span."""
        times = np.asarray(times, np.int64)

        def inside(lo_hi: tuple[int, int]) -> np.ndarray:
            return np.flatnonzero((times >= lo_hi[0]) & (times < lo_hi[1]))

        return Split(inside(self.train), inside(self.val), inside(self.test))

    def to_dict(self) -> dict[str, list[int]]:
        """Return plain data (JSON, a fold's hash)."""
        return {"train": list(self.train), "val": list(self.val), "test": list(self.test)}


@dataclass(frozen=True, slots=True, kw_only=True)
class StudyConfig:
    """A walk-forward study's folds over all stored history (``mmts study``)."""

    TABLE: ClassVar[str] = "study"

    folds: int = option(10, ge=1, doc="walk-forward folds (each tests on one block of decisions)")
    scheme: str = option("rolling", choices=SCHEMES,
                         doc="rolling: train on the blocks just before the test; expanding: on all before")  # fmt: skip
    initial_blocks: int = option(
        2, ge=1, doc="blocks before the first test block (the rolling training window)"
    )
    val_fraction: float = option(0.2, gt=0, lt=1, doc="share of a training window that validates")
    purge: int | None = option(None, ge=1,
                               doc="decision bars dropped before validation and test (none: the label horizon)")  # fmt: skip
    start: str | None = option(None, check=time_problem, doc="ignore history before (ISO time)")
    end: str | None = option(None, check=time_problem, doc="ignore history from (ISO time)")
    bootstrap: int = option(1000, ge=10, doc="block-bootstrap resamples of each interval")
    block: int = option(48, ge=1, doc="decisions per bootstrap block (keeps autocorrelation)")
    confidence: float = option(0.9, gt=0, lt=1, doc="coverage of the confidence intervals")
    trend: float = option(0.05, gt=0, lt=1,
                          doc="regime rule: a test segment whose price moved more than this is a trend")  # fmt: skip

    def __post_init__(self) -> None:
        check_settings(self)
