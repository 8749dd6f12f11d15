"""Live book sync, one message at a time, equals the replay on real data and on gaps."""

from __future__ import annotations

import numpy as np
import pytest

from mmts.core import sync_nb
from mmts.core.sync_nb import message_bounds_nb
from mmts.data import open_store
from mmts.data.book_replay import sync_book
from mmts.data.book_stream import BookSyncStream
from mmts.testing.synthetic import depth_message


def _messages(rows: np.ndarray) -> list[np.ndarray]:
    bounds = message_bounds_nb(rows["local_ts"], rows["first_id"], rows["last_id"], rows["flags"])
    return [rows[bounds[k] : bounds[k + 1]] for k in range(bounds.shape[0] - 1)]


def _stream_log(
    rows: np.ndarray, tick: float | None = None, keep: int = 10_000
) -> tuple[list[tuple], BookSyncStream]:
    stream = BookSyncStream(is_futures=False, tick=tick, keep_messages=keep)
    log = []
    for message in _messages(rows):
        log += [
            ((e.code < 0 and e.code) or 0, e.time, e.side, e.price, e.qty)
            for e in stream.push(message)
        ]
    return log, stream


def _replay_log(rows: np.ndarray) -> list[tuple]:
    replay = sync_book(rows, is_futures=False)
    out = []
    for code, ts in zip(replay.log_code, replay.log_ts, strict=True):
        if code < 0:
            out.append((int(code), int(ts), 0, 0.0, 0.0))
        else:
            out.append(
                (
                    0,
                    int(ts),
                    int(rows["side"][code]),
                    float(rows["price"][code]),
                    float(rows["qty"][code]),
                )
            )
    return out


@pytest.mark.parametrize("symbol", ["BTC/USDT", "ETH/USDT"])
def test_stream_equals_replay_on_the_real_window(sample_store_path, symbol: str) -> None:
    rows = open_store(sample_store_path).read("binance", symbol, "book")
    log, stream = _stream_log(rows, keep=100)
    assert log == _replay_log(rows)
    assert stream.valid
    assert stream.n_messages <= 200  # applied messages are not kept (dropped in chunks of keep)


def test_gap_invalidates_until_the_next_snapshot_like_replay() -> None:
    rows = np.concatenate([
        depth_message(1, 10, 10, [(1, 99.0, 1.0), (-1, 101.0, 1.0)], snapshot=True),
        depth_message(2, 11, 12, [(1, 99.0, 2.0)]),
        depth_message(3, 15, 16, [(1, 98.0, 2.0)]),  # 13..14 missing
        depth_message(4, 17, 17, [(1, 97.0, 2.0)]),
        depth_message(5, 16, 16, [(1, 99.5, 1.0), (-1, 101.0, 1.0)], snapshot=True),
        depth_message(6, 17, 17, [(1, 97.0, 2.0)]),
    ])  # fmt: skip
    log, stream = _stream_log(rows, tick=0.5)
    assert log == _replay_log(rows)
    assert stream.valid
    (incident,) = stream.incidents
    assert incident[1] == sync_nb.INCIDENT_GAP
    np.testing.assert_array_equal(stream.incidents, sync_book(rows, is_futures=False).incidents)


def test_out_of_order_messages_are_refused() -> None:
    stream = BookSyncStream(is_futures=False)
    stream.push(depth_message(5, 1, 1, [(1, 99.0, 1.0)], snapshot=True))
    with pytest.raises(ValueError, match="time order"):
        stream.push(depth_message(4, 2, 2, [(1, 99.0, 2.0)]))


def test_live_entries_drive_the_feature_step_driver_to_the_batch_features(
    sample_store_path,
) -> None:
    from mmts.features.cob import CobStream, cob_from_rows, whole_seconds

    rows = open_store(sample_store_path).read("binance", "BTC/USDT", "book")
    times = whole_seconds(int(rows["local_ts"].min()), int(rows["local_ts"].max()))
    bid, ask, _, imb, ma = cob_from_rows(rows, times, 10.0)
    stream = BookSyncStream(is_futures=False, keep_messages=100)
    cob = CobStream(10.0, sync_book(rows, is_futures=False).tick)
    checked = 0

    def rows_before(limit: int) -> None:
        nonlocal checked
        while checked < times.shape[0] and times[checked] < limit:
            s_bid, s_ask, _, _, s_ma = cob.row(int(times[checked]))
            assert np.array_equal(s_bid, bid[checked], equal_nan=True)
            assert np.array_equal(s_ask, ask[checked], equal_nan=True)
            assert np.array_equal(s_ma, ma[checked], equal_nan=True)
            checked += 1

    for message in _messages(rows):
        rows_before(int(message["local_ts"][0]))  # a row at t includes every event <= t
        for e in stream.push(message):
            cob.apply(e.code, e.time, e.side, e.price, e.qty)
    rows_before(np.iinfo(np.int64).max)
    assert checked == times.shape[0] and np.isfinite(imb).any()
