"""The tick-indexed book against the sorted book and a direct bucket sum."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mmts.core import book_nb
from mmts.core import tickbook_nb as tb

TICK, WIDTH, N = 0.01, 1.0, 20


def _direct(levels: dict[tuple[int, float], float], side: int, mid: float) -> np.ndarray:
    centre = math.floor(mid / WIDTH + 0.5)
    out = np.zeros(2 * N + 1)
    for (s, price), q in levels.items():
        k = math.floor(price / WIDTH + 0.5) - centre
        if s == side and -N <= k <= N:
            out[k + N] += price * q
    return out


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_sorted_book_and_direct_sums_through_recentres(seed: int) -> None:
    rng = np.random.default_rng(seed)
    book = tb.new_tickbook(TICK, WIDTH, 2500.0, N)
    keys, qtys, counts = book_nb.new_book(1 << 15)
    levels: dict[tuple[int, float], float] = {}
    mid = 2500.0
    for step in range(20_000):
        if step % 2000 == 0:
            mid += 100.0 * (1 if step % 4000 == 0 else -1) + rng.normal(0, 5)  # forces re-centring
        side = int(rng.integers(0, 2))
        far = rng.random() < 0.05
        offset = rng.integers(1, 400000 if far else 3000) * TICK
        price = round(mid - offset if side == 0 else mid + offset, 2)
        if price <= 0:
            continue
        q = 0.0 if rng.random() < 0.3 else round(float(rng.uniform(0.001, 5)), 3)
        assert tb.tb_set_level_nb(*book, side, price, q, TICK, WIDTH) == tb.TB_OK
        assert book_nb.book_set_level_nb(keys, qtys, counts, side, price, q)
        if q == 0:
            levels.pop((side, price), None)
        else:
            levels[(side, price)] = q
        if step % 997 == 0:
            px, qty, bsum, bcmp, bcnt, meta, fk, fq, fc = book
            for s in (0, 1):
                got, want = (
                    tb.tb_best_nb(px, meta, fk, fc, s),
                    book_nb.book_best_nb(keys, counts, s),
                )
                assert np.array_equal([got], [want], equal_nan=True)
                # The top levels, walked from the best slot, equal the full scan and the dict.
                side_levels = sorted(((p, q) for (t, p), q in levels.items() if t == s),
                                     reverse=s == 0)  # fmt: skip
                for depth in (1, 5, 50, 10**6):
                    top_px, top_qty = tb.tb_levels(book, s, depth)
                    ref_px, ref_qty = tb.tb_levels_reference(book, s, depth)
                    np.testing.assert_array_equal(top_px, ref_px)
                    np.testing.assert_array_equal(top_qty, ref_qty)
                    want_levels = side_levels[:depth]
                    assert top_px.tolist() == [p for p, _ in want_levels]
                    assert top_qty.tolist() == [q for _, q in want_levels]
            out_bid, out_ask = np.empty(2 * N + 1), np.empty(2 * N + 1)
            got_mid = tb.tb_bucket_sums_nb(
                px, qty, bsum, bcmp, bcnt, meta, fk, fc, TICK, WIDTH, N, out_bid, out_ask
            )
            if np.isnan(got_mid):
                assert np.isnan(out_bid).all() and np.isnan(out_ask).all()
                continue
            want_bid = _direct(levels, 0, got_mid)
            finite = np.isfinite(out_bid)
            np.testing.assert_allclose(out_bid[finite], want_bid[finite], rtol=1e-13, atol=1e-9)
            np.testing.assert_allclose(np.nan_to_num(out_ask), np.nan_to_num(_direct(levels, 1, got_mid)),
                                       rtol=1e-13, atol=1e-9)  # fmt: skip
    assert book[5][tb.M_RECENTRES] > 0


def test_off_grid_price_is_refused() -> None:
    book = tb.new_tickbook(0.01, 1.0, 100.0, N)
    assert tb.tb_set_level_nb(*book, 0, 99.995, 1.0, 0.01, 1.0) == tb.TB_OFF_GRID


def test_empty_bucket_is_exactly_zero() -> None:
    book = tb.new_tickbook(0.01, 1.0, 100.0, N)
    for q in [0.1, 0.7, 0.3]:
        tb.tb_set_level_nb(*book, 0, 99.37, q, 0.01, 1.0)
    tb.tb_set_level_nb(*book, 1, 100.5, 1.0, 0.01, 1.0)
    tb.tb_set_level_nb(*book, 0, 99.37, 0.0, 0.01, 1.0)
    tb.tb_set_level_nb(*book, 0, 98.12, 1.0, 0.01, 1.0)
    px, qty, bsum, bcmp, bcnt, meta, fk, fq, fc = book
    out_bid, out_ask = np.empty(2 * N + 1), np.empty(2 * N + 1)
    tb.tb_bucket_sums_nb(px, qty, bsum, bcmp, bcnt, meta, fk, fc, 0.01, 1.0, N, out_bid, out_ask)
    # Mid 99.31: centre bucket 99 held 99.37 until it was removed, bucket 98 holds 98.12.
    assert out_bid[N] == 0.0
    assert out_bid[N - 1] == 98.12
