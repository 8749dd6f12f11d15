"""The ledger's settings: retention (``[history]``) and alerts (``[alerts]``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mmts.core.settings import check_settings, option


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryConfig:
    """How much of the inference ledger stays on disk, and where the rest goes."""

    TABLE: ClassVar[str] = "history"

    enabled: bool = option(
        True, doc="write the inference ledger (off: no ledger, no online learning)"
    )
    max_bytes: int | None = option(
        None, ge=1, doc="archive the oldest days beyond this many bytes of ledger (none: no limit)"
    )
    max_age_days: float | None = option(
        None, gt=0, doc="archive days older than this (none: keep every day)"
    )
    archive_dir: str | None = option(None, doc="where archives go (none: <ledger>/archive)")
    keep_longer: float = option(
        2.0,
        ge=1,
        doc="notable predictions (large outcomes, confident mistakes) stay this many times longer",
    )

    def __post_init__(self) -> None:
        check_settings(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertsConfig:
    """Where alerts go beyond the log and the ledger, and the thresholds that raise them."""

    TABLE: ClassVar[str] = "alerts"

    webhook_url: str | None = option(
        None, doc="POST each alert as JSON here (none: log and ledger only)"
    )
    window: int = option(200, ge=10, doc="judged predictions the rolling scores cover")
    min_accuracy: float = option(0.34, ge=0, le=1, doc="rolling accuracy below this alerts")
    max_brier: float = option(0.75, gt=0, le=2, doc="rolling Brier score above this alerts")
    max_calibration_gap: float = option(
        0.25, gt=0, le=1, doc="|mean confidence - accuracy| above this alerts"
    )
    max_psi: float = option(
        0.25, gt=0, doc="input drift: population stability index of a block summary above this"
    )
    drift_reference: str = option(
        "training",
        choices=("training", "start"),
        doc="drift is measured against inputs of the first trained expert's training period "
        "(or, when unknown, and with `start`, the run's first `window` decisions)",
    )
    stale_feed_s: float = option(30.0, gt=0, doc="no new decision for this long alerts")
    max_masked: float = option(
        0.5, gt=0, le=1, doc="share of an input block masked above this alerts"
    )
    drawdown_warning: float = option(
        0.8, gt=0, le=1, doc="alert when drawdown reaches this share of the risk limit"
    )
    max_disk_bytes: int | None = option(
        None,
        ge=1,
        doc="alert when the ledger takes more disk than this (none: [history] max_bytes)",
    )

    def __post_init__(self) -> None:
        check_settings(self)
