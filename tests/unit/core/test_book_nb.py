"""The flat-array book against a dict oracle, and the Binance sync rules on hand-made streams."""

from __future__ import annotations

import numpy as np
import pytest

from mmts.core import book_nb
from mmts.testing.synthetic import depth_message


def _apply_to_oracle(oracle: dict[float, float], price: float, qty: float) -> None:
    if qty == 0:
        oracle.pop(price, None)
    else:
        oracle[price] = qty


def test_levels_match_a_dict_oracle() -> None:
    rng = np.random.default_rng(7)
    keys, qtys, counts = book_nb.new_book(256)
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    for _ in range(5000):
        side = int(rng.integers(0, 2))
        price = float(rng.integers(1, 120))
        qty = float(rng.choice([0.0, 1.0, 2.5]))
        assert book_nb.book_set_level_nb(keys, qtys, counts, side, price, qty)
        _apply_to_oracle(bids if side == 0 else asks, price, qty)
    px, qt = book_nb.book_levels_nb(keys, qtys, counts, 0, 1000)
    assert px.tolist() == sorted(bids, reverse=True)
    assert qt.tolist() == [bids[p] for p in px]
    px, qt = book_nb.book_levels_nb(keys, qtys, counts, 1, 1000)
    assert px.tolist() == sorted(asks)
    assert qt.tolist() == [asks[p] for p in px]


def test_full_side_reports_instead_of_overflowing() -> None:
    keys, qtys, counts = book_nb.new_book(2)
    assert book_nb.book_set_level_nb(keys, qtys, counts, 0, 1.0, 1.0)
    assert book_nb.book_set_level_nb(keys, qtys, counts, 0, 2.0, 1.0)
    assert not book_nb.book_set_level_nb(keys, qtys, counts, 0, 3.0, 1.0)


_msg = depth_message


def _sync(rows: np.ndarray, futures: bool = False, stop: int | None = None):
    keys, qtys, counts = book_nb.new_book(64)
    stop_ts = np.iinfo(np.int64).max if stop is None else stop
    out = book_nb.sync_book_nb(
        rows["local_ts"], rows["first_id"], rows["last_id"], rows["prev_id"], rows["side"],
        rows["price"], rows["qty"], rows["flags"], futures, stop_ts, keys, qtys, counts,
    )  # fmt: skip
    # Keep the historical tuple shape for these tests; the log is checked separately below.
    return (*out[:5], keys, qtys, counts)


def test_buffered_diffs_apply_after_the_snapshot_at_its_time() -> None:
    rows = np.concatenate([
        _msg(1, 5, 8, [(1, 99.0, 1.0)]),            # already in the snapshot: dropped
        _msg(2, 9, 12, [(1, 99.0, 3.0)]),           # bridges lastUpdateId=10: applied
        _msg(3, 10, 10, [(1, 99.0, 2.0), (-1, 101.0, 1.0)], snapshot=True),
        _msg(4, 13, 13, [(-1, 101.0, 0.0), (-1, 102.0, 4.0)]),
    ])  # fmt: skip
    applied, eff, incidents, state, full, keys, qtys, counts = _sync(rows)
    assert not full and state == book_nb.STATE_SYNCED and incidents.shape[0] == 0
    assert applied.tolist() == [False, True, True, True, True, True]
    assert eff[1] == 3  # the buffered diff takes effect when the snapshot arrives
    px, qt = book_nb.book_levels_nb(keys, qtys, counts, 0, 5)
    assert (px.tolist(), qt.tolist()) == ([99.0], [3.0])
    px, qt = book_nb.book_levels_nb(keys, qtys, counts, 1, 5)
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
    assert state == book_nb.STATE_SYNCED
    assert incidents.shape[0] == 1
    row, kind, expected, found, ts, resync = incidents[0]
    assert (kind, expected, found, ts, resync) == (book_nb.INCIDENT_GAP, 13, 15, 3, 5)
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
    assert _sync(rows, stop=2)[3] == book_nb.STATE_SYNCED
    assert _sync(rows, stop=3)[3] == book_nb.STATE_UNSYNCED


def test_futures_continuity_uses_pu() -> None:
    rows = np.concatenate([
        _msg(1, 100, 100, [(1, 99.0, 1.0)], snapshot=True),
        _msg(2, 95, 105, [(1, 99.0, 2.0)], prev=90),   # U <= 100 <= u: bridges
        _msg(3, 106, 110, [(1, 98.0, 2.0)], prev=105),
        _msg(4, 120, 130, [(1, 97.0, 2.0)], prev=111),  # pu != 110: gap
    ])  # fmt: skip
    applied, eff, incidents, state, *_ = _sync(rows, futures=True)
    assert applied.tolist() == [True, True, True, False]
    assert incidents[0, 1] == book_nb.INCIDENT_GAP
    assert (incidents[0, 2], incidents[0, 3]) == (110, 111)


def test_crossed_book_is_an_incident() -> None:
    rows = np.concatenate([
        _msg(1, 10, 10, [(1, 99.0, 1.0), (-1, 101.0, 1.0)], snapshot=True),
        _msg(2, 11, 11, [(1, 102.0, 1.0)]),
    ])  # fmt: skip
    applied, eff, incidents, state, *_ = _sync(rows)
    assert incidents[0, 1] == book_nb.INCIDENT_CROSSED
    assert state == book_nb.STATE_UNSYNCED
    assert not applied[-1]


@pytest.mark.parametrize("futures", [False, True])
def test_diffs_before_any_snapshot_are_not_applied(futures: bool) -> None:
    rows = _msg(1, 1, 2, [(1, 99.0, 1.0)], prev=0)
    applied, _, incidents, state, *_ = _sync(rows, futures=futures)
    assert not applied.any() and incidents.shape[0] == 0 and state == book_nb.STATE_UNSYNCED


def test_application_log_replays_to_the_same_book() -> None:
    rows = np.concatenate([
        _msg(1, 5, 8, [(1, 99.0, 1.0)]),
        _msg(2, 9, 12, [(1, 99.0, 3.0)]),
        _msg(3, 10, 10, [(1, 99.0, 2.0), (-1, 101.0, 1.0)], snapshot=True),
        _msg(4, 13, 13, [(-1, 101.0, 0.0), (-1, 102.0, 4.0)]),
        _msg(5, 20, 20, [(-1, 103.0, 1.0)]),  # gap
    ])  # fmt: skip
    keys, qtys, counts = book_nb.new_book(64)
    out = book_nb.sync_book_nb(
        rows["local_ts"], rows["first_id"], rows["last_id"], rows["prev_id"], rows["side"],
        rows["price"], rows["qty"], rows["flags"], False, np.iinfo(np.int64).max, keys, qtys, counts,
    )  # fmt: skip
    log_code, log_ts = out[5], out[6]
    assert log_code.tolist() == [
        book_nb.LOG_RESET, 2, 3, 1, book_nb.LOG_SYNCED, 4, 5, book_nb.LOG_INVALIDATE,
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
    keys, qtys, counts = book_nb.new_book(64)
    out = book_nb.sync_book_nb(
        rows["local_ts"], rows["first_id"], rows["last_id"], rows["prev_id"], rows["side"],
        rows["price"], rows["qty"], rows["flags"], False, np.iinfo(np.int64).max, keys, qtys, counts,
    )  # fmt: skip
    assert out[4]  # full: the caller must grow the arrays
    replay = sync_book(rows, is_futures=False)  # starts at 16,384 levels a side and grows
    assert replay.valid and replay.counts[0] == 20_001
