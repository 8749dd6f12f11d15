"""When to retrain, and when a retrained model may take over (the ``[online]`` table)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mmts.core.settings import SettingsError, check_settings, option


@dataclass(frozen=True, slots=True, kw_only=True)
class OnlineConfig:
    """Online learning with safe promotion: shadows fine-tuned from the ledger, judged, promoted."""

    TABLE: ClassVar[str] = "online"

    enabled: bool = option(False, doc="retrain shadow copies of the learning experts while trading")
    models: tuple[str, ...] = option(
        ("cnn",), doc="experts that learn: the CNN (labels) and the DQN `rl` (transitions)"
    )
    retrain_every: int = option(500, ge=1, doc="resolved outcomes between retrains")
    window: int = option(1000, ge=1, doc="most recent examples a retrain learns from")
    replay_fraction: float = option(
        0.25,
        ge=0,
        lt=1,
        doc="share of a retrain's examples drawn from older ones (against forgetting)",
    )
    min_outcomes: int = option(
        200, ge=1, doc="judged outcomes a shadow needs (after its cutoff + purge) to be compared"
    )
    max_outcomes: int = option(
        1000, ge=1, doc="a shadow that has not won by this many judged outcomes is dropped"
    )
    min_improvement: float = option(
        0.01, ge=0, lt=1, doc="relative log-loss improvement a shadow needs over the active model"
    )
    pnl_margin_bps: float = option(
        0.0, ge=0, doc="mean net return per decision (bps) by which a shadow must beat the active"
    )
    regression_window: int = option(
        200, ge=10, doc="judged outcomes of the rolling score that can trigger a retrain early"
    )
    regression_margin: float = option(
        0.05, ge=0, doc="retrain early when the rolling log-loss is this much worse than its best"
    )
    epochs: int = option(1, ge=1, doc="passes over the examples per retrain")
    learning_rate: float = option(1e-4, gt=0, doc="fine-tuning learning rate (AdamW)")
    batch_size: int = option(64, ge=1, doc="examples per fine-tuning step")
    all_actions: bool = option(
        True,
        doc="the DQN also learns the actions it did not take at each lived step (exact: our "
        "fills do not move the price in the cost model)",
    )
    rollback: bool = option(
        True, doc="roll a promoted model back when the model it replaced beats it afterwards"
    )

    def __post_init__(self) -> None:
        check_settings(self)
        if self.max_outcomes < self.min_outcomes:
            raise SettingsError(
                f"[online] max_outcomes: expected at least min_outcomes ({self.min_outcomes}), "
                f"got {self.max_outcomes}"
            )
