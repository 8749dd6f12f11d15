"""The live message parser makes exactly the rows the batch reader makes from the same lines."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from mmts.core.errors import DataFormatError
from mmts.data.binance_messages import depth_rows, snapshot_rows, stream_kind, trade_record
from mmts.data.binance_ws import read_recording


@pytest.mark.parametrize("name", ["spot/ethusdt_20240808.gz", "usdm/btcusdt_20240808.gz"])
def test_every_real_line_parses_to_the_batch_readers_rows(shared_data: Path, name: str) -> None:
    path = shared_data / "binance-ws" / name
    (rec,), _ = read_recording(path)
    book, trades = [], []
    with gzip.open(path, "rt") as lines:
        for line in lines:
            ts_text, _, body = line.partition(" ")
            msg = json.loads(body)
            ts = int(ts_text)
            if "lastUpdateId" in msg:
                book.append(snapshot_rows(msg, ts))
            elif stream_kind(msg["stream"]) == "depth":
                book.append(depth_rows(msg["data"], ts))
            elif stream_kind(msg["stream"]) == "trade":
                trades.append(trade_record(msg["data"], ts))
    assert np.array_equal(np.concatenate(book), rec.book)
    assert np.array_equal(np.concatenate(trades), rec.trades)


def test_bad_messages_name_what_is_wrong() -> None:
    with pytest.raises(DataFormatError, match="lacks field 'u'"):
        depth_rows({"U": 1, "b": [], "a": []}, 0)
    with pytest.raises(DataFormatError, match="bad level"):
        depth_rows({"U": 1, "u": 2, "b": [["x", "1"]], "a": []}, 0)
    with pytest.raises(DataFormatError, match="size non-negative"):
        snapshot_rows({"lastUpdateId": 5, "bids": [["1.0", "-2"]], "asks": []}, 0)
    with pytest.raises(DataFormatError, match="positive and finite"):
        trade_record({"t": 1, "T": 5, "p": "nan", "q": "1", "m": True}, 0)
