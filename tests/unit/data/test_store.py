"""The Parquet store: partitions, ranges, idempotent merges, atomic replacement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmts.core.errors import DataIntegrityError, UnknownSymbolError
from mmts.core.schema import bar_dt, trade_dt
from mmts.core.time import to_ns
from mmts.data.store import Store, open_store

DAY = 86_400 * 10**9
MIN = 60 * 10**9


def _bars(start_ns: int, n: int, step: int = MIN, price: float = 100.0) -> np.ndarray:
    out = np.zeros(n, bar_dt)
    out["ts"] = start_ns + step * np.arange(n)
    out["open"] = out["high"] = out["low"] = out["close"] = price + np.arange(n)
    out["volume"] = 1.0
    out["trades"] = -1
    return out


def _trades(start_ns: int, n: int, first_id: int = 1) -> np.ndarray:
    out = np.zeros(n, trade_dt)
    out["local_ts"] = start_ns + 10**9 * np.arange(n)
    out["exch_ts"] = out["local_ts"] - 10**6
    out["trade_id"] = first_id + np.arange(n)
    out["price"] = 10.0
    out["qty"] = 1.0
    out["side"] = 1
    return out


def test_writes_are_partitioned_by_period(tmp_path: Path) -> None:
    store = Store(tmp_path)
    t0 = to_ns("2024-08-08T23:00:00")
    assert t0 is not None
    store.write("binance", "ETH/USDT", "trades", _trades(t0, 7200))
    names = [p.name for p in store.partitions("binance", "ETH/USDT", "trades")]
    assert names == ["2024-08-08.parquet", "2024-08-09.parquet"]
    store.write("binance", "ETH/USDT", "bars_1m", _bars(t0, 3 * 24 * 60))
    assert [p.stem for p in store.partitions("binance", "ETH/USDT", "bars_1m")] == ["2024-08"]
    store.write("binance", "ETH/USDT", "bars_1d", _bars(t0 - t0 % DAY - 400 * DAY, 500, DAY))
    assert [p.stem for p in store.partitions("binance", "ETH/USDT", "bars_1d")] == ["2023", "2024"]


def test_writing_the_same_rows_twice_stores_them_once(tmp_path: Path) -> None:
    store = Store(tmp_path)
    trades = _trades(to_ns("2024-01-01") or 0, 100)
    assert store.write("binance", "BTC/USDT", "trades", trades) == 100
    path = store.partitions("binance", "BTC/USDT", "trades")[0]
    mtime = path.stat().st_mtime_ns
    assert store.write("binance", "BTC/USDT", "trades", trades[10:50]) == 0
    assert path.stat().st_mtime_ns == mtime  # nothing new: the file is not rewritten
    assert store.read("binance", "BTC/USDT", "trades").shape[0] == 100


def test_newer_bar_replaces_the_stored_one(tmp_path: Path) -> None:
    store = Store(tmp_path)
    bars = _bars(0, 10)
    store.write("binance", "BTC/USDT", "bars_1m", bars)
    fixed = bars[3:4].copy()
    fixed["close"] = 1.5
    store.write("binance", "BTC/USDT", "bars_1m", fixed)
    out = store.read("binance", "BTC/USDT", "bars_1m")
    assert out.shape[0] == 10 and out["close"][3] == 1.5


def test_read_range_is_half_open_and_prunes_partitions(tmp_path: Path) -> None:
    store = Store(tmp_path)
    t0 = to_ns("2024-03-01") or 0
    store.write("binance", "BTC/USDT", "bars_1m", _bars(t0, 60 * 24 * 70))  # three months
    frame = store.bars("BTC/USDT", "1m", "2024-04-01", "2024-04-01T00:05")
    assert len(frame) == 5 and str(frame.index[0]) == "2024-04-01 00:00:00+00:00"
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    # Only the April partition is opened: a damaged March file does not matter.
    march = store.partitions("binance", "BTC/USDT", "bars_1m")[0]
    march.write_bytes(b"garbage")
    assert len(store.bars("BTC/USDT", "1m", "2024-04-02", "2024-04-03")) == 24 * 60
    with pytest.raises(DataIntegrityError, match="cannot read store file"):
        store.bars("BTC/USDT", "1m")


def test_unknown_symbol_error_says_what_is_there(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.write("binance", "BTC/USDT", "bars_1m", _bars(0, 3))
    assert store.bars("BTC/USDT", "1h").empty  # derivable from 1 m, but no hour is whole
    with pytest.raises(UnknownSymbolError, match=r"no bars_1s for BTC/USDT.*binance:bars_1m"):
        store.bars("BTC/USDT", "1s")  # nothing finer to build seconds from
    with pytest.raises(UnknownSymbolError, match=r"symbols \['BTC/USDT'\]"):
        store.bars("ETH/USDT", "1m")


def test_several_exchanges_need_an_explicit_choice(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.write("binance", "BTC/USDT", "bars_1m", _bars(0, 3))
    store.write("mexc", "BTC/USDT", "bars_1m", _bars(0, 3, price=5.0))
    with pytest.raises(UnknownSymbolError, match="several exchanges"):
        store.bars("BTC/USDT", "1m")
    assert store.bars("BTC/USDT", "1m", exchange="mexc")["open"].iloc[0] == 5.0


def test_wrong_dtype_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="must have dtype"):
        Store(tmp_path).write("binance", "BTC/USDT", "trades", _bars(0, 2))


def test_failed_write_leaves_the_old_partition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path)
    store.write("binance", "BTC/USDT", "bars_1m", _bars(0, 10))
    before = store.read("binance", "BTC/USDT", "bars_1m")

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("mmts.data.partitions.pq.write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        store.write("binance", "BTC/USDT", "bars_1m", _bars(10 * MIN, 10))
    monkeypatch.undo()
    after = store.read("binance", "BTC/USDT", "bars_1m")
    assert np.array_equal(before, after)
    assert not list((tmp_path / ".staging").glob("*"))  # no temp files left behind


def test_info_reports_ranges_rows_and_bar_gaps(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    bars = _bars(0, 10)
    store.write("binance", "BTC/USDT", "bars_1m", np.delete(bars, [4, 5]))
    (entry,) = store.info()
    assert entry["kind"] == "bars_1m" and entry["market"] == "spot" and entry["rows"] == 8
    assert entry["start"] == "1970-01-01T00:00:00Z"
    assert entry["end"] == "1970-01-01T00:09:00Z"
    assert entry["gaps"] == [
        {"start": "1970-01-01T00:04:00Z", "end": "1970-01-01T00:06:00Z", "missing": 2}
    ]


def test_a_book_asked_for_past_its_last_event_is_stale(sample_store_path: Path) -> None:
    store = open_store(sample_store_path)
    last = "2024-08-09T00:05:04.534715333Z"  # the bundled ETH book's last event
    with pytest.raises(DataIntegrityError) as info:
        store.book("ETH/USDT", "2024-08-20T00:00:00Z")  # 11 days later: not the book then
    assert str(info.value).startswith(
        f"ETH/USDT book is stale at 2024-08-20T00:00:00Z: its last event was received at {last}"
    )
    fresh = store.book("ETH/USDT", to_ns(last) + 4 * 10**9)  # within the 5 s rule
    anyway = store.book("ETH/USDT", "2024-08-20T00:00:00Z", stale_after_s=None)
    for a, b in zip(fresh, anyway, strict=True):
        pd.testing.assert_frame_equal(a, b)


@pytest.fixture
def minutes_only(sample_store_path: Path, tmp_path: Path) -> Store:
    """The bundled store's real 1 m klines alone (what a user who imports 1 m klines has)."""
    import shutil

    for symbol_dir in (sample_store_path / "binance").iterdir():
        shutil.copytree(
            symbol_dir / "bars_1m", tmp_path / "m" / "binance" / symbol_dir.name / "bars_1m"
        )
    return open_store(tmp_path / "m")


