"""Williams market-structure pivots (swing highs and lows, several levels) from OHLC bars."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmts.features.pivots_nb import swing_points_nb

PIVOT_COLUMNS = ["level", "kind", "time", "confirmed_time", "price"]


def pivot_arrays(
    open_ns: np.ndarray,
    highs: np.ndarray,
    lows: np.ndarray,
    duration_ns: int,
    levels: int,
    strength: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Compute pivots on arrays; return ``(level, kind (0 high, 1 low), time, confirmed, price)``.

    The numpy core of :func:`pivots` (no pandas), in level-then-kind order, unsorted.
    """
    out_level, out_kind, out_time, out_conf, out_price = [], [], [], [], []
    close_ns = open_ns + duration_ns
    for kind, values in ((0, highs), (1, lows)):
        positions = swing_points_nb(values, strength, kind == 0)
        prices = values[positions]
        times = open_ns[positions]
        confirmed = close_ns[positions + strength] if positions.size else np.empty(0, np.int64)
        for level in range(1, levels + 1):
            out_level.append(np.full(positions.size, level, np.int64))
            out_kind.append(np.full(positions.size, kind, np.int64))
            out_time.append(times)
            out_conf.append(confirmed)
            out_price.append(prices)
            if level == levels or positions.size == 0:
                break
            nxt = swing_points_nb(np.ascontiguousarray(prices), strength, kind == 0)
            # Known once the strength-th later pivot of this level is known.
            confirmed = confirmed[nxt + strength] if nxt.size else np.empty(0, np.int64)
            prices, times, positions = prices[nxt], times[nxt], nxt
    return (
        np.concatenate(out_level),
        np.concatenate(out_kind),
        np.concatenate(out_time).astype(np.int64),
        np.concatenate(out_conf).astype(np.int64),
        np.concatenate(out_price).astype(np.float64),
    )


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
    levels_arr, kinds, times, confirmed, prices = pivot_arrays(
        index.asi8,
        np.ascontiguousarray(bars["high"].to_numpy(np.float64)),
        np.ascontiguousarray(bars["low"].to_numpy(np.float64)),
        duration_ns,
        levels,
        strength,
    )
    frame = pd.DataFrame(
        {
            "level": levels_arr,
            "kind": pd.array(np.where(kinds == 0, "high", "low").tolist(), dtype="str"),
            "time": pd.to_datetime(times, unit="ns", utc=True),
            "confirmed_time": pd.to_datetime(confirmed, unit="ns", utc=True),
            "price": prices,
        }
    )
    return frame.sort_values(["confirmed_time", "level", "time"], kind="stable").reset_index(
        drop=True
    )
