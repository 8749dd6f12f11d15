"""The event loop: market events → features → experts → mixture → risk → venue → portfolio.

Replay and live differ only in what they plug in: the event source and clock (a replayed store
or a websocket), and the venue (``execution.SimulatedVenue`` or an exchange adapter). Given the
same events, :class:`Runtime` makes the same decisions.

Decisions happen on a fixed grid (``decision_every_ns``): the decision at ``t`` sees every event
with time <= t, because it runs only when the first event after ``t`` arrives (or at
:meth:`Runtime.finish`). Experts run in dependency order; one with ``upstream`` models gets an
input whose ``model_outputs`` slots hold their outputs for the same decision. When a decision's
label horizon has passed, its outcome (the cost-aware label of the realised return) is given to
the mixture, which is the only way expert weights change. No decision is taken while the
primary symbol's book is known but out of sync (``Runtime.paused`` lists those times).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mmts.config import FeatureConfig
from mmts.core.events import BarEvent, BookEvent, Event
from mmts.core.files import json_text
from mmts.core.performance import YEAR_NS
from mmts.execution.costs import CostModel
from mmts.execution.portfolio import Portfolio
from mmts.execution.venue import Fill, Order
from mmts.features.inputs import InputWindows, ModelInput, with_model_outputs
from mmts.features.inputs_stream import ModelInputBuilder
from mmts.history.monitor import input_summary
from mmts.history.outcomes import OutcomeTracker, PendingDecision, judge
from mmts.history.writer import (
    ACTIVE,
    SHADOW,
    LedgerWriter,
    Prediction,
    input_id,
    is_shadow_key,
    shadow_key,
)
from mmts.models.expert import check_experts, dependency_order, model_slots
from mmts.models.labels import UNKNOWN
from mmts.models.output import NO_USABLE_INPUT, Action, InputUnavailable, ModelOutput
from mmts.runtime.control import Controls, controlled_target
from mmts.strategy.moe import MixtureOfExperts
from mmts.strategy.risk import Market, RiskConfig, RiskState, assess

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeConfig:
    """How often to decide, what an outcome is, and what the venue fills against."""

    decision_every_ns: int = 60 * 10**9
    horizon_ns: int = 15 * 60 * 10**9
    costs: CostModel = field(default_factory=CostModel)
    dead_zone: float = 0.0005
    #: Primary-symbol bars the simulated venue fills against when no book is known.
    fill_timeframe: str = "1m"
    book_depth: int = 50
    #: Decision-price returns kept for VaR/ES and volatility.
    risk_window: int = 500
    #: Resize a same-side position only when the change exceeds this fraction of the target
    #: (entries, exits and flips always trade): confidence wiggles must not churn fees.
    min_rebalance: float = 0.25


def run_expert(name: str, expert: Any, base: ModelInput, outputs: dict[str, ModelOutput | None],
               failures: dict[str, str], slot: int, *,
               upstream: tuple[str, ...]) -> ModelInput | None:  # fmt: skip
    """Run one expert on a decision's input into ``outputs``; a failure goes to ``failures``.

    An expert with ``upstream`` models (its :class:`~mmts.models.expert.Abilities`) reads the
    input with their outputs in its slots; if one of them has no output, it fails too. An
    expert failing never stops trading. Returns the input the expert read (None: it read none).
    """
    x = None
    try:
        x = base
        if upstream:
            missing = [u for u in upstream if outputs.get(u) is None]
            if missing:
                x = None
                raise RuntimeError(f"upstream {missing} produced no output")
            x = with_model_outputs(base, {u: outputs[u].to_slot(slot) for u in upstream})  # type: ignore[union-attr]
        outputs[name] = expert.predict(x)
    except InputUnavailable as e:
        failures[name] = f"{NO_USABLE_INPUT}: {e}"
        outputs[name] = None
    except Exception as e:  # noqa: BLE001 - an expert failing must not stop trading
        failures[name] = f"{type(e).__name__}: {e}"
        outputs[name] = None
    return x


def _finite_or_none(values: dict[str, Any]) -> dict[str, Any]:
    """Unknown numbers (NaN) as ``None``, so the state is strict JSON."""
    return {
        k: None if isinstance(v, float) and not np.isfinite(v) else v for k, v in values.items()
    }


def _none_as_nan(values: dict[str, Any]) -> dict[str, Any]:
    return {k: float("nan") if v is None else v for k, v in values.items()}


class Runtime:
    """One trading loop; see the module docstring."""

    def __init__(self, cfg: RuntimeConfig, features: FeatureConfig, experts: dict[str, Any],
                 moe: MixtureOfExperts, risk: RiskConfig, venue: Any,
                 portfolio: Portfolio | None = None, *, start: int | None = None,
                 outputs_at: Callable[[int], tuple[dict[str, ModelOutput | None], dict[str, str]]] | None = None,
                 ledger: LedgerWriter | None = None) -> None:  # fmt: skip
        """``start``: the first decision time (earlier events only warm the features up).

        ``outputs_at(t)`` supplies the experts' outputs at ``t`` instead of running them on the
        step driver's input (the backtest's fast path computes them in batch; its workers
        write the inputs to the ledger). ``ledger``: where every prediction and decision goes.
        """
        self.cfg, self.features, self.experts = cfg, features, experts
        self.moe, self.risk, self.venue = moe, risk, venue
        self.portfolio = portfolio or Portfolio()
        #: What each expert can do, checked once (a bad expert is an error here, not mid-run).
        self.abilities = check_experts(experts)
        self.builder = ModelInputBuilder(features, model_slots=model_slots(self.abilities))
        self.order = dependency_order(self.abilities)
        self.risk_state = RiskState()
        step = cfg.decision_every_ns
        self.next_decision: int | None = None if start is None else -(-start // step) * step
        self.price = float("nan")
        self.previous_price = float("nan")
        self.last_data = -1
        self.order_id = 0
        self.decision_prices: list[float] = []
        #: Decisions waiting for their label horizon (judged in ``_resolve``).
        self.outcomes = OutcomeTracker(cfg.horizon_ns)
        #: Called with each judged decision and its outcome rows (the online learner listens).
        self.on_outcomes: list[Callable[[PendingDecision, Any], None]] = []
        self.decisions: list[dict[str, Any]] = []
        self.fills: list[Fill] = []
        self.orders: list[Order] = []
        self.equity: list[tuple[int, float, float, float]] = []
        self.outputs_at = outputs_at
        #: Decision times skipped because the primary book was out of sync: ``(time, reason)``.
        self.paused: list[tuple[int, str]] = []
        #: Pause decisions until the primary book is first synced too (live: a book is expected
        #: from the start). Replay decides without one where the store holds none.
        self.book_required = False
        self.ledger = ledger
        #: Watches decisions and outcomes, raises alerts (``mmts.history.monitor``); optional.
        self.monitor: Any = None
        #: The fast engine's input summaries by decision time (the monitor's view of inputs).
        self.summaries_at: Callable[[int], Any] | None = None
        #: Models judged beside an active expert (by its name), without a vote (online learning).
        self.shadows: dict[str, Any] = {}
        #: What the operator set: paused entries, a flatten (``runtime.control``).
        self.controls = Controls()
        #: The inputs, windows and per-expert seconds of the decision being taken (ledger).
        self._inputs: dict[str, ModelInput] = {}
        self._windows: InputWindows | None = None
        self._latest_windows: InputWindows | None = None
        self._latency: dict[str, float] = {}

    # -- state ----------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything a restarted session needs to continue (JSON-safe)."""
        return {
            "next_decision": self.next_decision, "order_id": self.order_id,
            "portfolio": asdict(self.portfolio), "risk": _finite_or_none(asdict(self.risk_state)),
            "decision_prices": self.decision_prices[-self.cfg.risk_window - 1 :],
            "unresolved": self.outcomes.state(),
            **_finite_or_none({"price": self.price, "previous_price": self.previous_price}),
            "experts": {n: e.state() for n, e in self.experts.items() if self.abilities[n].stateful},
            "moe": self.moe.state(),
            "controls": {**self.controls.state(), "buy_threshold": self.moe.config.buy_threshold,
                         "sell_threshold": self.moe.config.sell_threshold},
        }  # fmt: skip

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state` (portfolio, risk, mixture memory, order ids, experts).

        The decision clock is not restored: a restarted session decides from its own start on,
        never for the time it was down.
        """
        self.order_id = int(state["order_id"])
        self.portfolio = Portfolio(**state["portfolio"])
        self.risk_state = RiskState(**_none_as_nan(state["risk"]))
        self.decision_prices = [float(p) for p in state["decision_prices"]]
        self.outcomes.restore(state["unresolved"])
        prices = _none_as_nan({k: state[k] for k in ("price", "previous_price")})
        self.price, self.previous_price = float(prices["price"]), float(prices["previous_price"])
        self.moe.restore(state["moe"])
        if "controls" in state:  # what the operator set holds across a restart
            controls = state["controls"]
            self.controls.restore(controls)
            self.moe.config = dataclasses.replace(
                self.moe.config, buy_threshold=float(controls["buy_threshold"]),
                sell_threshold=float(controls["sell_threshold"]),
            )  # fmt: skip
        for name, expert_state in state.get("experts", {}).items():
            if name in self.experts and self.abilities[name].stateful:
                self.experts[name].restore(expert_state)  # stateful experts (the DQN's position)

    # -- events ---------------------------------------------------------------------------------

    def feed(self, event: Event) -> None:
        """Process one market event (events must come in time order)."""
        if self.next_decision is None:
            step = self.cfg.decision_every_ns
            self.next_decision = -(-event.time // step) * step
        while event.time > self.next_decision:
            self._decide(self.next_decision)
            self.next_decision += self.cfg.decision_every_ns
        self.last_data = max(self.last_data, event.time)
        if isinstance(event, BarEvent):
            self.builder.on_bar(event.symbol, event.timeframe, event.open_ns, event.ohlcv)
            if (
                event.symbol == self.features.primary_symbol
                and event.timeframe == self.cfg.fill_timeframe
            ):
                o, h, lo, c, _ = event.ohlcv
                self.book_fills(self.venue.on_bar(event.open_ns, event.time, o, h, lo))
                self._set_price(c)
        elif isinstance(event, BookEvent):
            self.builder.on_book_event(event.code, event.time, event.side, event.price, event.qty)
            if self.venue.working:
                levels = self.builder.book_levels(self.cfg.book_depth)
                if levels[0].shape[0] and levels[2].shape[0]:
                    self.book_fills(self.venue.on_book(event.time, *levels))

    def finish(self, end: int) -> None:
        """Run the decisions due up to ``end`` (the last event has been fed)."""
        while self.next_decision is not None and self.next_decision <= end:
            self._decide(self.next_decision)
            self.next_decision += self.cfg.decision_every_ns

    def _set_price(self, price: float) -> None:
        self.previous_price = self.price if np.isfinite(self.price) else price
        self.price = price

    def book_fills(self, fills: list[Fill]) -> None:
        """Book fills into the portfolio and the run's record (the venue's, or a live exchange's)."""
        for fill in fills:
            self.portfolio.apply_fill(fill.qty, fill.price, fill.fee)
            self.fills.append(fill)

    # -- decisions ------------------------------------------------------------------------------

    def _expert_outputs(self, t: int) -> tuple[dict[str, ModelOutput | None], dict[str, str]]:
        outputs: dict[str, ModelOutput | None] = {}
        failures: dict[str, str] = {}
        windows = self.builder.windows(t)
        base = self.builder.assemble(windows, outputs={})
        slot = self.builder.layout.slot_size
        epoch = self.ledger.epoch if self.ledger is not None else 0
        self._windows, self._inputs = windows, {input_id(epoch, t): base}
        self._latest_windows = windows
        for name in self.order:
            upstream = self.abilities[name].upstream
            clock = time.perf_counter()
            x = run_expert(
                name, self.experts[name], base, outputs, failures, slot, upstream=upstream
            )
            self._latency[name] = time.perf_counter() - clock
            if upstream and x is not None:
                self._inputs[input_id(epoch, t, name)] = x
        for name, shadow in self.shadows.items():  # beside the active model, on the same input
            clock = time.perf_counter()
            run_expert(shadow_key(name), shadow, base, outputs, failures, slot,
                       upstream=self.abilities[name].upstream)  # fmt: skip
            self._latency[shadow_key(name)] = time.perf_counter() - clock
        return outputs, failures

    @property
    def last_windows(self) -> InputWindows | None:
        """Return the raw windows the latest decision's input was assembled from (a watcher's view)."""
        return self._latest_windows

    def set_expert(self, name: str, expert: Any) -> None:
        """Replace the active expert ``name`` (a promotion or a rollback) from the next decision."""
        if name not in self.experts:
            raise KeyError(f"no expert {name!r}; the runtime has {sorted(self.experts)}")
        found = check_experts({**self.experts, name: expert})
        if found[name] != self.abilities[name]:
            raise ValueError(f"{name}: a replacement must be able to do what {name} does")
        self.experts[name] = expert

    def set_shadow(self, name: str, expert: Any | None) -> None:
        """Run ``expert`` beside the active ``name`` without a vote (None: stop the shadow)."""
        if expert is None:
            self.shadows.pop(name, None)
            return
        if name not in self.experts:
            raise KeyError(f"no expert {name!r} to shadow; the runtime has {sorted(self.experts)}")
        self.shadows[name] = expert

    def _reads(self, epoch: int, t: int, name: str) -> str:
        """Return the id of the input expert ``name`` (or its shadow) reads at ``t``."""
        return input_id(epoch, t, name if self.abilities[name].upstream else None)

    def _judged(self, outputs: dict[str, ModelOutput | None], failures: dict[str, str]
                ) -> list[tuple[str, str, str]]:  # fmt: skip
        """Return ``(name, role, key)`` of every expert and shadow that ran, in order."""
        ran = [(n, ACTIVE, n) for n in self.order if n in outputs or n in failures]
        ran += [(n, SHADOW, shadow_key(n)) for n in self.order
                if shadow_key(n) in outputs or shadow_key(n) in failures]  # fmt: skip
        return ran

    def _to_ledger(self, t: int, outputs: dict[str, ModelOutput | None], failures: dict[str, str],
                   ran: list[tuple[str, str, str]], decision: Any, size: float,
                   price: float) -> None:  # fmt: skip
        """Hand the decision to the ledger (cheap: the ledger's thread does the writing)."""
        ledger = self.ledger
        if ledger is None:
            return
        epoch = ledger.epoch
        predictions = [
            Prediction(name, outputs.get(key), self._reads(epoch, t, name), role,
                       latency_s=self._latency.get(key, float("nan")),
                       weight=decision.weights.get(key, float("nan")), failure=failures.get(key))
            for name, role, key in ran
        ]  # fmt: skip
        ledger.record(t, self.features.primary_symbol, self.builder.layout, self._windows,
                      self._inputs, predictions, (decision.action.name, decision.probabilities,
                      float(decision.confidence), size, decision.why),
                      base_input=input_id(epoch, t), price=price)  # fmt: skip
        self._windows, self._inputs = None, {}
        self._latency.clear()

    def _resolve(self, t: int) -> None:
        """Judge every decision whose label horizon has passed (``mmts.history.outcomes``).

        At the first decision at or after the horizon, on the same price the runtime decides
        on: the mixture learns the label, the ledger gets every prediction's outcome.
        """
        price = self.decision_price(t)
        if not np.isfinite(price):
            return
        for pending in self.outcomes.due(t):
            label, rows = judge(pending, t, price, self.cfg.costs, self.cfg.dead_zone)
            if label != UNKNOWN:
                self.moe.resolve(pending.when, Action(label))
            if self.ledger is not None:
                self.ledger.rows("outcomes", rows)
            for listener in self.on_outcomes:
                listener(pending, rows)

    def _pending(self, t: int, price: float, outputs: dict[str, ModelOutput | None],
                 ran: list[tuple[str, str, str]], decision: Any, size: float) -> PendingDecision:  # fmt: skip
        """Return what the decision at ``t`` is judged on once its horizon has passed."""
        epoch = self.ledger.epoch if self.ledger is not None else 0
        pending = PendingDecision(t, price, action=int(decision.action), size=size)
        for name, role, key in ran:
            out = outputs.get(key)
            if out is None:
                continue
            pending.names.append(name)
            pending.roles.append(role)
            pending.input_ids.append(self._reads(epoch, t, name))
            pending.actions.append(int(out.action))
            p = np.asarray(out.probabilities, np.float64)
            pending.probabilities.append((float(p[0]), float(p[1]), float(p[2])))
            pending.weights.append(float(decision.weights.get(key, float("nan"))))
        return pending

    def decision_price(self, t: int) -> float:
        """Return the mid of a valid, fresh book at ``t``, else the last primary close."""
        mid = self.builder.book_mid(t)
        return mid if np.isfinite(mid) else self.price

    def _decide(self, t: int) -> None:
        self._resolve(t)
        builder = self.builder
        if (builder.book_known or self.book_required) and not builder.book_valid:
            # A known book that is out of sync (an id gap, a dropped connection) until the next
            # snapshot: no decision may rest on it.
            self.paused.append((t, "order book out of sync"))
            return
        outputs, failures = self.outputs_at(t) if self.outputs_at else self._expert_outputs(t)
        # Shadows are judged beside the active models, never voted with.
        voting = {k: v for k, v in outputs.items() if not is_shadow_key(k)}
        decision = self.moe.decide(
            t, voting, {k: v for k, v in failures.items() if not is_shadow_key(k)}
        )
        price = self.decision_price(t)
        if np.isfinite(price):
            self.decision_prices.append(price)
        prices = np.asarray(self.decision_prices[-self.cfg.risk_window - 1 :])
        returns = prices[1:] / prices[:-1] - 1.0 if prices.shape[0] > 1 else np.zeros(0)
        market = Market(t, price, self.previous_price if np.isfinite(self.previous_price) else price,
                        self.last_data, returns, YEAR_NS / self.cfg.decision_every_ns)  # fmt: skip
        position = self.portfolio.position
        equity = self.portfolio.equity(price) if np.isfinite(price) else float("nan")
        verdict, self.risk_state = assess(decision.action.position, decision.confidence, market,
                                          position, equity, self.risk_state, self.risk)  # fmt: skip
        target, control = controlled_target(verdict.target, position, self.controls)
        if control:
            verdict = dataclasses.replace(
                verdict, target=target, reasons=(*verdict.reasons, control)
            )
        working = sum(w.remaining for w in self.venue.working)
        qty = verdict.target - position - working
        same_side = verdict.target * (position + working) > 0
        small = abs(qty) <= self.cfg.min_rebalance * abs(verdict.target)
        if abs(qty) > 1e-9 and np.isfinite(qty) and not (same_side and small):
            self.venue.cancel_all()
            # What is still working after the cancel (nothing, on the simulated venue; orders in
            # flight or not yet confirmed canceled, on a real one) may still fill: count it.
            qty = verdict.target - position - sum(w.remaining for w in self.venue.working)
            if abs(qty) > 1e-9:
                self.order_id += 1
                order = Order(self.order_id, t, qty)
                self.venue.submit(order)
                self.orders.append(order)
        self.decisions.append({
            "time": t, "action": decision.action.name, "size": float(verdict.target),
            "confidence": float(decision.confidence), "price": float(price),
            "expert_weights": json_text(decision.weights, indent=None),
            "experts": json_text(decision.experts, indent=None), "why": decision.why,
            "left_out": json_text(decision.left_out, indent=None),
            "risk": "; ".join(verdict.reasons), "var": float(verdict.var),
            "expected_shortfall": float(verdict.expected_shortfall),
            "buy_threshold": float(self.moe.config.buy_threshold),
            "sell_threshold": float(self.moe.config.sell_threshold),
        })  # fmt: skip
        ran = self._judged(outputs, failures)  # every expert and shadow that ran, once
        if np.isfinite(price):
            self.outcomes.add(
                self._pending(t, price, outputs, ran, decision, float(verdict.target))
            )
        if self.monitor is not None:
            epoch = self.ledger.epoch if self.ledger is not None else 0
            peak = self.risk_state.equity_peak
            drawdown = 1.0 - equity / peak if np.isfinite(equity) and peak > 0 else float("nan")
            if self.summaries_at is not None:
                summary = self.summaries_at(t)
            else:
                base = self._inputs.get(input_id(epoch, t))
                summary = input_summary(base) if base is not None else None
            self.monitor.on_decision(t, summary, verdict.reasons, drawdown)
        self._to_ledger(t, outputs, failures, ran, decision, float(verdict.target), price)
        if np.isfinite(price):
            self.equity.append(
                (
                    t,
                    float(self.portfolio.equity(price)),
                    float(self.portfolio.position),
                    float(price),
                )
            )
