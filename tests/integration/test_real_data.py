"""Import the real recordings and klines from ../shared/data and check them against each other."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmts.data import bars_from_trades, import_paths, open_store, resample
from mmts.data.store import Store

#: The full real recordings, parsed once for the module: tens of seconds.
pytestmark = pytest.mark.slow

OHLC = ["open", "high", "low", "close"]


@pytest.fixture(scope="module")
def spot_store(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = open_store(tmp_path_factory.mktemp("spot"))
    summary = import_paths(
        store,
        [
            shared_data / "binance-ws" / "spot",
            shared_data / "klines" / "binance-spot" / "1m-2024-07",
            shared_data / "klines" / "binance-spot" / "5m-1h-2024",
            shared_data / "klines" / "binance-spot" / "1d",
        ],
    )
    assert summary.incidents == []
    return store


def test_message_counts_match_the_recordings(spot_store: Store) -> None:
    # Counts from shared/data/README.md for the spot 2024 window.
    for symbol, depth, trades, bbo in [
        ("BTC/USDT", 6495, 19904, 73174),
        ("ETH/USDT", 6470, 14515, 58758),
    ]:
        book = spot_store.book_events(symbol)
        messages = len(np.unique(book[["local_ts", "last_id"]]))
        assert messages == depth + 1  # diffs plus the REST snapshot
        assert len(spot_store.trades(symbol)) == trades
        assert len(spot_store.bbo(symbol)) == bbo


@pytest.mark.parametrize("symbol", ["BTC/USDT", "ETH/USDT"])
def test_minute_bars_from_trades_equal_the_klines(spot_store: Store, symbol: str) -> None:
    trades = spot_store.trades(symbol)
    built = bars_from_trades(trades, "1m").iloc[1:-1]  # the recording starts and ends midway
    klines = spot_store.bars(symbol, "1m").loc[built.index]
    assert len(built) == 10
    assert built[OHLC].equals(klines[OHLC])
    np.testing.assert_allclose(built["volume"], klines["volume"], rtol=0, atol=1e-8)
    # The same through the stored 1 s bars.
    via_seconds = resample(spot_store.bars(symbol, "1s"), "1m")
    assert via_seconds[OHLC].equals(spot_store.bars(symbol, "1m").loc[via_seconds.index][OHLC])


@pytest.mark.parametrize("symbol", ["BTC/USDT", "ETH/USDT"])
def test_hour_and_day_bars_resample_to_the_files(spot_store: Store, symbol: str) -> None:
    hours = resample(spot_store.bars(symbol, "1m"), "1h")
    assert len(hours) > 700
    files = spot_store.bars(symbol, "1h").loc[hours.index]
    assert hours[OHLC].equals(files[OHLC])
    np.testing.assert_allclose(hours["volume"], files["volume"], rtol=1e-12)
    days = resample(spot_store.bars(symbol, "1h"), "1d")
    cdd = spot_store.bars(symbol, "1d").loc[days.index]
    assert len(days) > 240 and days[OHLC].equals(cdd[OHLC])
    np.testing.assert_allclose(days["volume"], cdd["volume"], rtol=1e-9)


def test_book_is_valid_and_uncrossed_through_the_window(spot_store: Store) -> None:
    start = pd.Timestamp("2024-08-08T23:54:20Z")
    for symbol in ["BTC/USDT", "ETH/USDT"]:
        for minute in range(0, 10, 3):
            bids, asks = spot_store.book(symbol, start + pd.Timedelta(minutes=minute), depth=20)
            assert len(bids) == 20 and len(asks) == 20
            assert bids["price"].iloc[0] < asks["price"].iloc[0]
            assert bids["price"].is_monotonic_decreasing and asks["price"].is_monotonic_increasing
        with pytest.raises(Exception, match="no snapshot"):
            spot_store.book(symbol, "2024-08-08T23:54:14Z")


def test_book_agrees_with_the_best_bid_ask_stream(spot_store: Store) -> None:
    # bookTicker carries the top of book with its update id. Where a diff message ends on exactly
    # that id, the local book right after that diff must show the same best bid and ask.
    for symbol in ["BTC/USDT", "ETH/USDT"]:
        bbo = spot_store.bbo(symbol).drop_duplicates("update_id").set_index("update_id")
        book = spot_store.book_events(symbol)
        diffs = book[book["flags"] == 0]
        common = np.intersect1d(np.unique(diffs["last_id"]), bbo.index.to_numpy())
        assert len(common) >= 20
        for uid in common[:: max(1, len(common) // 20)]:
            ts = int(diffs["local_ts"][diffs["last_id"] == uid][0])
            bids, asks = spot_store.book(symbol, ts, depth=1)
            assert bids["price"].iloc[0] == bbo.loc[uid, "bid_px"]
            assert asks["price"].iloc[0] == bbo.loc[uid, "ask_px"]
            assert bids["qty"].iloc[0] == bbo.loc[uid, "bid_qty"]


@pytest.mark.parametrize(
    ("files", "symbol", "market"),
    [
        (["usdm/btcusdt_20240808.gz"], "BTC/USDT:USDT", "linear"),
        (
            ["usdm/btcusdt_20230404.dat.gz", "usdm/btcusdt_20230405.dat.gz"],
            "BTC/USDT:USDT",
            "linear",
        ),
        (["cm/ethusd_perp_20240808.gz", "cm/ethusd_perp_20240809.gz"], "ETH/USD:ETH", "inverse"),
    ],
)
def test_futures_recordings_sync_without_gaps(
    shared_data: Path, tmp_path: Path, files: list[str], symbol: str, market: str
) -> None:
    store = open_store(tmp_path)
    summary = import_paths(store, [shared_data / "binance-ws" / f for f in files])
    assert summary.incidents == []
    entries = {e["kind"]: e for e in store.info()}
    assert entries["book"]["market"] == market and entries["book"]["symbol"] == symbol
    assert entries["book"]["gaps"] == []
    mid = pd.Timestamp(str(entries["book"]["start"])) + pd.Timedelta(minutes=2)
    bids, asks = store.book(symbol, mid)
    assert bids["price"].iloc[0] < asks["price"].iloc[0]


def test_files_imported_separately_equal_files_imported_together(
    shared_data: Path, tmp_path: Path
) -> None:
    spot = shared_data / "binance-ws" / "spot"
    together = open_store(tmp_path / "a")
    import_paths(together, [spot / "ethusdt_20240808.gz", spot / "ethusdt_20240809.gz"])
    apart = open_store(tmp_path / "b")
    import_paths(apart, [spot / "ethusdt_20240809.gz"])  # later day first
    import_paths(apart, [spot / "ethusdt_20240808.gz"])
    assert json.dumps(together.info()) == json.dumps(apart.info())
    at = "2024-08-09T00:03:00Z"
    for a, b in zip(together.book("ETH/USDT", at), apart.book("ETH/USDT", at), strict=True):
        assert a.equals(b)


def test_bundled_sample_is_what_the_importer_builds(
    shared_data: Path, sample_store_path: Path, tmp_path: Path
) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "build_sample", Path(__file__).parents[2] / "scripts" / "build_sample.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fresh = open_store(tmp_path)
    import_paths(fresh, [shared_data / s for s in module.SOURCES])
    assert json.dumps(fresh.info()) == json.dumps(open_store(sample_store_path).info())


def test_a_ledger_on_the_shared_klines_rebuilds_every_input_it_kept(
    spot_store: Store, tmp_path: Path
) -> None:
    """The learning loop on the store imported from ../shared/data: a day, rule experts, 5 min."""
    from mmts.backtest.run import run_backtest
    from mmts.features import model_input
    from mmts.features.inputs import input_hash
    from mmts.history import open_ledger
    from mmts.models.experiment import experiment_from_dict
    from mmts.runtime.config import trading_from_dict

    tables = {"experiment": {"name": "shared", "store": str(spot_store.root)},
              "features": {"tick": {"ETH/USDT": 0.01, "BTC/USDT": 0.01}},
              "data": {"decision_every": 5}, "backtest": {"experts": ["ma_cross", "imbalance"]}}  # fmt: skip
    exp, trading = experiment_from_dict(tables), trading_from_dict(tables)
    result = run_backtest(spot_store, exp, trading, "2024-08-01T00:00:00Z", "2024-08-02T00:00:00Z",
                          out=tmp_path, engine="event")  # fmt: skip
    ledger = open_ledger(result["run_dir"])
    joined = ledger.predictions(with_outcomes=True)
    assert len(joined[joined["model"] == "mixture"]) == 289
    judged = joined[joined["outcome"].notna()]
    assert (judged["resolved_at"] >= judged["time"] + pd.Timedelta(exp.horizon_ns, "ns")).all()
    ids = list(ledger.inputs()["input_id"].iloc[::48])
    for iid, x in zip(ids, ledger.inputs_for(ids), strict=True):
        assert input_hash(x) == input_hash(model_input(spot_store, x.at, exp.features)), iid