def test_hours_and_days_are_derived_from_stored_minutes(
    minutes_only: Store, sample_store_path: Path
) -> None:
    sample = open_store(sample_store_path)
    derived = minutes_only.bars("ETH/USDT", "1h", start="2024-08-01", end="2024-08-10")
    stored = sample.bars("ETH/USDT", "1h", start="2024-08-01", end="2024-08-10")  # Binance's own
    assert len(derived) == len(stored) == 9 * 24
    pd.testing.assert_frame_equal(derived.drop(columns="volume"), stored.drop(columns="volume"))
    np.testing.assert_allclose(derived["volume"], stored["volume"], rtol=1e-9)
    days = minutes_only.bars("ETH/USDT", "1d", start="2024-08-01", end="2024-08-10")
    pd.testing.assert_frame_equal(
        days.drop(columns="volume"),
        sample.bars("ETH/USDT", "1d", start="2024-08-01", end="2024-08-10").drop(columns="volume"),
    )
    # A start inside an hour: that hour is not whole in [start, end), so it is not served.
    inside = minutes_only.bars(
        "ETH/USDT", "1h", start="2024-08-01T00:30:00Z", end="2024-08-01T03:00:00Z"
    )
    assert [str(t) for t in inside.index] == [
        "2024-08-01 01:00:00+00:00",
        "2024-08-01 02:00:00+00:00",
    ]


