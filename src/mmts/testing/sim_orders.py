"""The simulator's spot account: Binance's order endpoints, matched against the replayed book.

Market orders walk the book at once; limit orders rest and fill when the replayed best price
crosses them (at their limit). Balances move with every fill (taker fee 0.1 % of the quote, paid
in the quote asset); an order the balance cannot cover is rejected like Binance does (-2010).
Client order ids are unique per account: a second order with an id already used is refused
(-2010 "Duplicate order sent."), which is what makes a retried request safe.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

TAKER_FEE = 0.001
_FINAL = {"FILLED", "CANCELED", "REJECTED", "EXPIRED"}


@dataclass
class SimOrder:
    """One order as the exchange keeps it."""

    order_id: int
    client_id: str
    symbol: str
    side: str
    type: str
    qty: float
    price: float
    time_ms: int
    status: str = "NEW"
    executed: float = 0.0
    quote: float = 0.0
    fills: list[dict[str, str]] = field(default_factory=list)

    def to_json(self, full: bool = False) -> dict[str, Any]:
        """Binance's order JSON (``full``: the FULL response type of a new order, with fills)."""
        out: dict[str, Any] = {
            "symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
            "clientOrderId": self.client_id, "price": f"{self.price:.8f}",
            "origQty": f"{self.qty:.8f}", "executedQty": f"{self.executed:.8f}",
            "cummulativeQuoteQty": f"{self.quote:.8f}", "status": self.status,
            "timeInForce": "GTC", "type": self.type,
            "side": self.side, "time": self.time_ms, "updateTime": self.time_ms,
            "transactTime": self.time_ms, "isWorking": self.status not in _FINAL,
            "origQuoteOrderQty": "0.00000000", "selfTradePreventionMode": "NONE",
        }  # fmt: skip
        if full:
            out["fills"] = self.fills
        return out


