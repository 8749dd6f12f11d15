"""Williams market-structure pivots (swing highs and lows, several levels) from OHLC bars."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmts.features.pivots_nb import swing_points_nb

PIVOT_COLUMNS = ["level", "kind", "time", "confirmed_time", "price"]


def pivots(
    bars: pd.DataFrame,
    levels: int = 5,
    *,
    strength: int = 2,
    bar_duration: pd.Timedelta | str | None = None,
) -> pd.DataFrame:
    """Return swing highs and lows of ``bars`` at levels 1..``levels``, in the order they became known.

    Level 1 uses the bars' ``high`` and ``low`` with ``strength`` bars on each side; level
    ``k + 1`` applies the same rule to level ``k``'s pivots (see ``pivots_nb``). A pivot is
    reported with ``time`` (open time of its bar) and ``confirmed_time`` (when it became
    knowable: the close of the bar that completed its right side), never earlier.

    Parameters
    ----------
    bars : DataFrame indexed by bar open time with ``high`` and ``low``.
    levels : how many levels (1 to 5 is usual).
    strength : bars (or lower-level pivots) required on each side.
    bar_duration : bar length; the smallest spacing of the index when None.

    Returns
    -------
    DataFrame with columns ``level``, ``kind`` (``high``/``low``), ``time``, ``confirmed_time``,
    ``price``, sorted by ``confirmed_time``, then ``level``, then ``time``.

    Examples
    --------
    >>> idx = pd.date_range("2024-01-01", periods=7, freq="1min", tz="UTC")
    >>> bars = pd.DataFrame({"high": [1, 2, 5, 2, 1, 3, 2.0], "low": [0, 1, 3, 1, 0.5, 2, 1.0]}, index=idx)
    >>> pivots(bars, levels=1, strength=2)[["kind", "price"]].values.tolist()
    [['high', 5.0], ['low', 0.5]]
    """
    if levels < 1 or strength < 1:
        raise ValueError(f"levels and strength must be >= 1; were {levels} and {strength}")
    missing = {"high", "low"} - set(bars.columns)
    if missing:
        raise ValueError(f"bars need columns high and low; missing {sorted(missing)}")
    index = pd.DatetimeIndex(bars.index)
    if not index.is_monotonic_increasing or not index.is_unique:
        raise ValueError("bars must be indexed by strictly increasing open times")
    index = index.as_unit("ns")
    if bar_duration is None:
        spacing = np.diff(index.asi8)
        duration_ns = int(spacing.min()) if spacing.size else 0
    else:
        duration_ns = int(pd.Timedelta(bar_duration).value)
    open_ns = index.asi8
    close_ns = open_ns + duration_ns

    records: list[tuple[int, str, int, int, float]] = []
    for kind, column in (("high", "high"), ("low", "low")):
        values = np.ascontiguousarray(bars[column].to_numpy(np.float64))
        # Level 1: positions in bars; confirmation is the close of bar i + strength.
        positions = swing_points_nb(values, strength, kind == "high")
        prices = values[positions]
        times = open_ns[positions]
        confirmed = close_ns[positions + strength] if positions.size else np.empty(0, np.int64)
        for level in range(1, levels + 1):
            records.extend(
                (level, kind, int(t), int(c), float(p))
                for t, c, p in zip(times, confirmed, prices, strict=True)
            )
            if level == levels or positions.size == 0:
                break
            nxt = swing_points_nb(np.ascontiguousarray(prices), strength, kind == "high")
            # Known once the strength-th later pivot of this level is known.
            confirmed = confirmed[nxt + strength] if nxt.size else np.empty(0, np.int64)
            prices, times, positions = prices[nxt], times[nxt], nxt
    frame = pd.DataFrame(
        {
            "level": pd.array([r[0] for r in records], dtype=np.int64),
            "kind": pd.array([r[1] for r in records], dtype="str"),
            "time": pd.to_datetime(
                np.array([r[2] for r in records], np.int64), unit="ns", utc=True
            ),
            "confirmed_time": pd.to_datetime(
                np.array([r[3] for r in records], np.int64), unit="ns", utc=True
            ),
            "price": np.array([r[4] for r in records], np.float64),
        }
    )
    return frame.sort_values(["confirmed_time", "level", "time"], kind="stable").reset_index(
        drop=True
    )
