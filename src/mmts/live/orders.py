"""Real orders for ``mmts live --live``: the venue the runtime trades through, over ccxt.

:class:`OrderManager` has the simulated venue's interface (``submit``, ``cancel_all``,
``working``, ``on_book``/``on_bar`` returning fills), so the runtime does not know which one it
has. Behind it every order:

- carries a client order id (``<prefix><session>-<runtime id>``), so a request that is retried
  after a timeout can never create a second order: before sending again the manager asks the
  exchange for that id, and Binance itself refuses a duplicate id;
- moves through new -> partially filled -> filled / canceled / rejected / expired as the
  exchange reports it (answers, polling of open orders);
- is retried only for what ccxt classes as retryable (``OperationFailed``: timeouts, dropped
  connections, 429/418, 5xx), with backoff; a refusal (funds, filters) is final at once.

Repeated API failures trip a circuit breaker: until ``breaker_cooldown_s`` passes, orders that
would open or grow a position are refused locally (reducing one is still allowed). After a
reconnect :meth:`OrderManager.reconcile` re-reads open orders and balances. API keys live only
inside the ccxt instance; nothing here logs or stores them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmts.execution.venue import Fill, Order
from mmts.live.tasks import ErrorHandler, log_error, spawn

log = logging.getLogger(__name__)

PENDING, NEW, PARTIALLY_FILLED = "pending", "new", "partially_filled"
FILLED, CANCELED, REJECTED, EXPIRED = "filled", "canceled", "rejected", "expired"
FINAL = {FILLED, CANCELED, REJECTED, EXPIRED}
_CCXT_STATE = {"open": NEW, "closed": FILLED, "canceled": CANCELED, "rejected": REJECTED,
               "expired": EXPIRED}  # fmt: skip


#: Environment variables holding API keys, per exchange (read only here, never written anywhere).
KEY_VARIABLES = {"binance": ("MMTS_BINANCE_API_KEY", "MMTS_BINANCE_API_SECRET"),
                 "mexc": ("MMTS_MEXC_API_KEY", "MMTS_MEXC_API_SECRET")}  # fmt: skip


class _Redact(logging.Filter):
    """Blank any log record that contains a secret (ccxt logs request headers at DEBUG)."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, ()
        return True


def credentials(exchange: str, environ: Any = None) -> tuple[str, str]:
    """Read the API key and secret of ``exchange`` from the environment (``KEY_VARIABLES``)."""
    import os

    env = os.environ if environ is None else environ
    key_var, secret_var = KEY_VARIABLES[exchange]
    key, secret = env.get(key_var, ""), env.get(secret_var, "")
    if not key or not secret:
        raise ValueError(f"--live needs {key_var} and {secret_var} in the environment")
    return key, secret


def make_exchange(exchange: str, key: str, secret: str, rest_url: str | None = None) -> Any:
    """Create a ccxt async exchange with keys (its loggers redact them), optionally at ``rest_url``."""
    import ccxt.async_support as ccxt_async

    instance = getattr(ccxt_async, exchange)(
        {"apiKey": key, "secret": secret, "enableRateLimit": True,
         "options": {"fetchCurrencies": False}}
    )  # fmt: skip
    if rest_url:
        from mmts.data.download import point_ccxt_at

        point_ccxt_at(instance, rest_url)
    redact = _Redact((key, secret))
    for name in ("ccxt", "ccxt.base.exchange", "ccxt.async_support.base.exchange"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _Redact) and f.secrets == redact.secrets for f in logger.filters):
            logger.addFilter(redact)
    return instance


