"""The risk manager: sizing, limits that name themselves, exits, halts, fail-closed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmts.strategy.risk import NS_PER_DAY, Market, RiskConfig, RiskState, assess

T0 = 1_700_000_000 * 10**9 // NS_PER_DAY * NS_PER_DAY + 3600 * 10**9


def _market(price: float, t: int = T0, prev: float | None = None, age_s: float = 0.0,
            returns: np.ndarray | None = None) -> Market:  # fmt: skip
    return Market(t, price, price if prev is None else prev, t - int(age_s * 1e9),
                  np.zeros(0) if returns is None else returns)  # fmt: skip


def test_size_is_a_fraction_of_equity_scaled_by_confidence() -> None:
    cfg = RiskConfig(fraction=0.5, stop_loss=None, take_profit=None)
    verdict, state = assess(1, 0.8, _market(100.0), 0.0, 10_000.0, RiskState(), cfg)
    assert verdict.target == pytest.approx(0.5 * 10_000 / 100 * 0.8)
    assert verdict.reasons == () and state.entry_price == 100.0
    verdict, _ = assess(-1, 1.0, _market(100.0), 0.0, 10_000.0, RiskState(), cfg)
    assert verdict.target == pytest.approx(-50.0)


def test_long_only_goes_flat_instead_of_short() -> None:
    cfg = RiskConfig(long_only=True, stop_loss=None, take_profit=None)
    verdict, _ = assess(-1, 1.0, _market(100.0), 0.0, 10_000.0, RiskState(), cfg)
    assert verdict.target == 0.0 and any(r.startswith("long_only") for r in verdict.reasons)
    verdict, _ = assess(-1, 1.0, _market(100.0), 3.0, 10_000.0, RiskState(), cfg)
    assert verdict.target == 0.0  # a long position is closed, never flipped
    verdict, _ = assess(1, 1.0, _market(100.0), 0.0, 10_000.0, RiskState(), cfg)
    assert verdict.target > 0


def test_limits_clip_and_name_themselves() -> None:
    cfg = RiskConfig(fraction=1.0, max_position=20.0, max_order_notional=1_500.0, stop_loss=None)
    verdict, _ = assess(1, 1.0, _market(100.0), 0.0, 10_000.0, RiskState(), cfg)
    assert verdict.target == pytest.approx(15.0)
    assert any(r.startswith("max_position") for r in verdict.reasons)
    assert any(r.startswith("max_order_notional") for r in verdict.reasons)


@pytest.mark.parametrize(("price", "limit"), [(98.9, "stop_loss"), (102.1, "take_profit")])
def test_stop_loss_and_take_profit_exit(price: float, limit: str) -> None:
    cfg = RiskConfig(stop_loss=0.01, take_profit=0.02)
    state = RiskState(entry_price=100.0, best_price=100.0, equity_peak=10_000.0, day=T0 // NS_PER_DAY,
                      day_start_equity=10_000.0)  # fmt: skip
    verdict, new = assess(1, 1.0, _market(price), 10.0, 10_000.0, state, cfg)
    assert verdict.target == 0.0 and verdict.reasons[0].startswith(limit)
    assert np.isnan(new.entry_price)


def test_trailing_stop_follows_the_best_price() -> None:
    cfg = RiskConfig(stop_loss=None, take_profit=None, trailing_stop=0.01)
    state = RiskState(entry_price=100.0, best_price=100.0)
    _, state = assess(1, 1.0, _market(105.0), 10.0, 10_050.0, state, cfg)
    assert state.best_price == 105.0
    verdict, _ = assess(1, 1.0, _market(103.5), 10.0, 10_035.0, state, cfg)
    assert verdict.target == 0.0 and verdict.reasons[0].startswith("trailing_stop")


def test_daily_loss_limit_halts_entries_allows_exits_and_resets_next_day() -> None:
    cfg = RiskConfig(daily_loss_limit=0.03, stop_loss=None, take_profit=None, max_drawdown=None)
    _, state = assess(0, 0.0, _market(100.0), 0.0, 10_000.0, RiskState(), cfg)
    verdict, state = assess(1, 1.0, _market(100.0), 0.0, 9_600.0, state, cfg)
    assert verdict.target == 0.0 and state.halted.startswith("daily_loss_limit")
    verdict, state = assess(-1, 1.0, _market(100.0), 5.0, 9_600.0, state, cfg)
    assert verdict.target == 0.0  # flipping adds risk: only the exit is allowed
    verdict, state = assess(1, 1.0, _market(100.0, T0 + NS_PER_DAY), 0.0, 9_600.0, state, cfg)
    assert verdict.target > 0 and state.halted == ""


def test_max_drawdown_halts_until_reset() -> None:
    cfg = RiskConfig(max_drawdown=0.1, daily_loss_limit=None, stop_loss=None)
    _, state = assess(0, 0.0, _market(100.0), 0.0, 10_000.0, RiskState(), cfg)
    verdict, state = assess(1, 1.0, _market(100.0, T0 + 2 * NS_PER_DAY), 0.0, 8_900.0, state, cfg)
    assert verdict.target == 0.0 and "max_drawdown" in verdict.reasons[-1]


@pytest.mark.parametrize(("market", "limit"), [
    (_market(100.0, prev=90.0), "circuit_breaker"),
    (_market(100.0, age_s=30.0), "stale_data"),
])  # fmt: skip
def test_extreme_moves_and_stale_data_block_new_risk(market: Market, limit: str) -> None:
    verdict, _ = assess(1, 1.0, market, 0.0, 10_000.0, RiskState(), RiskConfig())
    assert verdict.target == 0.0 and verdict.reasons[0].startswith(limit)


@pytest.mark.parametrize(
    ("position", "returns", "var", "es"),
    [
        # 101 returns: the 1 % order statistic is the second-worst. Long 10 @100 (1000 USD):
        # P&L -50, -30 and 99 x +10 -> VaR 30, ES = mean(-50, -30) = 40.
        (10.0, [-0.05, -0.03] + [0.01] * 99, 30.0, 40.0),
        # Short 10: the up moves hurt. P&L -40, -20 and 99 x +10 -> VaR 20, ES 30.
        (-10.0, [0.04, 0.02] + [-0.01] * 99, 20.0, 30.0),
        # Fewer than 20 returns: too few to estimate, reported as 0.
        (10.0, [-0.05] * 19, 0.0, 0.0),
    ],
)
def test_var_and_expected_shortfall_are_the_historical_order_statistics(
    position: float, returns: list[float], var: float, es: float
) -> None:
    cfg = RiskConfig(stop_loss=None, take_profit=None)
    shuffled = np.random.default_rng(0).permutation(np.array(returns))  # order must not matter
    market = _market(100.0, returns=shuffled)
    verdict, _ = assess(1, 1.0, market, position, 10_000.0, RiskState(), cfg)
    assert verdict.var == pytest.approx(var)
    assert verdict.expected_shortfall == pytest.approx(es)


def test_bad_input_fails_closed_and_says_so() -> None:
    verdict, state = assess(1, 1.0, _market(float("nan")), 3.0, 10_000.0, RiskState(), RiskConfig())
    assert verdict.target == 3.0 and verdict.reasons[0].startswith("invalid_input")
    assert state == RiskState()


@settings(max_examples=200, deadline=None)
@given(st.integers(-1, 1), st.floats(0, 1), st.floats(1, 1e5), st.floats(1, 1e5),
       st.floats(-100, 100), st.floats(1, 1e6), st.floats(0, 100))  # fmt: skip
def test_never_adds_risk_when_entries_are_blocked(direction: int, confidence: float, price: float,
                                                   prev: float, position: float, equity: float,
                                                   age: float) -> None:  # fmt: skip
    cfg = RiskConfig(circuit_breaker_move=0.05, stale_after_s=10.0)
    market = _market(price, prev=prev, age_s=age)
    verdict, _ = assess(direction, confidence, market, position, equity, RiskState(), cfg)
    blocked = abs(price / prev - 1) > 0.05 or age > 10.0
    if blocked:
        assert abs(verdict.target) <= abs(position) + 1e-9
        assert verdict.target * position >= 0
