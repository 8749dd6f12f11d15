"""The cost model every part uses: labels, evaluation, the RL environment and the backtest.

A fill of notional ``N`` at the quoted mid costs ``N * (taker + half_spread + slippage)``:
the exchange fee plus crossing half the spread (and any extra slippage). Returns are simple
fractions of the position's notional.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from mmts.core.settings import check_settings, option

#: Base-tier spot fees per venue as (maker, taker) fractions of notional: Binance 0.1 % / 0.1 %,
#: MEXC 0 % / 0.05 %. The defaults of ``[costs] maker_fee`` and ``taker_fee``.
VENUE_FEES: dict[str, tuple[float, float]] = {"binance": (0.001, 0.001), "mexc": (0.0, 0.0005)}


@dataclass(frozen=True, slots=True, kw_only=True)
class CostModel:
    """Trading costs: the one place fees are set (labels, evaluation, RL and the venue read it).

    ``maker_fee``/``taker_fee`` left out take ``venue``'s base tier (``VENUE_FEES``); the
    resolved pair is :attr:`maker` and :attr:`taker`.
    """

    TABLE: ClassVar[str] = "costs"

    venue: str = option("binance", choices=tuple(VENUE_FEES), doc="whose base-tier fees apply")
    maker_fee: float | None = option(
        None,
        ge=0,
        lt=0.1,
        doc="fee of a resting (maker) fill, fraction of notional (none: venue's)",
    )
    taker_fee: float | None = option(
        None, ge=0, lt=0.1, doc="fee of a taking fill, fraction of notional (none: venue's)"
    )
    half_spread: float = option(
        0.00002, ge=0, lt=0.1, doc="half the bid-ask spread as a fraction of the mid, every fill"
    )
    slippage: float = option(0.0, ge=0, lt=0.1, doc="extra fraction per fill beyond the touch")

    def __post_init__(self) -> None:
        check_settings(self)

    @property
    def maker(self) -> float:
        """The maker fee in force (given, or the venue's)."""
        return VENUE_FEES[self.venue][0] if self.maker_fee is None else self.maker_fee

    @property
    def taker(self) -> float:
        """The taker fee in force (given, or the venue's)."""
        return VENUE_FEES[self.venue][1] if self.taker_fee is None else self.taker_fee

    def resolved(self) -> dict[str, float | str]:
        """Return the fees and costs in force, for manifests and reports."""
        return {"venue": self.venue, "maker_fee": self.maker, "taker_fee": self.taker,
                "half_spread": self.half_spread, "slippage": self.slippage}  # fmt: skip

    @property
    def per_fill(self) -> float:
        """Cost of one fill as a fraction of its notional."""
        return self.taker + self.half_spread + self.slippage

    @property
    def round_trip(self) -> float:
        """Cost of opening and closing a position, as a fraction of its notional."""
        return 2.0 * self.per_fill


def step_reward(position: np.ndarray | float, before: np.ndarray | float,
                market_return: np.ndarray | float, costs: CostModel) -> np.ndarray:  # fmt: skip
    """Return the net return of moving from ``before`` to ``position`` and holding it one step.

    ``position * market_return - per_fill * |position - before|``: the one rule the backtest's
    position returns, the RL environment and the DQN's lived transitions share.
    """
    position = np.asarray(position, np.float64)
    turnover = np.abs(position - np.asarray(before, np.float64))
    reward: np.ndarray = (
        position * np.asarray(market_return, np.float64) - costs.per_fill * turnover
    )
    return reward


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
    before = np.concatenate([[0.0], held[:-1]])
    turnover = np.abs(held - before)
    turnover[-1] += abs(held[-1])  # close at the end
    net = step_reward(held, before, prices[1:] / prices[:-1] - 1.0, costs)
    net[-1] -= costs.per_fill * abs(held[-1])
    return net, turnover