@dataclass
class ManagedOrder:
    """One runtime order and what the exchange said about it."""

    order: Order
    client_id: str
    state: str = PENDING
    filled: float = 0.0  # base units, unsigned
    cost: float = 0.0  # quote units
    fee: float = 0.0
    exchange_id: str | None = None
    attempts: int = 0
    error: str = ""
    drained: float = 0.0  # of ``filled``, what the runtime has booked

    @property
    def remaining(self) -> float:
        """Signed quantity the runtime has not booked yet and may still get.

        Everything not final counts in full (less what was booked); a final order counts with
        the fills the runtime has not taken yet. So position + working is always what was
        ordered and is not known to be dead: a fill arriving just before a decision is never
        ordered twice.
        """
        sign = float(np.sign(self.order.qty))
        if self.state in FINAL:
            return sign * (self.filled - self.drained)
        return float(self.order.qty - sign * self.drained)


class OrderManager:
    """The live venue; see the module docstring.

    Parameters
    ----------
    exchange : a ccxt async exchange with keys (or pointed at the simulator).
    symbol : the unified symbol traded (``ETH/USDT``).
    session : a short id of this session, part of every client order id.
    clock : the event clock (fills are stamped with it).
    """

    def __init__(self, exchange: Any, symbol: str, *, session: str, clock: Callable[[], int],
                 prefix: str = "mmts", retries: int = 4, backoff_s: float = 0.2,
                 max_failures: int = 5, breaker_cooldown_s: float = 60.0) -> None:  # fmt: skip
        self.exchange, self.symbol, self.clock = exchange, symbol, clock
        self.base_prefix = prefix
        self.prefix = f"{prefix}{session}-"
        self.retries, self.backoff_s = retries, backoff_s
        self.max_failures, self.breaker_cooldown_s = max_failures, breaker_cooldown_s
        self.orders: dict[int, ManagedOrder] = {}
        self.position = 0.0
        self.balances: dict[str, float] = {}
        self.failures = 0  # consecutive API failures
        self.breaker_until = 0.0
        self.api_errors = 0
        self._fills: list[Fill] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Told of an order request that failed unexpectedly (a session stops trading on it).
        self.on_error: ErrorHandler = log_error
        #: Told of rejected orders and an opened circuit breaker: ``(kind, subject, reason)``.
        self.on_alert: Callable[[str, str, str], None] | None = None

    def __repr__(self) -> str:  # never show the exchange (its keys)
        return f"OrderManager({self.symbol}, {len(self.orders)} orders, position {self.position:g})"

    # -- the venue interface --------------------------------------------------------------------

    @property
    def working(self) -> list[ManagedOrder]:
        """Orders not final yet, and any with fills the runtime has not taken."""
        undrained = {f.order_id for f in self._fills}
        return [m for m in self.orders.values() if m.state not in FINAL or m.order.id in undrained]

    @property
    def breaker_open(self) -> bool:
        """Whether the circuit breaker refuses orders that open or grow a position."""
        return time.monotonic() < self.breaker_until

    def submit(self, order: Order) -> None:
        """Send ``order`` (asynchronously; its fills come back through :meth:`on_book`)."""
        managed = ManagedOrder(order, f"{self.prefix}{order.id}")
        self.orders[order.id] = managed
        grows = abs(self.position + order.qty) > abs(self.position) + 1e-12
        if self.breaker_open and grows:
            managed.state, managed.error = REJECTED, "circuit breaker open: not opening positions"
            log.error("order %s refused: %s", managed.client_id, managed.error)
            self._alert("order_rejected", managed)
            return
        self._spawn(self._place(managed))

    def _alert(self, kind: str, managed: ManagedOrder) -> None:
        if self.on_alert is not None:
            self.on_alert(
                kind, managed.client_id, f"order {managed.client_id} rejected: {managed.error}"
            )

    def cancel_all(self) -> list[Order]:
        """Cancel every order still working; return them."""
        out = []
        for managed in self.orders.values():
            if managed.state not in FINAL:
                out.append(managed.order)
                self._spawn(self._cancel(managed))
        return out

    def on_book(self, time: int, *levels: Any) -> list[Fill]:
        """Hand over the fills the exchange reported since the last call."""
        fills, self._fills = self._fills, []
        for fill in fills:
            self.orders[fill.order_id].drained += abs(fill.qty)
        return fills

    def on_bar(self, open_time: int, close_time: int, *ohlc: float) -> list[Fill]:
        """Hand over the fills the exchange reported since the last call."""
        return self.on_book(close_time)

    # -- talking to the exchange ----------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        spawn(coro, "order request", lambda: self.on_error, self._tasks)

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until every request in flight has been answered (tests, shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    def _ok(self) -> None:
        self.failures = 0

    def _failed(self, error: Exception) -> None:
        self.failures += 1
        self.api_errors += 1
        if self.failures >= self.max_failures and not self.breaker_open:
            self.breaker_until = time.monotonic() + self.breaker_cooldown_s
            log.error("%d API failures in a row (last: %s): circuit breaker open for %.0f s",
                      self.failures, type(error).__name__, self.breaker_cooldown_s)  # fmt: skip
            if self.on_alert is not None:
                self.on_alert("circuit_breaker", "orders",
                              f"{self.failures} API failures in a row (last: {type(error).__name__}): "
                              f"circuit breaker open for {self.breaker_cooldown_s:.0f} s")  # fmt: skip

    async def _place(self, managed: ManagedOrder) -> None:
        import ccxt

        order = managed.order
        kind = "market" if order.limit is None else "limit"
        side = "buy" if order.qty > 0 else "sell"
        params = {"newClientOrderId": managed.client_id}
        for attempt in range(self.retries):
            managed.attempts = attempt + 1
            try:
                answer = await self.exchange.create_order(self.symbol, kind, side, abs(order.qty),
                                                          order.limit, params)  # fmt: skip
                self._ok()
                self._update(managed, answer)
                return
            except ccxt.OperationFailed as e:  # retryable (429, 5xx, timeouts): may have arrived
                self._failed(e)
                log.warning(
                    "order %s: %s; asking before retrying", managed.client_id, type(e).__name__
                )
                await asyncio.sleep(self.backoff_s * 2**attempt)
                if await self._lookup(managed):
                    return
            except ccxt.InvalidOrder as e:
                if "Duplicate order" in str(e) and await self._lookup(managed):
                    return  # an earlier attempt did arrive
                managed.state, managed.error = REJECTED, f"{type(e).__name__}: {e}"
                log.error("order %s rejected: %s", managed.client_id, managed.error)
                self._alert("order_rejected", managed)
                return
            except ccxt.ExchangeError as e:  # funds, permissions, filters: final, not retried
                if isinstance(e, ccxt.AuthenticationError | ccxt.PermissionDenied):
                    self._failed(e)
                managed.state, managed.error = REJECTED, f"{type(e).__name__}: {e}"
                log.error("order %s rejected: %s", managed.client_id, managed.error)
                self._alert("order_rejected", managed)
                return
        managed.error = f"no answer after {self.retries} attempts; reconcile decides"
        log.error("order %s: %s", managed.client_id, managed.error)

    async def _lookup(self, managed: ManagedOrder) -> bool:
        """Ask the exchange for the order by client id; update it and return True if it exists."""
        import ccxt

        try:
            answer = await self.exchange.fetch_order(
                None, self.symbol, {"origClientOrderId": managed.client_id}
            )
        except ccxt.OrderNotFound:
            self._ok()
            return False
        except ccxt.BaseError as e:
            self._failed(e)
            return False
        self._ok()
        self._update(managed, answer)
        return True

    async def _cancel(self, managed: ManagedOrder) -> None:
        import ccxt

        for attempt in range(self.retries):
            try:
                answer = await self.exchange.cancel_order(
                    managed.exchange_id, self.symbol, {"origClientOrderId": managed.client_id}
                )
                self._ok()
                self._update(managed, answer)
                return
            except ccxt.OrderNotFound:  # already final (filled before the cancel): read it
                await self._lookup(managed)
                return
            except ccxt.OperationFailed as e:
                self._failed(e)
                await asyncio.sleep(self.backoff_s * 2**attempt)
            except ccxt.BaseError as e:
                # Refused: MEXC answers a cancel of a filled order with an error ccxt does not
                # call OrderNotFound. The exchange's view of the order decides what happened.
                log.warning("cancel %s refused (%s); asking for the order", managed.client_id, e)
                if not await self._lookup(managed):
                    log.error("cancel %s failed and the exchange does not know it", managed.client_id)  # fmt: skip
                return

    def _update(self, managed: ManagedOrder, answer: dict[str, Any]) -> None:
        """Take the exchange's view of an order: state, and a fill for any new execution."""
        managed.exchange_id = str(answer.get("id") or managed.exchange_id or "") or None
        filled = float(answer.get("filled") or 0.0)
        cost = float(answer.get("cost") or 0.0)
        fee = float((answer.get("fee") or {}).get("cost") or 0.0)
        if filled > managed.filled + 1e-12:
            delta, delta_cost = filled - managed.filled, cost - managed.cost
            sign = 1.0 if managed.order.qty > 0 else -1.0
            liquidity = "maker" if managed.order.limit is not None else "taker"
            self._fills.append(Fill(managed.order.id, self.clock(), sign * delta, delta_cost / delta,
                                    max(fee - managed.fee, 0.0), liquidity))  # fmt: skip
            self.position += sign * delta
            managed.filled, managed.cost, managed.fee = filled, cost, max(fee, managed.fee)
        state = _CCXT_STATE.get(str(answer.get("status")), managed.state)
        if state == NEW and managed.filled > 0:
            state = PARTIALLY_FILLED
        managed.state = state

    async def poll(self) -> None:
        """Refresh every order that is not final (limit orders fill while resting)."""
        for managed in list(self.orders.values()):
            if managed.state not in FINAL and managed.state != PENDING:
                await self._lookup(managed)

    async def reconcile(self) -> dict[str, Any]:
        """After a (re)connect: re-read open orders and balances; cancel strangers of ours.

        An open order with this manager's prefix that it does not track (a previous session's)
        is canceled: the runtime cannot account for it.
        """
        import ccxt

        try:
            open_orders = await self.exchange.fetch_open_orders(self.symbol)
            balance = await self.exchange.fetch_balance()
        except ccxt.BaseError as e:
            self._failed(e)
            return {"ok": False, "error": type(e).__name__}
        self._ok()
        known = {m.client_id: m for m in self.orders.values()}
        strangers = 0
        for answer in open_orders:
            client_id = str(answer.get("clientOrderId") or "")
            if client_id in known:
                self._update(known[client_id], answer)
            elif client_id.startswith(self.base_prefix):
                strangers += 1
                try:
                    await self.exchange.cancel_order(answer.get("id"), self.symbol)
                except ccxt.BaseError as e:
                    log.error("could not cancel stray order %s: %s", client_id, e)
        open_ids = {str(a.get("clientOrderId")) for a in open_orders}
        for managed in list(self.orders.values()):
            if managed.state in FINAL or managed.client_id in open_ids:
                continue
            found = await self._lookup(managed)  # closed meanwhile (filled or canceled)?
            if not found and managed.error.startswith("no answer"):
                managed.state, managed.error = REJECTED, "never reached the exchange"
        self.balances = {k: float(v) for k, v in (balance.get("total") or {}).items() if v}
        return {"ok": True, "open": len(open_orders), "strangers_canceled": strangers}

    async def run(self, stop: asyncio.Event, poll_s: float = 1.0) -> None:
        """Poll orders that are not final until ``stop``."""
        while not stop.is_set():
            await asyncio.sleep(poll_s)
            await self.poll()

    def table(self) -> list[dict[str, Any]]:
        """Every order's lifecycle as rows (for ``orders.parquet``)."""
        return [{
            "order_id": m.order.id, "client_id": m.client_id, "time": m.order.time,
            "qty": float(m.order.qty), "limit": np.nan if m.order.limit is None else float(m.order.limit),
            "state": m.state, "filled": m.filled, "cost": m.cost, "fee": m.fee,
            "exchange_id": m.exchange_id or "", "attempts": m.attempts, "error": m.error,
        } for m in self.orders.values()]  # fmt: skip
