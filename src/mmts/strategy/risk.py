"""The risk manager: pure, fails closed, the same code in replay and live.

:func:`assess` turns a wanted direction and confidence into a target position, given the
market, the portfolio and the risk state, and returns the new state beside it. It never
raises on bad numbers: a NaN price, a stale feed or an extreme move means *no new risk*
(exits are still allowed), and every rejection or clip names the limit it hit.

Sizing: ``fraction`` of equity (in units at the current price), scaled by the decision's
confidence when ``scale_by_confidence``, and by ``vol_target / realised volatility`` when
``vol_target`` is set; flat instead of short with ``long_only`` (spot); then clipped to ``max_position`` (units) and ``max_order_notional``
(per order). Exits: stop-loss, take-profit and a trailing stop from the best price since entry.
Halts (new entries only): a daily loss limit (from the day's starting equity, UTC days) and a
maximum drawdown from the equity peak. Reported every step: historical VaR and expected
shortfall of the current position over the recent returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

import numpy as np

from mmts.core.settings import check_settings, option

NS_PER_DAY = 86_400 * 10**9


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskConfig:
    """Risk limits (fractions are of equity unless said otherwise; none turns a limit off)."""

    TABLE: ClassVar[str] = "risk"

    fraction: float = option(0.5, gt=0, le=10, doc="position size as a fraction of equity")
    scale_by_confidence: bool = option(True, doc="scale the size by the decision's confidence")
    vol_target: float | None = option(
        None, gt=0, doc="scale the size by vol_target / realised volatility (annualised)"
    )
    max_position: float | None = option(None, gt=0, doc="largest position, in units")
    long_only: bool = option(
        False, doc="never target a short position (a spot account cannot sell what it lacks)"
    )
    max_order_notional: float | None = option(None, gt=0, doc="largest order, in quote currency")
    stop_loss: float | None = option(0.01, gt=0, lt=1, doc="exit at this loss from the entry")
    take_profit: float | None = option(0.02, gt=0, doc="exit at this gain from the entry")
    trailing_stop: float | None = option(
        None, gt=0, lt=1, doc="exit at this fall from the best price since entry"
    )
    daily_loss_limit: float | None = option(
        0.03, gt=0, lt=1, doc="halt new entries at this loss from the UTC day's start"
    )
    max_drawdown: float | None = option(
        0.10, gt=0, lt=1, doc="halt new entries at this drawdown from the equity peak"
    )
    circuit_breaker_move: float | None = option(
        0.05, gt=0, doc="no new risk after a move this large between two prices"
    )
    stale_after_s: float | None = option(
        10.0, gt=0, doc="no new risk when market data is older than this (seconds)"
    )
    var_level: float = option(0.99, gt=0.5, lt=1, doc="confidence of the reported VaR and ES")

    def __post_init__(self) -> None:
        check_settings(self)


@dataclass(frozen=True, slots=True)
class RiskState:
    """What the risk manager remembers between steps."""

    equity_peak: float = float("nan")
    day: int = -1
    day_start_equity: float = float("nan")
    entry_price: float = float("nan")
    best_price: float = float("nan")
    halted: str = ""


@dataclass(frozen=True, slots=True)
class Market:
    """What the risk manager sees of the market at a decision."""

    time: int
    price: float
    previous_price: float
    last_data_time: int
    #: Recent per-step simple returns of the asset (for VaR/ES and volatility), oldest first.
    returns: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: Steps per year of those returns (annualises the volatility for ``vol_target``).
    steps_per_year: float = 365 * 1440.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """The target position and why."""

    target: float
    #: Each limit that rejected, clipped or forced something: ``"<limit>: <what>"``.
    reasons: tuple[str, ...]
    var: float
    expected_shortfall: float


def _var_es(
    position: float, price: float, returns: np.ndarray, level: float
) -> tuple[float, float]:
    r = returns[np.isfinite(returns)]
    if r.shape[0] < 20 or position == 0.0:
        return 0.0, 0.0
    pnl = position * price * r
    cut = np.quantile(pnl, 1.0 - level)
    tail = pnl[pnl <= cut]
    return float(max(-cut, 0.0)), float(max(-tail.mean(), 0.0)) if tail.size else 0.0


def assess(direction: int, confidence: float, market: Market, position: float, equity: float,
           state: RiskState, cfg: RiskConfig) -> tuple[Verdict, RiskState]:  # fmt: skip
    """Return the target position for ``direction`` (-1, 0, +1) and the new risk state."""
    reasons: list[str] = []
    price = market.price
    if not (np.isfinite(price) and price > 0 and np.isfinite(equity) and np.isfinite(position)):
        reasons.append(
            f"invalid_input: price {price}, equity {equity}, position {position}; no trading"
        )
        return Verdict(position, tuple(reasons), 0.0, 0.0), state
    # Day boundary and peak.
    day = market.time // NS_PER_DAY
    if day != state.day:
        state = replace(state, day=day, day_start_equity=equity,
                        halted="" if state.halted.startswith("daily_loss_limit") else state.halted)  # fmt: skip
    peak = equity if not np.isfinite(state.equity_peak) else max(state.equity_peak, equity)
    state = replace(state, equity_peak=peak)
    var, es = _var_es(position, price, market.returns, cfg.var_level)
    entries_allowed = True
    # Circuit breaker and stale data: no new risk.
    move = abs(price / market.previous_price - 1.0) if market.previous_price > 0 else 0.0
    if cfg.circuit_breaker_move is not None and move > cfg.circuit_breaker_move:
        reasons.append(
            f"circuit_breaker: move {move:.2%} > {cfg.circuit_breaker_move:.2%}; no new entries"
        )
        entries_allowed = False
    age = (market.time - market.last_data_time) / 1e9
    if cfg.stale_after_s is not None and age > cfg.stale_after_s:
        reasons.append(
            f"stale_data: last data {age:.1f} s old > {cfg.stale_after_s} s; no new entries"
        )
        entries_allowed = False
    # Halts.
    if cfg.daily_loss_limit is not None and state.day_start_equity > 0:
        day_pnl = equity / state.day_start_equity - 1.0
        if day_pnl <= -cfg.daily_loss_limit and not state.halted:
            state = replace(
                state,
                halted=f"daily_loss_limit: day return {day_pnl:.2%} <= -{cfg.daily_loss_limit:.2%}",
            )
    if cfg.max_drawdown is not None and peak > 0:
        drawdown = 1.0 - equity / peak
        if drawdown >= cfg.max_drawdown and not state.halted.startswith("max_drawdown"):
            state = replace(
                state, halted=f"max_drawdown: drawdown {drawdown:.2%} >= {cfg.max_drawdown:.2%}"
            )
    if state.halted:
        reasons.append(f"{state.halted}; new entries halted")
        entries_allowed = False
    # Exits on the open position.
    exit_reason = _exit_reason(position, price, state, cfg)
    if position != 0.0 and np.isfinite(state.entry_price):
        best = state.best_price
        best = (
            price
            if not np.isfinite(best)
            else (max(best, price) if position > 0 else min(best, price))
        )
        state = replace(state, best_price=best)
    # Sizing.
    want = 0.0
    if direction != 0:
        size = cfg.fraction * max(equity, 0.0) / price
        if cfg.scale_by_confidence:
            size *= min(max(confidence, 0.0), 1.0)
        if cfg.vol_target is not None:
            r = market.returns[np.isfinite(market.returns)]
            vol = (
                float(r.std() * np.sqrt(market.steps_per_year))
                if r.shape[0] >= 20
                else float("nan")
            )
            if np.isfinite(vol) and vol > 0:
                size *= min(cfg.vol_target / vol, 1.0)
        want = float(np.sign(direction)) * size
    if exit_reason:
        reasons.append(exit_reason)
        want = 0.0
    if cfg.long_only and want < 0:
        reasons.append("long_only: a spot account cannot go short; flat instead")
        want = 0.0
    if cfg.max_position is not None and abs(want) > cfg.max_position:
        reasons.append(f"max_position: |{want:.6g}| > {cfg.max_position:.6g}; clipped")
        want = float(np.sign(want)) * cfg.max_position
    # New risk = moving away from zero or flipping; reducing toward zero is always allowed.
    adds_risk = abs(want) > abs(position) or (want * position < 0)
    if adds_risk and not entries_allowed:
        want = position if want * position >= 0 else 0.0
    if cfg.max_order_notional is not None:
        order = want - position
        if abs(order) * price > cfg.max_order_notional:
            reasons.append(
                f"max_order_notional: {abs(order) * price:.2f} > {cfg.max_order_notional:.2f}; clipped"
            )
            want = position + float(np.sign(order)) * cfg.max_order_notional / price
    # Entry bookkeeping for exits.
    if want == 0.0:
        state = replace(state, entry_price=float("nan"), best_price=float("nan"))
    elif position == 0.0 or want * position < 0:
        state = replace(state, entry_price=price, best_price=price)
    return Verdict(want, tuple(reasons), var, es), state


def _exit_reason(position: float, price: float, state: RiskState, cfg: RiskConfig) -> str:
    if position == 0.0 or not np.isfinite(state.entry_price):
        return ""
    change = (price / state.entry_price - 1.0) * np.sign(position)
    if cfg.stop_loss is not None and change <= -cfg.stop_loss:
        return f"stop_loss: {change:.2%} <= -{cfg.stop_loss:.2%}; exit"
    if cfg.take_profit is not None and change >= cfg.take_profit:
        return f"take_profit: {change:.2%} >= {cfg.take_profit:.2%}; exit"
    if cfg.trailing_stop is not None and np.isfinite(state.best_price):
        from_best = (price / state.best_price - 1.0) * np.sign(position)
        if from_best <= -cfg.trailing_stop:
            return f"trailing_stop: {from_best:.2%} from best <= -{cfg.trailing_stop:.2%}; exit"
    return ""
