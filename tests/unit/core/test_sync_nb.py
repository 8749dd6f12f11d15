"""Binance's local-book sync rules on hand-made streams, replayed into the tick book."""

from __future__ import annotations

import numpy as np
import pytest

from mmts.core import sync_nb
from mmts.core import tickbook_nb as tbk
from mmts.testing.synthetic import depth_message

TICK = 0.5

_msg = depth_message


def _sync(rows: np.ndarray, futures: bool = False, stop: int | None = None):
    """Return ``(applied, effective_ts, incidents, state, code, book, log_code, log_ts)``."""
    book = tbk.new_tickbook(TICK, 1.0, 100.0, 1, far_capacity=64)
    stop_ts = np.iinfo(np.int64).max if stop is None else stop
    out = sync_nb.sync_book_nb(
        rows["local_ts"], rows["first_id"], rows["last_id"], rows["prev_id"], rows["side"],
        rows["price"], rows["qty"], rows["flags"], futures, stop_ts, book, TICK, 1.0,
    )  # fmt: skip
    return (*out[:5], book, *out[5:])


def test_buffered_diffs_apply_after_the_snapshot_at_its_time() -> None:
    rows = np.concatenate([
        _msg(1, 5, 8, [(1, 99.0, 1.0)]),            # already in the snapshot: dropped
        _msg(2, 9, 12, [(1, 99.0, 3.0)]),           # bridges lastUpdateId=10: applied
        _msg(3, 10, 10, [(1, 99.0, 2.0), (-1, 101.0, 1.0)], snapshot=True),
        _msg(4, 13, 13, [(-1, 101.0, 0.0), (-1, 102.0, 4.0)]),
    ])  # fmt: skip
    applied, eff, incidents, state, code, book, *_ = _sync(rows)
    assert code == tbk.TB_OK and state == sync_nb.STATE_SYNCED and incidents.shape[0] == 0
    assert applied.tolist() == [False, True, True, True, True, True]
    assert eff[1] == 3  # the buffered diff takes effect when the snapshot arrives
    px, qt = tbk.tb_levels(book, 0, 5)
    assert (px.tolist(), qt.tolist()) == ([99.0], [3.0])
    px, qt = tbk.tb_levels(book, 1, 5)
    assert (px.tolist(), qt.tolist()) == ([102.0], [4.0])


def test_spot_gap_invalidates_until_next_snapshot() -> None:
    rows = np.concatenate([
        _msg(1, 10, 10, [(1, 99.0, 1.0), (-1, 101.0, 1.0)], snapshot=True),
        _msg(2, 11, 12, [(1, 99.0, 2.0)]),
        _msg(3, 15, 16, [(1, 98.0, 2.0)]),          # 13..14 missing
        _msg(4, 17, 17, [(1, 97.0, 2.0)]),          # still invalid
        _msg(5, 16, 16, [(1, 99.5, 1.0), (-1, 101.0, 1.0)], snapshot=True),
        _msg(6, 17, 17, [(1, 97.0, 2.0)]),
    ])  # fmt: skip
    applied, eff, incidents, state, *_ = _sync(rows)
    assert state == sync_nb.STATE_SYNCED
    assert incidents.shape[0] == 1
    row, kind, expected, found, ts, resync = incidents[0]
    assert (kind, expected, found, ts, resync) == (sync_nb.INCIDENT_GAP, 13, 15, 3, 5)
    # Rows: snapshot (2), 11-12, 15-16 (gap), 17 (buffered), snapshot (2), 17 again.
    # After the second snapshot (lastUpdateId 16) the buffered 17 bridges and is applied at the
    # snapshot's time; 15-16 is already in it; the later copy of 17 is stale.
    assert applied.tolist() == [True, True, True, False, True, True, True, False]
    assert eff[4] == 5


def test_book_is_invalid_while_a_gap_is_open() -> None:
    rows = np.concatenate([
        _msg(1, 10, 10, [(1, 99.0, 1.0)], snapshot=True),
        _msg(2, 11, 11, [(1, 99.0, 2.0)]),
        _msg(3, 20, 20, [(1, 99.0, 3.0)]),
    ])  # fmt: skip
    assert _sync(rows, stop=2)[3] == sync_nb.STATE_SYNCED
    assert _sync(rows, stop=3)[3] == sync_nb.STATE_UNSYNCED


