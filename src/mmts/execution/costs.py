"""The cost model every part uses: labels, evaluation, the RL environment and the backtest.

A fill of notional ``N`` at the quoted mid costs ``N * (taker_fee + half_spread + slippage)``:
the exchange fee plus crossing half the spread (and any extra slippage). Returns are simple
fractions of the position's notional.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True, kw_only=True)
class CostModel:
    """Proportional trading costs.

    Parameters
    ----------
    taker_fee : fee per fill as a fraction of notional (Binance spot base tier: 0.1 %).
    half_spread : half the bid-ask spread as a fraction of the mid, paid on every fill.
    slippage : extra fraction per fill beyond the touch (market impact); 0 by default.
    """

    taker_fee: float = 0.001
    half_spread: float = 0.00002
    slippage: float = 0.0

    def __post_init__(self) -> None:
        for name in ("taker_fee", "half_spread", "slippage"):
            value = getattr(self, name)
            if not 0.0 <= value < 0.1:
                raise ValueError(f"{name} must be a fraction in [0, 0.1); was {value}")

    @property
    def per_fill(self) -> float:
        """Cost of one fill as a fraction of its notional."""
        return self.taker_fee + self.half_spread + self.slippage

    @property
    def round_trip(self) -> float:
        """Cost of opening and closing a position, as a fraction of its notional."""
        return 2.0 * self.per_fill


def position_returns(
    positions: np.ndarray, prices: np.ndarray, costs: CostModel
) -> tuple[np.ndarray, np.ndarray]:
    """Return per-step net returns and turnover of holding ``positions`` between ``prices``.

    ``positions[i]`` (in [-1, 1], fraction of capital, long positive) is taken at ``prices[i]``
    and held until ``prices[i + 1]``; the last position is closed at the last price. Step ``i``
    earns ``positions[i] * (prices[i + 1] / prices[i] - 1)`` minus ``per_fill`` times the
    turnover ``|positions[i] - positions[i - 1]|`` (starting flat). The closing fill of the final
    position is charged on the last step. Both arrays have ``len(prices) - 1`` entries.
    """
    positions = np.asarray(positions, np.float64)
    prices = np.asarray(prices, np.float64)
    if positions.shape != prices.shape:
        raise ValueError(
            f"positions and prices must align; shapes {positions.shape} and {prices.shape}"
        )
    if not np.isfinite(prices).all() or (prices <= 0).any():
        bad = int(np.flatnonzero(~np.isfinite(prices) | (prices <= 0))[0])
        raise ValueError(f"prices must be finite and positive; index {bad} is {prices[bad]}")
    if positions.shape[0] < 2:
        return np.empty(0), np.empty(0)
    held = positions[:-1]
    turnover = np.abs(np.diff(np.concatenate([[0.0], held])))
    turnover[-1] += abs(held[-1])  # close at the end
    gross = held * (prices[1:] / prices[:-1] - 1.0)
    return gross - costs.per_fill * turnover, turnover
