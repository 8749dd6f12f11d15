"""The sorted flat-array book against a dict oracle."""

from __future__ import annotations

import numpy as np

from mmts.core import book_nb


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
