"""What a store holds, as researchers read it: bars (stored or derived), trades, best bid/ask, gaps.

DataFrames indexed by UTC time; the records behind them come from
:class:`~mmts.data.partitions.PartitionStore`. ``mmts.data.Store`` offers each as a method
(``store.bars(...)``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmts.core.errors import UnknownSymbolError
from mmts.core.schema import NO_TS
from mmts.core.time import iso, to_ns
from mmts.core.timeframes import NS_PER_SECOND, STANDARD_TIMEFRAMES, timeframe_ns
from mmts.data.bars import records_to_frame, resample_records
from mmts.data.layout import StreamKey, kind_dtype, time_field
from mmts.data.partitions import PartitionStore


def bars_frame(
    store: PartitionStore,
    symbol: str,
    timeframe: str,
    start: object = None,
    end: object = None,
    *,
    exchange: str | None = None,
    with_trades: bool = False,
) -> pd.DataFrame:
    """Return OHLCV bars with open time in ``[start, end)``.

    Parameters
    ----------
    symbol : unified symbol, e.g. ``'ETH/USDT'``.
    timeframe : ``'1s'``, ``'1m'``, ``'1h'``, ``'1d'``, ...: a stored ``bars_<tf>``, or derived
        on read from the coarsest stored finer timeframe that divides it (complete
        intervals only: an hour missing a minute is no 1 h bar), so a store of 1 m klines
        also serves 1 h and 1 d.
    start, end : ISO strings, Timestamps or int ns; naive times are UTC; end is exclusive.
    exchange : needed only when several exchanges hold the symbol.
    with_trades : add the ``trades`` count column (-1 where the source did not say).

    Returns
    -------
    DataFrame indexed by bar open time (UTC), columns ``open high low close volume``.
    """
    return records_to_frame(
        bar_records(store, symbol, timeframe, start, end, exchange=exchange),
        with_trades=with_trades,
    )


def bar_source(
    store: PartitionStore, symbol: str, timeframe: str, exchange: str | None = None
) -> tuple[str, str]:
    """Return ``(exchange, stored timeframe)`` that serves ``timeframe`` bars of ``symbol``.

    The timeframe itself when stored, else the coarsest stored one that divides it.
    """
    kind_dtype(f"bars_{timeframe}")
    stored = {k.kind.removeprefix("bars_") for k in store.streams()
              if k.symbol == symbol and k.kind.startswith("bars_")
              and (exchange is None or k.exchange == exchange)}  # fmt: skip
    step = timeframe_ns(timeframe)
    finer = [tf for tf in stored if timeframe_ns(tf) < step and step % timeframe_ns(tf) == 0]
    source = timeframe if timeframe in stored or not finer else max(finer, key=timeframe_ns)
    # resolve_exchange names what is there when nothing serves the timeframe
    return store.resolve_exchange(symbol, f"bars_{source}", exchange), source


def bar_records(store: PartitionStore, symbol: str, timeframe: str, start: object = None, end: object = None,
                *, exchange: str | None = None) -> np.ndarray:  # fmt: skip
    """Return ``bar_dt`` records of :func:`bars_frame` (stored, or derived on read)."""
    ex, source = bar_source(store, symbol, timeframe, exchange)
    lo, hi = to_ns(start), to_ns(end)
    if source == timeframe:
        return store.read(ex, symbol, f"bars_{timeframe}", lo, hi)
    step = timeframe_ns(timeframe)
    rows = store.read(ex, symbol, f"bars_{source}", None if lo is None else lo // step * step,
                     None if hi is None else -(-hi // step) * step)  # fmt: skip
    derived = resample_records(rows, step, source_step_ns=timeframe_ns(source))
    keep = np.ones(derived.shape[0], bool)
    if lo is not None:
        keep &= derived["ts"] >= lo
    if hi is not None:
        keep &= derived["ts"] < hi
    out: np.ndarray = derived[keep]
    return out


def trades_frame(
    store: PartitionStore,
    symbol: str,
    start: object = None,
    end: object = None,
    *,
    exchange: str | None = None,
) -> pd.DataFrame:
    """Return trades with exchange time in ``[start, end)``, in receive order.

    Index ``time`` (exchange trade time, UTC); columns ``local_ts`` (receive time),
    ``trade_id``, ``price``, ``qty``, ``side`` (+1 taker buy, -1 taker sell).
    """
    ex = store.resolve_exchange(symbol, "trades", exchange)
    lo, hi = to_ns(start), to_ns(end)
    rec = store.read(ex, symbol, "trades", lo, hi, margin_ns=86400 * NS_PER_SECOND)
    keep = np.ones(rec.shape[0], bool)
    if lo is not None:
        keep &= rec["exch_ts"] >= lo
    if hi is not None:
        keep &= rec["exch_ts"] < hi
    rec = rec[keep]
    frame = pd.DataFrame(
        {
            "local_ts": _utc_column(rec["local_ts"]).to_numpy(),
            "trade_id": rec["trade_id"],
            "price": rec["price"],
            "qty": rec["qty"],
            "side": rec["side"],
        },
        index=_utc_index(rec["exch_ts"], "time"),
    )
    return frame


def bbo_frame(
    store: PartitionStore,
    symbol: str,
    start: object = None,
    end: object = None,
    *,
    exchange: str | None = None,
) -> pd.DataFrame:
    """Return best bid/ask updates with receive time in ``[start, end)``.

    Index ``local_ts`` (UTC); columns ``exch_ts``, ``update_id``, ``bid_px``, ``bid_qty``,
    ``ask_px``, ``ask_qty``.
    """
    ex = store.resolve_exchange(symbol, "bbo", exchange)
    rec = store.read(ex, symbol, "bbo", to_ns(start), to_ns(end))
    return pd.DataFrame(
        {
            "exch_ts": _utc_column(rec["exch_ts"]).to_numpy(),
            "update_id": rec["update_id"],
            "bid_px": rec["bid_px"],
            "bid_qty": rec["bid_qty"],
            "ask_px": rec["ask_px"],
            "ask_qty": rec["ask_qty"],
        },
        index=_utc_index(rec["local_ts"], "local_ts"),
    )


def gaps_frame(store: PartitionStore, symbol: str, *, exchange: str | None = None) -> pd.DataFrame:
    """Return the book's update-id gaps: start, resync time (NaT if none), ids."""
    ex = store.resolve_exchange(symbol, "book", exchange)
    rec = store.read(ex, symbol, "gaps")
    return pd.DataFrame(
        {
            "start": _utc_column(rec["local_ts"]).to_numpy(),
            "resync": _utc_column(rec["resync_ts"]).to_numpy(),
            "expected_id": rec["expected_id"],
            "found_id": rec["found_id"],
        }
    )