def test_an_hour_missing_a_minute_is_no_hour(minutes_only: Store, tmp_path: Path) -> None:
    rows = minutes_only.read(
        "binance", "ETH/USDT", "bars_1m", to_ns("2024-08-01"), to_ns("2024-08-01T03:00:00Z")
    )
    holed = open_store(tmp_path / "holed")
    holed.write("binance", "ETH/USDT", "bars_1m", np.delete(rows, 61))  # 01:01 is missing
    hours = holed.bars("ETH/USDT", "1h")
    assert [str(t) for t in hours.index] == [
        "2024-08-01 00:00:00+00:00",
        "2024-08-01 02:00:00+00:00",
    ]


def test_info_says_which_timeframes_are_derived(minutes_only: Store) -> None:
    entries = {(e["symbol"], e["kind"]): e for e in minutes_only.info()}
    assert "derived_from" not in entries[("ETH/USDT", "bars_1m")]
    assert entries[("ETH/USDT", "bars_1h")]["derived_from"] == "bars_1m"
    assert entries[("ETH/USDT", "bars_1d")]["derived_from"] == "bars_1m"
    assert ("ETH/USDT", "bars_1s") not in entries  # nothing finer to build seconds from


def test_the_store_offers_what_features_and_models_read(sample_store_path, tmp_path) -> None:
    from mmts.core.stores import FeatureStore, MarketData, require_market_data
    from mmts.features import model_input

    store = open_store(sample_store_path)
    assert isinstance(store, MarketData) and isinstance(store, FeatureStore)
    assert require_market_data(store, "x") is store
    with pytest.raises(TypeError, match=r"model_input reads a market-data store.*got str"):
        model_input("data", "2024-08-09T00:03:00Z")  # a path is not a store


def test_the_stream_index_sees_new_series_and_files_written_by_anyone(tmp_path) -> None:
    import numpy as np

    def bars(start_ns: int, n: int) -> np.ndarray:
        rec = np.zeros(n, bar_dt)
        rec["ts"] = start_ns + np.arange(n) * 60 * 10**9
        rec["close"] = 1.0
        return rec

    reader, writer = Store(tmp_path), Store(tmp_path)  # two handles, as two processes have
    assert reader.streams() == []
    writer.write("binance", "ETH/USDT", "bars_1m", bars(0, 3))
    assert [k.kind for k in reader.streams()] == ["bars_1m"]
    reader.streams()  # listed again, from the index
    writer.write("binance", "ETH/USDT", "bars_1m", bars(40 * 86400 * 10**9, 2))  # a new month
    assert len(reader.partitions("binance", "ETH/USDT", "bars_1m")) == 2
    writer.write("binance", "BTC/USDT", "bars_1m", bars(0, 1))
    assert {k.symbol for k in reader.streams()} == {"ETH/USDT", "BTC/USDT"}
    assert reader.read("binance", "ETH/USDT", "bars_1m").shape[0] == 5


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 2)), max_size=25),
       st.lists(st.tuples(st.integers(0, 20), st.integers(0, 2)), max_size=25))  # fmt: skip
def test_bar_conflicts_match_a_plain_oracle(old_rows: list[tuple[int, int]],
                                           new_rows: list[tuple[int, int]]) -> None:  # fmt: skip
    """Same open time, other values: a conflict, paired with the stored bar (synthetic bars)."""
    from mmts.data.dedupe import bar_conflicts

    def bars(rows: list[tuple[int, int]]) -> np.ndarray:
        out = np.zeros(len(rows), bar_dt)
        for i, (t, v) in enumerate(rows):
            out[i] = (t, 100 + v, 101 + v, 99 + v, 100 + v, 1.0, 0)
        return out

    old_unique = list({t: (t, v) for t, v in old_rows}.values())  # the store holds each once
    old, new = bars(old_unique), bars(new_rows)
    mask, index = bar_conflicts(old, new)
    stored = dict(old_unique)
    want = [t in stored and stored[t] != v for t, v in new_rows]
    assert mask.tolist() == want
    assert [int(old["ts"][i]) for i in index] == [
        t for (t, _), w in zip(new_rows, want, strict=True) if w
    ]
