"""OHLCV bars: from trades, resampled, and converted to and from DataFrames.

Policy for intervals without trades (the same as Binance klines): volume 0, trade count 0 and
open = high = low = close = the previous close. Resampling ignores such bars for open, high and
low, so ``resample(bars_from_trades(t, "1s"), "1m")`` equals ``bars_from_trades(t, "1m")``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmts.core.schema import NO_ID, bar_dt, trade_dt
from mmts.core.timeframes import timeframe_ns
from mmts.data import bars_nb

BAR_COLUMNS = ["open", "high", "low", "close", "volume"]


def _sorted_trades(trades: np.ndarray) -> np.ndarray:
    order = np.lexsort((trades["trade_id"], trades["exch_ts"]))
    return trades[order]


def bar_records_from_trades(
    trades: np.ndarray, step_ns: int, first_ns: int, last_ns: int
) -> np.ndarray:
    """Build ``bar_dt`` records for every bar with open time in ``[first_ns, last_ns]``."""
    trades = _sorted_trades(trades)
    ts, o, h, lo, c, v, n = bars_nb.bars_from_trades_nb(
        trades["exch_ts"], trades["price"], trades["qty"], step_ns, first_ns, last_ns
    )
    out = np.empty(ts.shape[0], bar_dt)
    out["ts"], out["open"], out["high"], out["low"], out["close"] = ts, o, h, lo, c
    out["volume"], out["trades"] = v, n
    keep: np.ndarray = out[~np.isnan(out["close"])]
    return keep


def trade_runs(trades: np.ndarray) -> list[np.ndarray]:
    """Split sorted trades where exchange trade ids are not consecutive (trades are missing)."""
    if trades.shape[0] == 0:
        return []
    ids = trades["trade_id"]
    if np.any(ids == NO_ID):
        return [trades]
    breaks = np.flatnonzero(np.diff(ids) != 1) + 1
    return np.split(trades, breaks)


def complete_bars_from_trades(trades: np.ndarray, step_ns: int) -> np.ndarray:
    """Bars only for intervals the trades cover completely.

    Trades are split into runs of consecutive trade ids; within a run every interval is known
    (empty ones are filled by policy), except the first and last, which the recording may have
    joined or left midway. Those two are dropped.
    """
    trades = _sorted_trades(trades)
    parts = []
    for run in trade_runs(trades):
        first = int(run["exch_ts"][0]) // step_ns * step_ns + step_ns
        last = int(run["exch_ts"][-1]) // step_ns * step_ns - step_ns
        if last >= first:
            parts.append(bar_records_from_trades(run, step_ns, first, last))
    if not parts:
        return np.empty(0, bar_dt)
    return np.concatenate(parts)


def resample_records(bars: np.ndarray, step_ns: int, *, complete_only: bool = True,
                     source_step_ns: int | None = None) -> np.ndarray:  # fmt: skip
    """Resample sorted ``bar_dt`` records to ``step_ns``.

    With ``complete_only`` a bar is kept only if every source bar of its interval is present;
    the source step is ``source_step_ns`` when given (it should be: a lone source bar says
    nothing of its own length), else the smallest spacing between source bars.
    """
    if bars.shape[0] == 0:
        return bars.copy()
    ts, o, h, lo, c, v, n, src = bars_nb.resample_bars_nb(
        bars["ts"], bars["open"], bars["high"], bars["low"], bars["close"], bars["volume"],
        bars["trades"], step_ns,
    )  # fmt: skip
    out = np.empty(ts.shape[0], bar_dt)
    out["ts"], out["open"], out["high"], out["low"], out["close"] = ts, o, h, lo, c
    out["volume"], out["trades"] = v, n
    if complete_only:
        gaps = np.diff(bars["ts"])
        if source_step_ns is not None:
            source_step = int(source_step_ns)
        else:
            source_step = int(gaps[gaps > 0].min()) if np.any(gaps > 0) else step_ns
        out = out[src == step_ns // source_step]
    return out


def records_to_frame(bars: np.ndarray, *, with_trades: bool = False) -> pd.DataFrame:
    """Return bars as a DataFrame indexed by open time (UTC)."""
    index = pd.DatetimeIndex(bars["ts"].astype("datetime64[ns]"), name="time").tz_localize("UTC")
    columns = [*BAR_COLUMNS, "trades"] if with_trades else BAR_COLUMNS
    return pd.DataFrame({name: bars[name] for name in columns}, index=index)


def frame_to_records(bars: pd.DataFrame) -> np.ndarray:
    """Convert a bar DataFrame (index = open time) to ``bar_dt`` records."""
    missing = [c for c in BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise ValueError(f"bars need columns {BAR_COLUMNS}; missing {missing}")
    index = pd.DatetimeIndex(bars.index)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    out = np.empty(len(bars), bar_dt)
    out["ts"] = index.as_unit("ns").asi8
    for name in BAR_COLUMNS:
        out[name] = bars[name].to_numpy(np.float64)
    out["trades"] = bars["trades"].to_numpy(np.int64) if "trades" in bars.columns else -1
    return out


def bars_from_trades(trades: pd.DataFrame | np.ndarray, timeframe: str) -> pd.DataFrame:
    """Build OHLCV bars of ``timeframe`` from trades, filling empty intervals by policy.

    Parameters
    ----------
    trades : a ``trade_dt`` array, or a DataFrame from ``Store.trades`` (index = trade time,
        columns ``price``, ``qty``, ``trade_id``).
    timeframe : ``'1s'``, ``'1m'``, ...

    Returns
    -------
    DataFrame indexed by bar open time (UTC) with ``open high low close volume trades``, from
    the first trade's bar to the last trade's bar. Edge bars may be partial: see
    :func:`complete_bars_from_trades` for the policy the importer stores.

    Examples
    --------
    >>> import numpy as np
    >>> from mmts.core.schema import trade_dt
    >>> t = np.zeros(3, trade_dt)
    >>> t["exch_ts"] = [0, 500_000_000, 2_100_000_000]
    >>> t["price"], t["qty"], t["trade_id"] = [10.0, 11.0, 9.0], 1.0, [1, 2, 3]
    >>> bars_from_trades(t, "1s")[["open", "close", "volume"]].to_numpy().tolist()
    [[10.0, 11.0, 2.0], [11.0, 11.0, 0.0], [9.0, 9.0, 1.0]]
    """
    records = _trades_to_records(trades)
    step = timeframe_ns(timeframe)
    if records.shape[0] == 0:
        return records_to_frame(np.empty(0, bar_dt), with_trades=True)
    first = int(records["exch_ts"].min()) // step * step
    last = int(records["exch_ts"].max()) // step * step
    return records_to_frame(bar_records_from_trades(records, step, first, last), with_trades=True)


def resample(bars: pd.DataFrame, timeframe: str, *, complete_only: bool = True) -> pd.DataFrame:
    """Resample bars to a longer ``timeframe`` (1s -> 1m -> 1h -> 1d).

    Intervals are aligned to the epoch (UTC midnight for days). With ``complete_only`` (the
    default) an output bar is kept only when all of its source bars are present.

    Examples
    --------
    >>> import pandas as pd
    >>> idx = pd.date_range("2024-01-01", periods=4, freq="30s", tz="UTC")
    >>> b = pd.DataFrame({"open": [1.0, 2, 3, 4], "high": [2.0, 3, 4, 5],
    ...                   "low": [0.5, 1, 2, 3], "close": [2.0, 3, 4, 5],
    ...                   "volume": [1.0, 1, 1, 1]}, index=idx)
    >>> resample(b, "1m")["high"].tolist()
    [3.0, 5.0]
    """
    records = frame_to_records(bars)
    if records.shape[0] > 1 and np.any(np.diff(records["ts"]) <= 0):
        raise ValueError("bars must have strictly increasing, unique open times")
    out = resample_records(records, timeframe_ns(timeframe), complete_only=complete_only)
    return records_to_frame(out, with_trades="trades" in bars.columns)


def _trades_to_records(trades: pd.DataFrame | np.ndarray) -> np.ndarray:
    if isinstance(trades, np.ndarray):
        return trades
    out = np.zeros(len(trades), trade_dt)
    index = pd.DatetimeIndex(trades.index)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    out["exch_ts"] = index.as_unit("ns").asi8
    out["price"] = trades["price"].to_numpy(np.float64)
    out["qty"] = trades["qty"].to_numpy(np.float64)
    out["trade_id"] = trades["trade_id"].to_numpy(np.int64) if "trade_id" in trades else NO_ID
    return out
