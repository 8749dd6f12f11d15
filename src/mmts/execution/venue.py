"""A simulated venue: market and limit orders against an L2 book or bars, with latency and fees.

Fill rules (stated, because they decide results):

- An order reaches the venue ``latency_ns`` after it is sent; it sees only market data at or
  after that time.
- **Market orders** walk the L2 book when one is known: they take levels from the best price
  outwards and fill at the volume-weighted price of what they consumed; what the book cannot
  fill stays working and continues on the next update (partial fills). Without a book they fill
  at the next bar's open, moved against the order by ``slippage_bps``.
- **Limit orders** that are marketable on arrival fill like market orders up to the limit
  price (taker). Otherwise they rest, at the back of the queue: with a book they fill (maker, at
  the limit price) once the opposite best price reaches the limit; with bars, only once a bar
  trades *through* the limit (low below a buy limit, high above a sell limit) — touching is not
  enough, since the queue ahead would fill first.
- Fees: ``maker`` or ``taker`` fraction of each fill's notional, from the experiment's
  ``CostModel`` (the same fees its labels and evaluation charge).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmts.execution.costs import CostModel


@dataclass(frozen=True, slots=True)
class Order:
    """An order as sent: signed ``qty`` (buy positive); ``limit`` None for a market order."""

    id: int
    time: int
    qty: float
    limit: float | None = None


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of (part of) an order."""

    order_id: int
    time: int
    qty: float
    price: float
    fee: float
    liquidity: str  # "maker" or "taker"


@dataclass
class _Working:
    order: Order
    remaining: float
    arrives: int
    rested: bool = False


class SimulatedVenue:
    """Keeps working orders and fills them from market data events fed in time order."""

    def __init__(self, costs: CostModel | None = None, *, latency_ns: int = 50_000_000,
                 slippage_bps: float = 1.0) -> None:  # fmt: skip
        """Charge ``costs``' maker and taker fees (default: Binance's base tier)."""
        costs = costs or CostModel()
        self.maker, self.taker = costs.maker, costs.taker
        self.latency_ns = int(latency_ns)
        self.slippage = slippage_bps / 1e4
        self.working: list[_Working] = []

    def submit(self, order: Order) -> None:
        """Send an order (it arrives after the latency)."""
        if order.qty == 0 or not np.isfinite(order.qty):
            raise ValueError(
                f"order {order.id}: quantity must be finite and non-zero; was {order.qty}"
            )
        if order.limit is not None and not (np.isfinite(order.limit) and order.limit > 0):
            raise ValueError(f"order {order.id}: limit must be a positive price; was {order.limit}")
        self.working.append(_Working(order, order.qty, order.time + self.latency_ns))

    def cancel_all(self) -> list[Order]:
        """Cancel every working order; return them."""
        cancelled = [w.order for w in self.working]
        self.working = []
        return cancelled

    def on_book(self, time: int, bid_px: np.ndarray, bid_qty: np.ndarray, ask_px: np.ndarray,
                ask_qty: np.ndarray) -> list[Fill]:  # fmt: skip
        """Fill working orders against an L2 book (levels best first) seen at ``time``."""
        fills: list[Fill] = []
        # Liquidity taken by an earlier order at this event is not there for the next one.
        book = {1: (ask_px, ask_qty.astype(np.float64)), -1: (bid_px, bid_qty.astype(np.float64))}
        for w in list(self.working):
            if w.arrives > time:
                continue
            side = 1 if w.remaining > 0 else -1
            px, qty = book[side]
            limit = w.order.limit
            maker = w.rested  # a resting limit that the market reached: filled at its price
            if limit is not None and not w.rested and not _crosses(side, px, limit):
                w.rested = True  # not marketable on arrival: it rests from now on
                continue
            take, filled, notional = abs(w.remaining), 0.0, 0.0
            for k in range(px.shape[0]):
                if take <= 0 or (
                    limit is not None and (px[k] > limit if side > 0 else px[k] < limit)
                ):
                    break
                q = min(take, qty[k])
                qty[k] -= q
                take -= q
                filled += q
                notional += q * (limit if maker and limit is not None else px[k])
            if filled > 0:
                price = notional / filled
                fee = filled * price * (self.maker if maker else self.taker)
                fill = Fill(
                    w.order.id, time, side * filled, price, fee, "maker" if maker else "taker"
                )
                fills.append(fill)
                w.remaining -= side * filled
            if limit is not None:
                w.rested = True  # any remainder of a limit order rests at its price
            if abs(w.remaining) <= 1e-12 * abs(w.order.qty):
                self.working.remove(w)
        return fills

    def on_bar(self, open_time: int, close_time: int, open_: float, high: float,
               low: float) -> list[Fill]:  # fmt: skip
        """Fill working orders that arrived before ``close_time`` against the bar (no book known).

        A market order fills at the bar's open (moved against it by the slippage): orders are
        sent at decision times on bar boundaries, so they arrive just after the open. A limit
        order fills at the open when marketable there, else at its limit if the bar trades
        through it.
        """
        fills: list[Fill] = []
        for w in list(self.working):
            if w.arrives >= close_time:
                continue
            side = 1 if w.remaining > 0 else -1
            limit = w.order.limit
            if limit is None:
                price, liquidity = open_ * (1 + side * self.slippage), "taker"
            elif (side > 0 and open_ <= limit) or (side < 0 and open_ >= limit):
                price, liquidity = open_, "taker"  # marketable at the open
            elif (side > 0 and low < limit) or (side < 0 and high > limit):
                price, liquidity = limit, "maker"  # traded through the resting limit
            else:
                continue
            qty = w.remaining
            fee = abs(qty) * price * (self.maker if liquidity == "maker" else self.taker)
            fills.append(Fill(w.order.id, max(open_time, w.arrives), qty, price, fee, liquidity))
            self.working.remove(w)
        return fills


def _crosses(side: int, px: np.ndarray, limit: float) -> bool:
    if px.shape[0] == 0:
        return False
    return bool(px[0] <= limit) if side > 0 else bool(px[0] >= limit)
