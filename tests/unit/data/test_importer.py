"""Format detection, the import summary, and what a failed or killed import leaves behind."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmts.core.errors import DataFormatError
from mmts.data import import_paths, open_store
from mmts.data.importer import detect_format

T0 = 1723161253937085768


def _recording(path: Path, n: int = 50, symbol: str = "ethusdt") -> Path:
    lines = [f'{T0} {{"lastUpdateId":10,"bids":[["100.0","1.0"]],"asks":[["100.5","2.0"]]}}']
    for i in range(n):
        u = 11 + i
        lines.append(
            f'{T0 + (i + 1) * 10**8} {{"stream":"{symbol}@depth@100ms","data":{{"e":"depthUpdate",'
            f'"E":{1723161255000 + i * 100},"s":"X","U":{u},"u":{u},"b":[["100.0","{1 + i}"]],"a":[]}}}}'
        )
        lines.append(
            f'{T0 + (i + 1) * 10**8 + 5} {{"stream":"{symbol}@trade","data":{{"e":"trade",'
            f'"t":{i + 1},"p":"100.{i % 10}","q":"0.1","T":{1723161255000 + i * 100},"m":false,"M":true}}}}'
        )
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path


def test_formats_are_detected_from_content(tmp_path: Path) -> None:
    rec = _recording(tmp_path / "anything.bin")
    assert detect_format(rec) == "binance-ws"
    plain = tmp_path / "plain.txt"
    plain.write_bytes(gzip.decompress(rec.read_bytes()))
    assert detect_format(plain) == "binance-ws"
    cdd = tmp_path / "Binance_ETHUSDT_d.csv"
    cdd.write_text("https://www.CryptoDataDownload.com\nUnix,Date\n")
    assert detect_format(cdd) == "cryptodatadownload-csv"
    csv = tmp_path / "ETHUSDT-1m-2024-01-01.csv"
    csv.write_text("1704067200000,1,1,1,1,1,1704067259999,1,1,1,1,0\n")
    assert detect_format(csv) == "binance-public-klines"


def test_wrong_format_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello, world\n")
    with pytest.raises(DataFormatError) as info:
        detect_format(path)
    assert str(info.value).startswith(
        f"{path}: unrecognised format (text starting 'hello, world'): expected a Binance"
    )


def test_a_folder_with_files_it_cannot_read_lists_them_all_and_imports_nothing(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    _recording(folder / "ethusdt_20240808.gz")  # a good file first: it must not be imported
    (folder / "ETHUSDT-1m.csv").write_text("time,o,h,l,c,v\n1704067200000,1,1,1,1,1\n")
    (folder / "blob.bin").write_bytes(bytes(range(256)))
    (folder / "ETH_USDT-1m.json").write_text("[[1704067200000, 1, 2, 0.5]]")  # 4 of 6 fields
    store = open_store(tmp_path / "store")
    with pytest.raises(DataFormatError) as info:
        import_paths(store, [folder])
    message = str(info.value)
    assert message.startswith(
        "2 of 4 file(s) are not in a format mmts imports; nothing was imported"
    )
    assert (
        "ETHUSDT-1m.csv: a CSV whose first line has the columns ['time', 'o', 'h', 'l', 'c', 'v']"
        in message
    )
    assert "CryptoDataDownload CSV (a banner line" in message and "open_time, open, high" in message
    assert "blob.bin: unrecognised format (binary data starting b'\\x00\\x01" in message
    assert not (tmp_path / "store").exists()
    (folder / "ETHUSDT-1m.csv").unlink()
    (folder / "blob.bin").unlink()
    with pytest.raises(DataFormatError) as info:  # readable formats, unreadable content
        import_paths(store, [folder])
    assert str(info.value).startswith("1 of 2 file(s) could not be read; nothing was imported")
    assert "ETH_USDT-1m.json: candle 0 is [1704067200000, 1, 2, 0.5]; expected" in str(info.value)
    assert not (tmp_path / "store").exists()


def test_freqtrade_json_candles_of_2020_to_2023_import(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "klines" / "binance-spot-1m-more"
    source = folder / "2021-04_selskas" / "ETH_USDT-1m.json"
    overlapping = folder / "2021-04_tooyipjee" / "ETH_USDT-1m.json"
    assert detect_format(source) == "freqtrade-json"
    store = open_store(tmp_path / "store")
    summary = import_paths(store, [source, overlapping])
    rows = np.array(json.loads(source.read_text()), np.float64)
    bars = store.bars(
        "ETH/USDT", "1m", start=int(rows[0, 0]) * 10**6, end=int(rows[-1, 0] + 1) * 10**6
    )
    assert len(bars) == rows.shape[0]  # every candle of the first file, none changed by the second
    assert (bars.index.asi8 // 10**6 == rows[:, 0]).all()
    assert np.array_equal(bars[["open", "high", "low", "close", "volume"]].to_numpy(), rows[:, 1:])
    assert (
        summary.written[("binance", "ETH/USDT", "bars_1m")][0] > rows.shape[0]
    )  # the second file too
    assert summary.conflicts == []  # where the two overlap, every minute agrees


def test_two_sources_that_disagree_on_a_minute_are_reported_never_merged(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A copy of a real file with one minute changed: that minute is kept as stored, and said."""
    from mmts.cli.main import main

    source = (
        shared_data / "klines" / "binance-spot-1m-more" / "2021-04_tooyipjee" / "ETH_USDT-1m.json"
    )
    rows = json.loads(source.read_text())
    k = 1000
    changed = [list(r) for r in rows]
    low, high, close = (float(changed[k][i]) for i in (3, 2, 4))
    changed[k][4] = low if close != low else high  # the close of one minute differs (still valid)
    changed.append([changed[-1][0] + 60_000, *changed[-1][1:]])  # and one new minute
    other = tmp_path / "other" / "ETH_USDT-1m.json"
    other.parent.mkdir()
    other.write_text(json.dumps(changed))
    store_path = tmp_path / "store"
    assert main(["data", "import", str(source), "--store", str(store_path)]) == 0
    capsys.readouterr()
    again = ["data", "import", str(other), "--store", str(store_path), "--exchange", "binance"]
    assert main([*again, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert len(report["conflicts"]) == 1
    conflict = report["conflicts"][0]
    minute = pd.Timestamp(rows[k][0], unit="ms", tz="UTC")
    assert conflict["path"] == str(other) and pd.Timestamp(conflict["time"]) == minute
    assert conflict["stored"] == [float(v) for v in rows[k][1:6]]
    assert conflict["new"][3] == changed[k][4]
    store = open_store(store_path)
    bar = store.bars("ETH/USDT", "1m", start=minute.value, end=minute.value + 60 * 10**9)
    assert bar["close"].iloc[0] == float(rows[k][4])  # what was stored stays
    last = store.bars("ETH/USDT", "1m", start=(changed[-1][0]) * 10**6)
    assert len(last) == 1  # everything else of the file was imported
    assert main(again) == 1
    err = capsys.readouterr().err
    assert "1 bar(s) where two sources disagree were not imported" in err
    assert f"{minute.strftime('%Y-%m-%dT%H:%M')}" in err and "kept the stored bar" in err


def test_import_summary_counts_reads_and_new_rows(tmp_path: Path) -> None:
    rec = _recording(tmp_path / "ethusdt_20240808.gz")
    store = open_store(tmp_path / "store")
    first = import_paths(store, [rec]).to_json()
    again = import_paths(store, [rec]).to_json()
    rows = {w["kind"]: (w["rows_read"], w["rows_new"]) for w in first["written"]}
    assert rows["trades"] == (50, 50) and rows["book"] == (52, 52)
    assert all(w["rows_new"] == 0 for w in again["written"])
    bids, asks = store.book("ETH/USDT", T0 + 50 * 10**8 + 1)
    assert (bids["price"].tolist(), bids["qty"].tolist()) == ([100.0], [50.0])
    assert asks["price"].tolist() == [100.5]


def test_id_gap_is_reported_with_file_and_line(tmp_path: Path) -> None:
    rec = _recording(tmp_path / "ethusdt_20240808.gz", n=10)
    lines = gzip.decompress(rec.read_bytes()).decode().splitlines()
    del lines[9]  # drop the depth message with U=u=15; U=16 now sits on line 11
    rec.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    store = open_store(tmp_path / "store")
    summary = import_paths(store, [rec])
    (incident,) = summary.incidents
    assert (incident.kind, incident.line, incident.expected_id, incident.found_id) == (
        "update-id gap",
        11,
        15,
        16,
    )
    assert incident.resync_time is None
    (book_info,) = [e for e in store.info() if e["kind"] == "book"]
    assert book_info["gaps"][0]["end"] is None
    with pytest.raises(Exception, match=r"not valid .* continuity broke"):
        store.book("ETH/USDT", T0 + 9 * 10**8)


def test_crossed_book_is_reported_and_invalidates_the_book(tmp_path: Path) -> None:
    rec = _recording(tmp_path / "ethusdt_20240808.gz", n=5)
    lines = gzip.decompress(rec.read_bytes()).decode().splitlines()
    # Line 6 is the diff U=u=13: make it bid above the best ask (100.5).
    lines[5] = lines[5].replace('"b":[["100.0","3"]]', '"b":[["101.0","3"]]')
    rec.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    store = open_store(tmp_path / "store")
    (incident,) = import_paths(store, [rec]).incidents
    assert (incident.kind, incident.line) == ("crossed book after diff", 6)
    with pytest.raises(Exception, match=r"not valid .* came out crossed after update 13"):
        store.book("ETH/USDT", T0 + 4 * 10**8)
    bids, _ = store.book("ETH/USDT", T0 + 2 * 10**8)
    assert bids["price"].tolist() == [100.0]


def test_failed_import_writes_nothing(tmp_path: Path) -> None:
    good = _recording(tmp_path / "ethusdt_20240808.gz")
    bad = tmp_path / "broken.csv"
    bad.write_text("https://www.CryptoDataDownload.com\nUnix,Open\n")
    store = open_store(tmp_path / "store")
    with pytest.raises(DataFormatError):
        import_paths(store, [good, bad])
    assert store.info() == []


_KILLER = """
import os, signal, sys
import mmts.data.store as st
calls = {"n": 0}
real = st.os.replace
def replace(a, b):
    calls["n"] += 1
    if calls["n"] == int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)
    real(a, b)
st.os.replace = replace
from mmts.data import import_paths, open_store
import_paths(open_store(sys.argv[1]), [sys.argv[2]])
"""


@pytest.mark.parametrize("kill_at", [1, 3])
def test_import_killed_midway_keeps_what_was_stored(tmp_path: Path, kill_at: int) -> None:
    old = _recording(tmp_path / "btcusdt_20240808.gz", symbol="btcusdt")
    new = _recording(tmp_path / "ethusdt_20240808.gz", n=300)
    store = open_store(tmp_path / "store")
    import_paths(store, [old])
    before = store.info()
    trades_before = store.trades("BTC/USDT")

    proc = subprocess.run(
        [sys.executable, "-c", _KILLER, str(store.root), str(new), str(kill_at)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == -9, proc.stderr

    # Everything readable, the old symbol untouched.
    for key in store.streams():
        store.read(key.exchange, key.symbol, key.kind)
    assert [e for e in store.info() if e["symbol"] == "BTC/USDT"] == before
    assert store.trades("BTC/USDT").equals(trades_before)

    # Running the import again completes it: same result as an uninterrupted import.
    import_paths(store, [new])
    clean = open_store(tmp_path / "clean")
    import_paths(clean, [old])
    import_paths(clean, [new])
    assert json.dumps(store.info()) == json.dumps(clean.info())
    assert np.array_equal(
        store.read("binance", "ETH/USDT", "book"), clean.read("binance", "ETH/USDT", "book")
    )