def info(store: PartitionStore) -> list[dict[str, object]]:
    """Describe every stored series: exchange, market, symbol, kind, start, end, rows, gaps.

    ``start``/``end`` are the first and last time (bar open time for bars, receive time for
    events) as ISO-8601 UTC. ``gaps`` lists missing bars (for bar kinds) or update-id gaps
    (for ``book``), each with ``start`` and ``end`` (``null`` if never repaired). A standard
    timeframe (1m, 1h, 1d) that is not stored but served from a finer one (:func:`bars_frame`) is
    listed too, with ``derived_from`` naming the stored kind.
    """
    out: list[dict[str, object]] = []
    keys = store.streams()
    stored = {(k.exchange, k.symbol, k.kind) for k in keys}
    for key in keys:
        if key.kind == "gaps" or key.kind.startswith("features_"):
            continue
        field = time_field(key.kind)
        times = store.read_column(key, field)
        if times.shape[0] == 0:
            continue
        entry: dict[str, object] = {
            "exchange": key.exchange,
            "market": key.market,
            "symbol": key.symbol,
            "kind": key.kind,
            "start": iso(int(times.min())),
            "end": iso(int(times.max())),
            "rows": int(times.shape[0]),
            "gaps": gaps_for(store, key, times),
        }
        out.append(entry)
    for exchange, symbol in sorted(
        {(k.exchange, k.symbol) for k in keys if k.kind.startswith("bars_")}
    ):
        for tf in STANDARD_TIMEFRAMES:
            if (exchange, symbol, f"bars_{tf}") in stored:
                continue
            try:
                _, source = bar_source(store, symbol, tf, exchange)
            except UnknownSymbolError:
                continue  # nothing finer is stored either
            times = bar_records(store, symbol, tf, exchange=exchange)["ts"]
            if times.shape[0] == 0:
                continue
            key = StreamKey(exchange, symbol, f"bars_{tf}")
            out.append({
                "exchange": exchange, "market": key.market, "symbol": symbol, "kind": key.kind,
                "start": iso(int(times.min())), "end": iso(int(times.max())),
                "rows": int(times.shape[0]), "gaps": gaps_for(store, key, times),
                "derived_from": f"bars_{source}",
            })  # fmt: skip
    return out


def gaps_for(store: PartitionStore, key: StreamKey, times: np.ndarray) -> list[dict[str, object]]:
    """Return a series' holes: missing bars for bar kinds, update-id gaps for ``book``."""
    if key.kind.startswith("bars_"):
        step = timeframe_ns(key.kind.removeprefix("bars_"))
        ts = np.sort(times)
        holes = np.flatnonzero(np.diff(ts) > step)
        return [
            {
                "start": iso(int(ts[i]) + step),
                "end": iso(int(ts[i + 1])),
                "missing": int((ts[i + 1] - ts[i]) // step - 1),
            }
            for i in holes
        ]
    if key.kind == "book":
        rec = store.read(key.exchange, key.symbol, "gaps")
        return [
            {
                "start": iso(int(g["local_ts"])),
                "end": None if g["resync_ts"] == NO_TS else iso(int(g["resync_ts"])),
                "expected_id": int(g["expected_id"]),
                "found_id": int(g["found_id"]),
            }
            for g in rec
        ]
    return []


def _utc_index(values: np.ndarray, name: str) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(values.astype("datetime64[ns]"), name=name).tz_localize("UTC")


def _utc_column(values: np.ndarray) -> pd.Series:
    return pd.Series(values.astype("datetime64[ns]")).dt.tz_localize("UTC")
