"""The live order manager against the simulator's Binance order endpoints, through ccxt."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from mmts.data import open_store
from mmts.execution.venue import Order
from mmts.live import orders as om
from mmts.testing.exchange_sim import Fault
from mmts.testing.sim_exchange import SimExchange

pytestmark = pytest.mark.network

ROOT = Path(__file__).resolve().parents[3]
RAW = ROOT / "data" / "raw" / "binance-ws" / "spot"
KEY, SECRET = "key-SENTINEL-5f2a", "secret-SENTINEL-9c1d"


@pytest.fixture(scope="module")
def sim() -> Any:
    with SimExchange([RAW / "ethusdt_20240808.gz"], store=open_store(ROOT / "data"), speed=1,
                     start_on_connect=False) as sim:  # fmt: skip
        # The book is the replayed one: wait for the recording's snapshot.
        for _ in range(100):
            if sim.book_levels("ETHUSDT", 0, 1)[0].shape[0]:
                break
            asyncio.run(asyncio.sleep(0.1))
        yield sim


def _run(sim: SimExchange, body: Callable[[om.OrderManager], Awaitable[Any]], **kw: Any) -> Any:
    async def main() -> Any:
        exchange = om.make_exchange("binance", KEY, SECRET, sim.url)
        manager = om.OrderManager(exchange, "ETH/USDT", session=kw.pop("session", "t1"),
                                  clock=sim.clock_ns, backoff_s=0.01, **kw)  # fmt: skip
        try:
            return await body(manager)
        finally:
            await exchange.close()

    return asyncio.run(main())


def _posts(sim: SimExchange, client_id: str) -> int:
    return sum(
        1 for m, p, q in sim.requests if m == "POST" and q.get("newClientOrderId") == client_id
    )


def test_a_market_order_fills_and_its_fill_reaches_the_runtime(sim: SimExchange) -> None:
    async def body(manager: om.OrderManager) -> Any:
        manager.submit(Order(1, 0, 0.3))
        assert [w.client_id for w in manager.working] == ["mmtst1-1"]
        await manager.settle()
        return manager, manager.on_book(0)

    manager, fills = _run(sim, body)
    assert manager.orders[1].state == om.FILLED and manager.position == pytest.approx(0.3)
    assert len(fills) >= 1 and sum(f.qty for f in fills) == pytest.approx(0.3)
    matched = sim.account.by_client["mmtst1-1"]
    assert matched.status == "FILLED" and fills[0].fee > 0
    # The price is the recorded book's, walked for 0.3 ETH at the moment the order met it (the
    # exchange stamps it in ms; a book event inside that ms may come before or after it).
    expected = {_walk_asks(open_store(ROOT / "data"), at_ns, 0.3)
                for at_ns in (matched.time_ms * 10**6, matched.time_ms * 10**6 + 999_999)}  # fmt: skip
    paid = sum(f.qty * f.price for f in fills) / sum(f.qty for f in fills)
    assert any(paid == pytest.approx(e, abs=1e-9) for e in expected), (paid, expected)


def _walk_asks(store: Any, at_ns: int, qty: float) -> float:
    """Average price of buying ``qty`` from the stored book at ``at_ns`` (the oracle)."""
    _, asks = store.book("ETH/USDT", at=at_ns, depth=100)
    left, cost = qty, 0.0
    for price, size in zip(asks["price"], asks["qty"], strict=True):
        take = min(left, float(size))
        cost, left = cost + take * float(price), left - take
        if left <= 1e-12:
            return cost / qty
    raise AssertionError("the book was too thin for the order")


def test_a_lost_answer_is_retried_without_a_second_order(sim: SimExchange) -> None:
    sim.inject(Fault("lost", status=503, path="/api/v3/order"))  # processed, answer lost

    async def body(manager: om.OrderManager) -> Any:
        manager.submit(Order(2, 0, 0.1))
        await manager.settle()
        return manager

    manager = _run(sim, body, session="t2")
    assert manager.orders[2].state == om.FILLED and manager.orders[2].filled == pytest.approx(0.1)
    assert _posts(sim, "mmtst2-2") == 1  # asked by client id before sending again: one order
    assert sum(1 for o in sim.account.orders.values() if o.client_id == "mmtst2-2") == 1


def test_rate_limits_are_retried_and_refusals_are_not(sim: SimExchange) -> None:
    sim.inject(
        Fault("status", status=429, path="/api/v3/order"),
        Fault("status", status=503, path="/api/v3/order"),
    )

    async def body(manager: om.OrderManager) -> Any:
        manager.submit(Order(3, 0, 0.1))
        await manager.settle()
        manager.submit(Order(4, 0, -500.0))  # more ETH than the account holds
        await manager.settle()
        return manager

    manager = _run(sim, body, session="t3")
    assert manager.orders[3].state == om.FILLED and manager.orders[3].attempts >= 2
    assert _posts(sim, "mmtst3-3") == manager.orders[3].attempts  # each retry after a lookup
    assert manager.orders[4].state == om.REJECTED and "InsufficientFunds" in manager.orders[4].error
    assert _posts(sim, "mmtst3-4") == 1


def test_repeated_failures_trip_the_breaker_which_still_lets_positions_shrink(
    sim: SimExchange,
) -> None:
    sim.inject(*[Fault("status", status=502, path="/api/v3/order") for _ in range(12)])

    async def body(manager: om.OrderManager) -> Any:
        manager.submit(Order(5, 0, 0.1))
        await manager.settle()
        assert manager.breaker_open
        manager.submit(Order(6, 0, 0.1))  # would open more: refused locally
        assert manager.orders[6].state == om.REJECTED and "breaker" in manager.orders[6].error
        manager.position = 0.2
        manager.submit(Order(7, 0, -0.1))  # reduces: allowed through
        assert manager.orders[7].state != om.REJECTED
        await manager.settle()
        return manager

    _run(sim, body, session="t4", max_failures=3, retries=4)
    assert _posts(sim, "mmtst4-6") == 0


def test_limit_orders_rest_cancel_and_reconcile_after_a_restart(sim: SimExchange) -> None:
    async def first(manager: om.OrderManager) -> Any:
        manager.submit(Order(8, 0, -0.05, limit=9_000.0))  # far above the market: rests
        manager.submit(Order(9, 0, 0.05, limit=1_000.0))  # far below: rests
        await manager.settle()
        assert {manager.orders[8].state, manager.orders[9].state} == {om.NEW}
        manager.cancel_all()
        await manager.settle()
        assert manager.orders[9].state == om.CANCELED
        return manager

    async def restart(manager: om.OrderManager) -> Any:
        # A previous session of ours left an order open: the new one cancels it on reconcile.
        await manager.exchange.create_order("ETH/USDT", "limit", "buy", 0.05, 1_000.0,
                                            {"newClientOrderId": "mmtsold-1"})  # fmt: skip
        report = await manager.reconcile()
        return manager, report

    _run(sim, first, session="t5")
    manager, report = _run(sim, restart, session="t6")
    assert report["ok"] and report["strangers_canceled"] == 1
    assert sim.account.by_client["mmtsold-1"].status == "CANCELED"
    assert manager.balances["USDT"] > 0


def test_keys_come_from_the_environment_only() -> None:
    assert om.credentials(
        "binance", {"MMTS_BINANCE_API_KEY": "a", "MMTS_BINANCE_API_SECRET": "b"}
    ) == ("a", "b")
    with pytest.raises(ValueError, match="MMTS_BINANCE_API_KEY"):
        om.credentials("binance", {})


def test_keys_never_reach_logs_reprs_or_tables(
    sim: SimExchange, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sim.inject(Fault("status", status=503, path="/api/v3/order"))

    async def body(manager: om.OrderManager) -> Any:
        manager.submit(Order(10, 0, 0.01))
        manager.submit(Order(11, 0, -999.0))
        await manager.settle()
        return manager

    manager = _run(sim, body, session="t7")
    text = caplog.text + repr(manager) + str(manager.table())
    assert "rejected" in caplog.text  # there were errors to log
    assert KEY not in text and SECRET not in text
