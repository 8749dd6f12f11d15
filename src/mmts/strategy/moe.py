"""The mixture of experts: combine expert outputs with weights that track their record.

Each expert's weight follows an exponential moving average of its accuracy and of its Brier
score (calibration), updated only in :meth:`MixtureOfExperts.resolve`, i.e. once the outcome of
a past decision is known — never from the future. Weights are ``accuracy * (1 - brier / 2)``,
normalised over the experts that produced an output; an expert that failed or has none leaves
the mixture for that decision (and it is logged and recorded).

The mixed probabilities decide: BUY when ``p_buy >= buy_threshold`` (and above ``p_sell``),
SELL when ``p_sell >= sell_threshold``, HOLD otherwise. Hysteresis keeps a standing BUY/SELL
while its probability stays above the threshold minus ``hysteresis``; a cool-down blocks any
change of stance within ``cooldown_s`` of the last one. Every decision records why.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np

from mmts.core.settings import check_settings, option
from mmts.models.output import NO_USABLE_INPUT, Action, ModelOutput

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class MoeConfig:
    """Thresholds, churn control and how fast expert weights adapt (the ``[strategy]`` table)."""

    TABLE: ClassVar[str] = "strategy"

    buy_threshold: float = option(0.55, gt=0, le=1, doc="mixed p_buy needed to BUY")
    sell_threshold: float = option(0.55, gt=0, le=1, doc="mixed p_sell needed to SELL")
    hysteresis: float = option(
        0.05,
        ge=0,
        lt=1,
        doc="a standing BUY/SELL holds while its p stays above threshold minus this",
    )
    cooldown_s: float = option(300.0, ge=0, doc="seconds after a change of stance before the next")
    learning_rate: float = option(
        0.05, gt=0, le=1, doc="weight of the newest outcome in the experts' accuracy/Brier averages"
    )

    def __post_init__(self) -> None:
        check_settings(self)


@dataclass
class ExpertRecord:
    """An expert's tracked accuracy and calibration (priors: a coin-flip-ish expert)."""

    accuracy: float = 0.5
    brier: float = 0.5
    resolved: int = 0

    @property
    def score(self) -> float:
        """Weight before normalisation."""
        return max(self.accuracy * (1.0 - self.brier / 2.0), 1e-6)


@dataclass(frozen=True)
class MoeDecision:
    """A decision and everything that went into it."""

    time: int
    action: Action
    confidence: float
    probabilities: np.ndarray
    weights: dict[str, float]
    experts: dict[str, dict[str, Any]]
    why: str
    left_out: dict[str, str] = field(default_factory=dict)


