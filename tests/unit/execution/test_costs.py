"""The cost model and what a held position nets."""

from __future__ import annotations

import numpy as np
import pytest

from mmts.execution import CostModel, position_returns


def test_round_trip_is_two_fills() -> None:
    costs = CostModel(taker_fee=0.001, half_spread=0.0001, slippage=0.0002)
    assert costs.per_fill == pytest.approx(0.0013)
    assert costs.round_trip == pytest.approx(0.0026)


def test_hand_computed_returns_and_turnover() -> None:
    costs = CostModel(taker_fee=0.001, half_spread=0.0)
    prices = np.array([100.0, 110.0, 99.0, 99.0])
    # long, short, flat (last position is never held: no next price)
    net, turnover = position_returns(np.array([1.0, -1.0, 0.0, 1.0]), prices, costs)
    assert turnover.tolist() == [1.0, 2.0, 1.0]
    np.testing.assert_allclose(net, [0.10 - 0.001, 0.10 - 0.002, 0.0 - 0.001])


def test_bad_prices_are_named() -> None:
    with pytest.raises(ValueError, match="index 1"):
        position_returns(np.zeros(3), np.array([1.0, np.nan, 2.0]), CostModel())
    with pytest.raises(ValueError, match=r"\[costs\] taker_fee: expected a number >= 0 and < 0.1"):
        CostModel(taker_fee=-0.1)
