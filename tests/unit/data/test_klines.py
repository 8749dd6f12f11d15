"""Kline readers: freqtrade feather, CryptoDataDownload CSV, Binance public CSV/zip."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmts.core.errors import DataFormatError
from mmts.data import klines

ROWS = [
    # open_time(ms), open, high, low, close, volume
    (1722470400000, 64628.0, 64700.0, 64600.0, 64650.5, 12.5),
    (1722470460000, 64650.5, 64660.0, 64640.0, 64641.0, 3.25),
]


def _binance_csv(header: bool, unit_scale: int = 1) -> str:
    columns = (
        "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
        "taker_buy_volume,taker_buy_quote_volume,ignore"
    )
    lines = [columns] if header else []
    for t, o, h, lo, c, v in ROWS:
        lines.append(f"{t * unit_scale},{o},{h},{lo},{c},{v},{t + 59999},1.0,42,1.0,1.0,0")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("header", "scale"), [(False, 1), (True, 1), (False, 1000)])
def test_binance_public_csv(tmp_path: Path, header: bool, scale: int) -> None:
    path = tmp_path / "BTCUSDT-1m-2024-08-01.csv"
    path.write_text(_binance_csv(header, scale))
    (kf,) = klines.read_binance_public(path)
    assert (kf.symbol, kf.timeframe, kf.exchange) == ("BTC/USDT", "1m", "binance")
    assert kf.bars["ts"].tolist() == [t * 10**6 for t, *_ in ROWS]
    assert kf.bars["close"].tolist() == [r[4] for r in ROWS]
    assert kf.bars["trades"].tolist() == [42, 42]


def test_binance_public_zip_of_usdm_futures(tmp_path: Path) -> None:
    folder = tmp_path / "futures" / "um" / "daily" / "klines" / "ETHUSDT" / "1h"
    folder.mkdir(parents=True)
    path = folder / "ETHUSDT-1h-2024-08-01.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            "ETHUSDT-1h-2024-08-01.csv",
            _binance_csv(False).replace("1722470460000", "1722474000000"),
        )
    (kf,) = klines.read_binance_public(path)
    assert kf.symbol == "ETH/USDT:USDT" and kf.timeframe == "1h"


def test_cryptodatadownload_csv_newest_first(tmp_path: Path) -> None:
    text = (
        "https://www.CryptoDataDownload.com\n"
        "Unix,Date,Symbol,Open,High,Low,Close,Volume ETH,Volume USDT,tradecount\n"
        "1726099200000,2024-09-12,ETHUSDT,2.0,3.0,1.5,2.5,10.0,25.0,7\n"
        "1726012800000,2024-09-11,ETHUSDT,1.0,2.0,0.5,2.0,5.0,10.0,3\n"
    )
    path = tmp_path / "Binance_ETHUSDT_d.csv"
    path.write_text(text)
    kf = klines.read_cryptodatadownload_csv(path, text)
    bars, dropped = klines.validate_bars(kf.bars, kf.timeframe, kf.path)
    assert (kf.symbol, kf.timeframe, kf.exchange, dropped) == ("ETH/USDT", "1d", "binance", 0)
    assert bars["close"].tolist() == [2.0, 2.5]  # oldest first after validation
    assert bars["trades"].tolist() == [3, 7]


def test_freqtrade_feather(tmp_path: Path) -> None:
    folder = tmp_path / "user_data" / "data" / "binance"
    folder.mkdir(parents=True)
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime([r[0] for r in ROWS], unit="ms", utc=True),
            **{
                k: [r[i + 1] for r in ROWS]
                for i, k in enumerate(["open", "high", "low", "close", "volume"])
            },
        }
    )
    path = folder / "BTC_USDT_USDT-1m-futures.feather"
    frame.to_feather(path)
    kf = klines.read_freqtrade_feather(path)
    assert (kf.symbol, kf.timeframe, kf.exchange) == ("BTC/USDT:USDT", "1m", "binance")
    assert kf.bars["volume"].tolist() == [12.5, 3.25]


def _bars(values: list[tuple[int, float, float, float, float, float]]) -> np.ndarray:
    out = np.zeros(len(values), klines.bar_dt)
    for i, (t, o, h, lo, c, v) in enumerate(values):
        out[i] = (t * 10**6, o, h, lo, c, v, -1)
    return out


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([(ROWS[0][0], np.nan, 1, 1, 1, 1)], "row 0 .* is invalid"),
        ([(ROWS[0][0], 5, 4, 3, 6, 1)], "row 0 .* is invalid"),  # close above high
        ([(ROWS[0][0], 1, 1, 1, 1, -1)], "row 0 .* is invalid"),
        ([(ROWS[0][0] + 1, 1, 1, 1, 1, 1)], "not on a 1m boundary"),
        ([ROWS[0], (ROWS[0][0], 1, 1, 1, 1, 9)], "two different bars open at"),
        ([ROWS[1], ROWS[0], (ROWS[1][0] + 60000, *ROWS[1][1:])], "out of order at row 1"),
    ],
)
def test_bad_bars_are_named(rows: list, message: str) -> None:
    with pytest.raises(DataFormatError, match=message):
        klines.validate_bars(_bars(rows), "1m", "f.csv")


def test_identical_duplicates_are_dropped_and_counted() -> None:
    bars, dropped = klines.validate_bars(_bars([ROWS[0], ROWS[0], ROWS[1]]), "1m", "f.csv")
    assert dropped == 1 and bars.shape[0] == 2


def test_exchange_is_found_in_folder_names() -> None:
    assert (
        klines.exchange_from_path(Path("x/klines/binance-spot/1m-2024-07/ETH_USDT-1m.feather"))
        == "binance"
    )
    assert klines.exchange_from_path(Path("user_data/data/mexc/ETH_USDT-1m.feather")) == "mexc"
    assert klines.exchange_from_path(Path("somewhere/ETH_USDT-1m.feather")) is None