class MixtureOfExperts:
    """Stateful combiner: :meth:`decide` per decision time, :meth:`resolve` when outcomes land."""

    def __init__(self, config: MoeConfig | None = None) -> None:
        self.config = config or MoeConfig()
        self.records: dict[str, ExpertRecord] = {}
        self.pending: dict[int, dict[str, np.ndarray]] = {}
        self.stance = Action.HOLD
        self.last_change = -(2**62)

    def weights(self, names: list[str]) -> dict[str, float]:
        """Normalised weights of ``names`` from their records."""
        scores = {n: self.records.setdefault(n, ExpertRecord()).score for n in names}
        total = sum(scores.values())
        return {n: s / total for n, s in scores.items()} if total > 0 else {}

    def decide(self, time: int, outputs: dict[str, ModelOutput | None],
               failures: dict[str, str] | None = None) -> MoeDecision:  # fmt: skip
        """Combine the experts' outputs at ``time`` into a decision."""
        cfg = self.config
        left_out = dict(failures or {})
        usable: dict[str, ModelOutput] = {}
        for name, out in outputs.items():
            if out is None:
                left_out.setdefault(name, "no output")
            elif not np.isfinite(out.probabilities).all():
                left_out[name] = "non-finite probabilities"
            else:
                usable[name] = out
        for name, reason in left_out.items():
            # Routine on history without a book: not worth a warning per decision.
            level = logging.DEBUG if reason.startswith(NO_USABLE_INPUT) else logging.WARNING
            log.log(level, "expert %s left the mixture at %d: %s", name, time, reason)
        weights = self.weights(sorted(usable))
        probs = np.zeros(3)
        for name, out in usable.items():
            probs += weights[name] * np.asarray(out.probabilities, np.float64)
        if not usable:
            probs = np.array([0.0, 1.0, 0.0])
        p_sell, p_buy = probs[int(Action.SELL)], probs[int(Action.BUY)]
        keep_buy = self.stance is Action.BUY and p_buy >= cfg.buy_threshold - cfg.hysteresis
        keep_sell = self.stance is Action.SELL and p_sell >= cfg.sell_threshold - cfg.hysteresis
        if (p_buy >= cfg.buy_threshold and p_buy > p_sell) or keep_buy:
            wanted, test = (
                Action.BUY,
                f"p_buy {p_buy:.3f} vs threshold {cfg.buy_threshold}"
                + (f" (held: >= {cfg.buy_threshold - cfg.hysteresis:.3f})" if keep_buy else ""),
            )
        elif (p_sell >= cfg.sell_threshold and p_sell > p_buy) or keep_sell:
            wanted, test = (
                Action.SELL,
                f"p_sell {p_sell:.3f} vs threshold {cfg.sell_threshold}"
                + (f" (held: >= {cfg.sell_threshold - cfg.hysteresis:.3f})" if keep_sell else ""),
            )
        else:
            wanted, test = Action.HOLD, (f"p_buy {p_buy:.3f} < {cfg.buy_threshold} and "
                                         f"p_sell {p_sell:.3f} < {cfg.sell_threshold}")  # fmt: skip
        action = wanted
        if wanted is not self.stance:
            since = (time - self.last_change) / 1e9
            if since < cfg.cooldown_s:
                action = self.stance
                test += f"; cool-down: {since:.0f} s < {cfg.cooldown_s:.0f} s since the last change, keep {self.stance.name}"
            else:
                self.stance, self.last_change = wanted, time
        if not usable:
            test = "no expert produced an output: HOLD"
            action = self.stance = Action.HOLD
        self.pending[time] = {n: np.asarray(o.probabilities, np.float64) for n, o in usable.items()}
        experts = {n: {"action": o.action.name,
                       "confidence": o.confidence if np.isfinite(o.confidence) else None,
                       "probabilities": [float(p) for p in o.probabilities], "weight": weights[n]}
                   for n, o in usable.items()}  # fmt: skip
        return MoeDecision(
            time, action, float(probs[int(action)]), probs, weights, experts, test, left_out
        )

    def state(self) -> dict[str, Any]:
        """Return the mixture's memory (records, predictions awaiting outcomes, stance), JSON-safe."""
        return {
            "records": {n: asdict(r) for n, r in self.records.items()},
            "pending": {str(t): {n: p.tolist() for n, p in made.items()}
                        for t, made in self.pending.items()},
            "stance": int(self.stance), "last_change": self.last_change,
        }  # fmt: skip

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state`."""
        self.records = {n: ExpertRecord(**r) for n, r in state["records"].items()}
        self.pending = {int(t): {n: np.asarray(p) for n, p in made.items()}
                        for t, made in state["pending"].items()}  # fmt: skip
        self.stance = Action(int(state["stance"]))
        self.last_change = int(state["last_change"])

    def resolve(self, time: int, outcome: Action) -> None:
        """Score the experts' predictions made at ``time`` against the realised ``outcome``."""
        made = self.pending.pop(time, None)
        if made is None:
            return
        lr = self.config.learning_rate
        truth = np.zeros(3)
        truth[int(outcome)] = 1.0
        for name, probs in made.items():
            rec = self.records.setdefault(name, ExpertRecord())
            correct = float(int(np.argmax(probs)) == int(outcome))
            rec.accuracy += lr * (correct - rec.accuracy)
            rec.brier += lr * (float(((probs - truth) ** 2).sum()) - rec.brier)
            rec.resolved += 1