class SimAccount:
    """Orders and balances of one simulated spot account."""

    def __init__(self, levels: Callable[[str, int], tuple[np.ndarray, np.ndarray]],
                 now_ms: Callable[[], int], balances: dict[str, float] | None = None,
                 quotes: tuple[str, ...] = ("USDT", "USDC", "BTC")) -> None:  # fmt: skip
        self.levels, self.now_ms = levels, now_ms
        self.balances = dict(balances or {"USDT": 10_000.0})
        self.quotes = quotes
        self.orders: dict[int, SimOrder] = {}
        self.by_client: dict[str, SimOrder] = {}
        self.ids = itertools.count(1)

    def _split(self, symbol: str) -> tuple[str, str]:
        for quote in self.quotes:
            if symbol.endswith(quote):
                return symbol[: -len(quote)], quote
        raise ValueError(symbol)

    # -- requests -------------------------------------------------------------------------------

    def new_order(self, q: dict[str, str]) -> tuple[int, Any]:
        """``POST /api/v3/order``."""
        try:
            symbol, side, kind = q["symbol"].upper(), q["side"].upper(), q["type"].upper()
            qty = float(q["quantity"])
            price = float(q.get("price", "0") or 0)
        except (KeyError, ValueError):
            return 400, {"code": -1102, "msg": "Mandatory parameter was not sent or malformed."}
        client_id = q.get("newClientOrderId") or f"sim-{next(self.ids)}"
        if client_id in self.by_client:
            return 400, {"code": -2010, "msg": "Duplicate order sent."}
        if side not in ("BUY", "SELL") or kind not in ("MARKET", "LIMIT") or qty <= 0 or (kind == "LIMIT" and price <= 0):  # fmt: skip
            return 400, {"code": -1013, "msg": "Invalid quantity, price, side or type."}
        order = SimOrder(next(self.ids), client_id, symbol, side, kind, qty, price, self.now_ms())
        self.by_client[client_id] = order
        base, quote = self._split(symbol)
        need = (
            (qty * (price or self._best(symbol, side)) * (1 + TAKER_FEE)) if side == "BUY" else qty
        )
        have = self.balances.get(quote if side == "BUY" else base, 0.0)
        if not np.isfinite(need) or need > have + 1e-12:
            order.status = "REJECTED"
            self.orders[order.order_id] = order
            return 400, {
                "code": -2010,
                "msg": "Account has insufficient balance for requested action.",
            }
        self.orders[order.order_id] = order
        if kind == "MARKET":
            self._walk(order)
            if order.executed < order.qty - 1e-12:
                order.status = "EXPIRED"  # what the book could not fill; a market order never rests
        else:
            self.match(symbol)
        return 200, order.to_json(full=q.get("newOrderRespType", "FULL").upper() == "FULL")

    def get_order(self, q: dict[str, str]) -> tuple[int, Any]:
        """``GET /api/v3/order`` by ``orderId`` or ``origClientOrderId``."""
        order = self._find(q)
        if order is None:
            return 400, {"code": -2013, "msg": "Order does not exist."}
        return 200, order.to_json()

    def cancel_order(self, q: dict[str, str]) -> tuple[int, Any]:
        """``DELETE /api/v3/order``."""
        order = self._find(q)
        if order is None or order.status in _FINAL:
            return 400, {"code": -2011, "msg": "Unknown order sent."}
        order.status = "CANCELED"
        return 200, order.to_json()

    def open_orders(self, q: dict[str, str]) -> tuple[int, Any]:
        """``GET /api/v3/openOrders`` (one symbol or all)."""
        symbol = q.get("symbol", "").upper()
        return 200, [o.to_json() for o in self.orders.values()
                     if o.status in ("NEW", "PARTIALLY_FILLED") and (not symbol or o.symbol == symbol)]  # fmt: skip

    def account(self, q: dict[str, str]) -> tuple[int, Any]:
        """``GET /api/v3/account``."""
        return 200, {
            "makerCommission": 10, "takerCommission": 10, "canTrade": True, "canWithdraw": False,
            "canDeposit": False, "accountType": "SPOT", "updateTime": self.now_ms(),
            "balances": [{"asset": a, "free": f"{v:.8f}", "locked": "0.00000000"}
                         for a, v in sorted(self.balances.items())],
            "permissions": ["SPOT"],
        }  # fmt: skip

    # -- matching -------------------------------------------------------------------------------

    def _find(self, q: dict[str, str]) -> SimOrder | None:
        if "origClientOrderId" in q:
            return self.by_client.get(q["origClientOrderId"])
        try:
            return self.orders.get(int(q.get("orderId", "-1")))
        except ValueError:
            return None

    def _best(self, symbol: str, side: str) -> float:
        prices, _ = self.levels(symbol, 1 if side == "BUY" else 0)
        return float(prices[0]) if prices.shape[0] else float("nan")

    def _fill(self, order: SimOrder, price: float, qty: float) -> None:
        base, quote = self._split(order.symbol)
        value = price * qty
        fee = value * TAKER_FEE
        sign = 1.0 if order.side == "BUY" else -1.0
        self.balances[base] = self.balances.get(base, 0.0) + sign * qty
        self.balances[quote] = self.balances.get(quote, 0.0) - sign * value - fee
        order.executed += qty
        order.quote += value
        order.fills.append({"price": f"{price:.8f}", "qty": f"{qty:.8f}",
                            "commission": f"{fee:.8f}", "commissionAsset": quote, "tradeId": str(next(self.ids))})  # fmt: skip
        order.status = "FILLED" if order.executed >= order.qty - 1e-12 else "PARTIALLY_FILLED"

    def _walk(self, order: SimOrder) -> None:
        prices, qtys = self.levels(order.symbol, 1 if order.side == "BUY" else 0)
        for price, size in zip(prices.tolist(), qtys.tolist(), strict=True):
            left = order.qty - order.executed
            if left <= 1e-12:
                break
            self._fill(order, price, min(left, size))

    def match(self, symbol: str) -> None:
        """Fill resting limit orders of ``symbol`` that the book now crosses (at their limit)."""
        for order in self.orders.values():
            if order.symbol != symbol or order.type != "LIMIT" or order.status in _FINAL:
                continue
            best = self._best(symbol, order.side)
            crosses = best <= order.price if order.side == "BUY" else best >= order.price
            if np.isfinite(best) and crosses:
                self._fill(order, order.price, order.qty - order.executed)