def test_futures_continuity_uses_pu() -> None:
    rows = np.concatenate([
        _msg(1, 100, 100, [(1, 99.0, 1.0)], snapshot=True),
        _msg(2, 95, 105, [(1, 99.0, 2.0)], prev=90),   # U <= 100 <= u: bridges
        _msg(3, 106, 110, [(1, 98.0, 2.0)], prev=105),
        _msg(4, 120, 130, [(1, 97.0, 2.0)], prev=111),  # pu != 110: gap
    ])  # fmt: skip
    applied, eff, incidents, state, *_ = _sync(rows, futures=True)
    assert applied.tolist() == [True, True, True, False]
    assert incidents[0, 1] == sync_nb.INCIDENT_GAP
    assert (incidents[0, 2], incidents[0, 3]) == (110, 111)


def test_crossed_book_is_an_incident() -> None:
    rows = np.concatenate([
        _msg(1, 10, 10, [(1, 99.0, 1.0), (-1, 101.0, 1.0)], snapshot=True),
        _msg(2, 11, 11, [(1, 102.0, 1.0)]),
    ])  # fmt: skip
    applied, eff, incidents, state, *_ = _sync(rows)
    assert incidents[0, 1] == sync_nb.INCIDENT_CROSSED
    assert state == sync_nb.STATE_UNSYNCED
    assert not applied[-1]


@pytest.mark.parametrize("futures", [False, True])
def test_diffs_before_any_snapshot_are_not_applied(futures: bool) -> None:
    rows = _msg(1, 1, 2, [(1, 99.0, 1.0)], prev=0)
    applied, _, incidents, state, *_ = _sync(rows, futures=futures)
    assert not applied.any() and incidents.shape[0] == 0 and state == sync_nb.STATE_UNSYNCED


def test_application_log_replays_to_the_same_book() -> None:
    rows = np.concatenate([
        _msg(1, 5, 8, [(1, 99.0, 1.0)]),
        _msg(2, 9, 12, [(1, 99.0, 3.0)]),
        _msg(3, 10, 10, [(1, 99.0, 2.0), (-1, 101.0, 1.0)], snapshot=True),
        _msg(4, 13, 13, [(-1, 101.0, 0.0), (-1, 102.0, 4.0)]),
        _msg(5, 20, 20, [(-1, 103.0, 1.0)]),  # gap
    ])  # fmt: skip
    log_code, log_ts = _sync(rows)[6:]
    assert log_code.tolist() == [
        sync_nb.LOG_RESET, 2, 3, 1, sync_nb.LOG_SYNCED, 4, 5, sync_nb.LOG_INVALIDATE,
    ]  # fmt: skip
    assert log_ts.tolist() == [3, 3, 3, 3, 3, 4, 4, 5]
    assert np.all(np.diff(log_ts) >= 0)


def test_overflowing_book_is_reported_and_the_replay_grows_it() -> None:
    from mmts.data.book_replay import sync_book

    # Ascending prices append at the end of the bid array (cheap even without the JIT).
    levels = [(1, 800.0 + 0.01 * i, 1.0) for i in range(20_000)] + [(-1, 1001.0, 1.0)]
    rows = np.concatenate(
        [_msg(1, 10, 10, levels, snapshot=True), _msg(2, 11, 11, [(1, 5.0, 1.0)])]
    )
    book = tbk.new_tickbook(0.01, 1.0, 800.0, 1, far_capacity=64)
    out = sync_nb.sync_book_nb(
        rows["local_ts"], rows["first_id"], rows["last_id"], rows["prev_id"], rows["side"],
        rows["price"], rows["qty"], rows["flags"], False, np.iinfo(np.int64).max, book, 0.01, 1.0,
    )  # fmt: skip
    assert out[4] == tbk.TB_FULL  # the caller must grow the overflow book
    replay = sync_book(rows, is_futures=False)  # starts at 16,384 far levels a side and grows
    assert replay.valid and replay.levels(0, 10**6)[0].shape[0] == 20_001


def test_price_off_the_first_snapshots_grid_replays_on_a_finer_grid() -> None:
    from mmts.data.book_replay import sync_book

    rows = np.concatenate([
        _msg(1, 10, 10, [(1, 99.0, 1.0), (-1, 101.0, 1.0)], snapshot=True),  # grid 2.0
        _msg(2, 11, 11, [(1, 99.5, 1.0)]),
    ])  # fmt: skip
    replay = sync_book(rows, is_futures=False)
    assert replay.tick == 0.5 and replay.levels(0, 5)[0].tolist() == [99.5, 99.0]
