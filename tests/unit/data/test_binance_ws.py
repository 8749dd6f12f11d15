"""The recording parser: exact numbers, any key order, clear errors with file and line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from mmts.core.enums import FLAG_SNAPSHOT
from mmts.core.errors import DataFormatError
from mmts.core.schema import NO_TS
from mmts.data.binance_ws import read_recording

T0 = 1723161253937085768


def _line(ts: int, payload: dict) -> str:
    return f"{ts} {json.dumps(payload, separators=(',', ':'))}"


def _spot_lines() -> list[str]:
    return [
        _line(T0, {"stream": "ethusdt@depth@100ms", "data": {"e": "depthUpdate", "E": 1723161255208,
              "s": "ETHUSDT", "U": 11, "u": 12, "b": [["2683.80", "1.5"]], "a": [["2683.81", "0"]]}}),
        _line(T0 + 1, {"lastUpdateId": 10, "bids": [["2683.80", "3.0"], ["2683.70", "1.0"]],
                       "asks": [["2683.81", "2.0"]]}),
        _line(T0 + 2, {"stream": "ethusdt@trade", "data": {"e": "trade", "E": 1723161255343,
              "s": "ETHUSDT", "t": 7, "p": "2683.81000000", "q": "0.02000000", "T": 1723161255342,
              "m": False, "M": True}}),
        _line(T0 + 3, {"stream": "ethusdt@bookTicker", "data": {"u": 12, "s": "ETHUSDT",
              "b": "2683.80", "B": "1.5", "a": "2683.81", "A": "2.0"}}),
    ]  # fmt: skip


def _write(tmp_path: Path, lines: list[str], name: str = "ethusdt_20240808.gz") -> Path:
    path = tmp_path / name
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


def test_spot_recording_is_split_into_kinds(tmp_path: Path) -> None:
    recs, summary = read_recording(_write(tmp_path, _spot_lines()))
    (rec,) = recs
    assert (rec.exchange, rec.market, rec.symbol) == ("binance", "spot", "ETH/USDT")
    assert summary.messages == 4
    t = rec.trades[0]
    assert (t["trade_id"], t["price"], t["qty"], t["side"]) == (7, 2683.81, 0.02, 1)
    assert t["exch_ts"] == 1723161255342 * 10**6 and t["local_ts"] == T0 + 2
    assert rec.bbo[0]["exch_ts"] == NO_TS  # spot bookTicker has no time
    assert rec.book["flags"].tolist() == [0, 0, FLAG_SNAPSHOT, FLAG_SNAPSHOT, FLAG_SNAPSHOT]
    assert rec.book["side"].tolist() == [1, -1, 1, 1, -1]
    assert rec.book["last_id"].tolist() == [12, 12, 10, 10, 10]
    assert rec.book_lines.tolist() == [1, 1, 2, 2, 2]


def test_decimal_strings_parse_exactly_like_float(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    prices = [f"{p:.8f}" for p in rng.uniform(0.00001, 99999, 300)]
    # The last ones leave the kernel's fast path and are re-read exactly by the wrapper.
    prices += ["0.1", "0.30000000", "61837.63000000", "1", "0.00000001", "123456789.12345678",
               "1e5", "9007199254740993"]  # fmt: skip
    lines = [
        _line(T0 + i, {"stream": "ethusdt@trade", "data": {"t": i, "p": p, "q": p, "T": T0 // 10**6, "m": True, "M": True}})
        for i, p in enumerate(prices)
    ]  # fmt: skip
    (rec,), _ = read_recording(_write(tmp_path, lines))
    assert rec.trades["price"].tolist() == [float(p) for p in prices]
    assert np.all(rec.trades["side"] == -1)


def test_key_order_and_whitespace_do_not_matter(tmp_path: Path) -> None:
    payload = '{ "data" : { "m": true, "q":"1.5", "p" : "10.25", "T":1723161253940, "t" : 9, "M": true }, "stream":"btcusdt@trade" }'
    (rec,), _ = read_recording(_write(tmp_path, [f"{T0} {payload}"]))
    assert rec.trades[0]["price"] == 10.25 and rec.trades[0]["trade_id"] == 9
    assert rec.market == "spot"


def test_microsecond_timestamps_are_scaled_to_ns(tmp_path: Path) -> None:
    lines = [_line(1680652700423575, {"stream": "btcusdt@trade", "data": {"e": "trade",
             "t": 1, "p": "1", "q": "1", "T": 1680652700423, "m": True, "X": "MARKET"}})]  # fmt: skip
    (rec,), _ = read_recording(_write(tmp_path, lines, "btcusdt_20230404.dat.gz"))
    assert rec.trades[0]["local_ts"] == 1680652700423575000
    assert rec.market == "linear" and rec.symbol == "BTC/USDT:USDT"


def test_coin_m_is_detected_from_the_symbol(tmp_path: Path) -> None:
    lines = [_line(T0, {"stream": "btcusd_perp@depth@0ms", "data": {"E": T0 // 10**6, "T": T0 // 10**6,
             "s": "BTCUSD_PERP", "ps": "BTCUSD", "U": 1, "u": 2, "pu": 0, "b": [], "a": []}})]  # fmt: skip
    (rec,), _ = read_recording(_write(tmp_path, lines))
    assert (rec.market, rec.symbol) == ("inverse", "BTC/USD:BTC")
    assert rec.book.shape[0] == 1 and rec.book[0]["side"] == 0  # empty diff keeps a placeholder


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    lines = _spot_lines()
    lines.insert(2, f"{T0 + 1} " + '{"stream":"ethusdt@trade","data":{"t":1,"p":"1.0",')
    path = _write(tmp_path, lines)
    with pytest.raises(DataFormatError, match=rf"{path.name}:3: malformed message"):
        read_recording(path)
    _, summary = read_recording(path, skip_bad_lines=True)
    assert sum(summary.skipped.values()) == 1


def test_unknown_streams_are_counted_not_stored(tmp_path: Path) -> None:
    lines = [*_spot_lines(), _line(T0 + 9, {"stream": "ethusdt@markPrice@1s", "data": {"p": "1"}})]
    (rec,), summary = read_recording(_write(tmp_path, lines))
    assert summary.skipped == {"unstored stream markPrice@1s": 1}


@pytest.mark.parametrize(
    ("price", "message"),
    [("NaN", "malformed|must be positive"), ("-1.0", "must be positive"), ("", "malformed")],
)
def test_bad_numbers_are_rejected_with_location(tmp_path: Path, price: str, message: str) -> None:
    lines = _spot_lines()
    lines[2] = lines[2].replace('"p":"2683.81000000"', f'"p":"{price}"')
    with pytest.raises(DataFormatError, match=rf":3: .*({message})"):
        read_recording(_write(tmp_path, lines))


def test_negative_depth_size_is_rejected(tmp_path: Path) -> None:
    lines = _spot_lines()
    lines[1] = lines[1].replace('["2683.70","1.0"]', '["2683.70","-1.0"]')
    with pytest.raises(DataFormatError, match=r":2: depth price must be positive"):
        read_recording(_write(tmp_path, lines))


def test_time_going_backwards_is_an_error(tmp_path: Path) -> None:
    lines = _spot_lines()
    lines[3] = lines[3].replace(str(T0 + 3), str(T0 - 5), 1)
    with pytest.raises(DataFormatError, match=r":4: local timestamp .*out of order"):
        read_recording(_write(tmp_path, lines))


def test_truncated_gzip_is_a_clear_error(tmp_path: Path) -> None:
    path = _write(tmp_path, _spot_lines())
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DataFormatError, match="gzip stream is corrupt or truncated"):
        read_recording(path)


def test_two_symbols_in_one_file_are_split(tmp_path: Path) -> None:
    lines = [
        _line(T0, {"stream": "btcusdt@trade", "data": {"t": 1, "p": "1", "q": "1", "T": T0 // 10**6, "m": True, "M": True}}),
        _line(T0 + 1, {"stream": "ethusdt@trade", "data": {"t": 2, "p": "2", "q": "1", "T": T0 // 10**6, "m": True, "M": True}}),
    ]  # fmt: skip
    recs, _ = read_recording(_write(tmp_path, lines))
    assert [r.symbol for r in recs] == ["BTC/USDT", "ETH/USDT"]


def test_an_exchange_time_decades_from_the_receive_time_is_refused(tmp_path: Path) -> None:
    lines = _spot_lines()
    lines[2] = lines[2].replace('"T":1723161255342', '"T":723161255342')  # 1992: a digit lost
    path = _write(tmp_path, lines)
    with pytest.raises(DataFormatError) as info:
        read_recording(path)
    assert str(info.value).startswith(
        f"{path}:3: exchange time 1992-11-30T22:07:35.342Z and receive time "
        "2024-08-08T23:54:13.937085770Z are 277777.8 h apart"
    ), str(info.value)
    recordings, summary = read_recording(path, skip_bad_lines=True)
    assert summary.skipped == {"exchange and receive times disagree": 1}
    assert recordings[0].trades.shape[0] == 0  # the one trade was that line
