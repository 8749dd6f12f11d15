"""The simulated venue's fill rules and the portfolio's accounting, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from mmts.execution.costs import CostModel
from mmts.execution.portfolio import Portfolio
from mmts.execution.venue import Order, SimulatedVenue

MS = 1_000_000
BOOK = (
    np.array([99.0, 98.0]),
    np.array([1.0, 2.0]),
    np.array([101.0, 102.0, 103.0]),
    np.array([1.0, 1.0, 5.0]),
)


def test_market_order_walks_the_book_after_the_latency() -> None:
    venue = SimulatedVenue(CostModel(venue="binance"), latency_ns=50 * MS)
    venue.submit(Order(1, 0, 1.5))
    assert venue.on_book(10 * MS, *BOOK) == []  # not arrived yet
    (fill,) = venue.on_book(60 * MS, *BOOK)
    assert fill.qty == 1.5 and fill.price == pytest.approx((101.0 + 0.5 * 102.0) / 1.5)
    assert fill.fee == pytest.approx(1.5 * fill.price * 0.001) and fill.liquidity == "taker"


def test_market_order_larger_than_thebook_fills_partially_and_keeps_working() -> None:
    venue = SimulatedVenue(latency_ns=0)
    venue.submit(Order(1, 0, -5.0))
    (first,) = venue.on_book(0, *BOOK)
    assert first.qty == -3.0 and first.price == pytest.approx((99.0 + 2 * 98.0) / 3)
    (second,) = venue.on_book(MS, *BOOK)
    assert second.qty == -2.0 and not venue.working


def test_limit_order_rests_then_fills_as_maker_at_its_price() -> None:
    venue = SimulatedVenue(CostModel(venue="mexc"), latency_ns=0)
    venue.submit(Order(7, 0, 2.0, limit=100.0))
    assert venue.on_book(0, *BOOK) == []  # best ask 101 > 100: rests
    moved = (np.array([98.0]), np.array([1.0]), np.array([99.5, 100.0]), np.array([1.0, 3.0]))
    (fill,) = venue.on_book(MS, *moved)
    assert fill.liquidity == "maker" and fill.price == 100.0 and fill.qty == 2.0 and fill.fee == 0.0


def test_bars_fill_market_at_open_with_slippage_and_limits_only_when_traded_through() -> None:
    venue = SimulatedVenue(latency_ns=0, slippage_bps=10.0)
    venue.submit(Order(1, 0, 1.0))
    venue.submit(Order(2, 0, 1.0, limit=99.0))
    fills = venue.on_bar(0, 60 * 10**9, 100.0, 101.0, 99.0)  # low touches 99 but not through
    assert [f.order_id for f in fills] == [1] and fills[0].price == pytest.approx(100.1)
    (limit_fill,) = venue.on_bar(60 * 10**9, 120 * 10**9, 100.0, 100.5, 98.9)
    assert limit_fill.price == 99.0 and limit_fill.liquidity == "maker"


def test_bad_orders_are_refused() -> None:
    venue = SimulatedVenue()
    with pytest.raises(ValueError, match="non-zero"):
        venue.submit(Order(1, 0, 0.0))
    with pytest.raises(ValueError, match="limit"):
        venue.submit(Order(2, 0, 1.0, limit=-1.0))
    with pytest.raises(ValueError, match=r"\[costs\] venue: expected one of 'binance', 'mexc'"):
        SimulatedVenue(CostModel(venue="nowhere"))


def test_the_venue_charges_the_experiments_fees() -> None:
    venue = SimulatedVenue(CostModel(venue="mexc", taker_fee=0.0007), latency_ns=0)
    venue.submit(Order(1, 0, 1.0))
    (fill,) = venue.on_book(0, *BOOK)
    assert fill.fee == pytest.approx(101.0 * 0.0007)  # the override, not MEXC's 0.05 %
    assert (venue.maker, venue.taker) == (0.0, 0.0007)  # the maker fee stays MEXC's


def test_portfolio_realises_on_reduce_and_flip() -> None:
    p = Portfolio(cash=1000.0)
    p.apply_fill(2.0, 100.0, 0.2)
    p.apply_fill(1.0, 110.0, 0.1)
    assert p.position == 3.0 and p.average_price == pytest.approx(310 / 3)
    realized = p.apply_fill(-4.0, 120.0, 0.4)  # close 3, open 1 short at 120
    assert realized == pytest.approx(3 * (120 - 310 / 3))
    assert p.position == -1.0 and p.average_price == 120.0
    assert p.unrealized(115.0) == pytest.approx(5.0)
    assert p.equity(115.0) == pytest.approx(1000 - 200 - 110 + 480 - 115 - 0.7)
    assert p.fees == pytest.approx(0.7)
    with pytest.raises(ValueError, match="invalid fill"):
        p.apply_fill(1.0, float("nan"), 0.0)
