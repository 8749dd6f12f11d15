"""Portfolio accounting: cash, position, average price, realised and unrealised PnL, fees.

Quantities are signed (long positive). A fill that reduces the position realises
``closed_qty * (fill_price - average_price)`` (sign-adjusted for shorts); a fill past zero
closes the old side and opens the new one at the fill price. Fees are paid from cash.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Portfolio:
    """One symbol's account, starting with ``cash``."""

    cash: float = 0.0
    position: float = 0.0
    average_price: float = 0.0
    realized_pnl: float = 0.0
    fees: float = 0.0

    def apply_fill(self, qty: float, price: float, fee: float) -> float:
        """Book a fill of signed ``qty`` at ``price`` paying ``fee``; return the PnL it realised."""
        if not (
            np.isfinite(qty) and np.isfinite(price) and price > 0 and np.isfinite(fee) and fee >= 0
        ):
            raise ValueError(f"invalid fill: qty {qty}, price {price}, fee {fee}")
        realized = 0.0
        pos = self.position
        if pos != 0.0 and qty * pos < 0:  # reduces (maybe flips)
            closed = min(abs(qty), abs(pos))
            realized = closed * (price - self.average_price) * np.sign(pos)
            remaining = pos + qty
            if abs(qty) > abs(pos):  # flipped: the rest opens at the fill price
                self.average_price = price
            elif remaining == 0.0:
                self.average_price = 0.0
            self.position = remaining
        else:
            new = pos + qty
            self.average_price = (
                (abs(pos) * self.average_price + abs(qty) * price) / abs(new) if new else 0.0
            )
            self.position = new
        self.cash -= qty * price + fee
        self.fees += fee
        self.realized_pnl += realized
        return realized

    def unrealized(self, price: float) -> float:
        """PnL of the open position at ``price``."""
        return self.position * (price - self.average_price) if self.position else 0.0

    def equity(self, price: float) -> float:
        """Cash plus the position marked at ``price``."""
        return self.cash + self.position * price
