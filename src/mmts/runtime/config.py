"""The trading tables of an experiment: ``[strategy]``, ``[risk]``, ``[backtest]``, ``[online]``, ``[history]``, ``[alerts]``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from mmts.config import timeframe_problem
from mmts.core.settings import SettingsError, build_table, check_settings, option, reference
from mmts.history.config import AlertsConfig, HistoryConfig
from mmts.learning.config import OnlineConfig
from mmts.models.experiment import DEFAULT_EXPERIMENT, check_tables
from mmts.models.registry import model_types
from mmts.strategy.moe import MoeConfig
from mmts.strategy.risk import RiskConfig

#: The mixture's members when ``[backtest] experts`` is not given.
DEFAULT_EXPERTS = ("cnn", "rl", "ma_cross", "imbalance")


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestConfig:
    """Which experts trade, the simulated venue's latency and slippage, and the money.

    ``experts`` names the mixture's members: ``cnn`` and ``rl`` (the active checkpoints),
    ``ma_cross`` and ``imbalance`` (rule experts, always available), or any kind registered with
    ``mmts.models.register_model_type``. Adding or removing one is a config change only. Fees are the experiment's ``[costs]``.
    """

    TABLE: ClassVar[str] = "backtest"

    experts: tuple[str, ...] = option(
        DEFAULT_EXPERTS, choices=model_types, doc="the mixture's members (registered model types)"
    )
    latency_ms: float = option(50.0, ge=0, doc="order travel time to the simulated venue")
    slippage_bps: float = option(
        1.0, ge=0, doc="bar fills: the open moved against the order by this much"
    )
    initial_cash: float = option(10_000.0, gt=0, doc="starting cash, quote currency")
    fill_timeframe: str = option(
        "1m", check=timeframe_problem, doc="primary bars the venue fills against without a book"
    )
    out: str = option("runs", doc="where run folders go")

    def __post_init__(self) -> None:
        check_settings(self)
        if not self.experts:
            raise SettingsError("[backtest] experts: expected at least one expert, got []")


@dataclass(frozen=True, slots=True)
class TradingConfig:
    """Everything above the models that a backtest (or live run) needs."""

    strategy: MoeConfig = field(default_factory=MoeConfig)
    risk: RiskConfig = field(default_factory=RiskConfig)
    backtest: BacktestConfig = field(default_factory=BacktestConfig)
    online: OnlineConfig = field(default_factory=OnlineConfig)
    history: HistoryConfig = field(default_factory=HistoryConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)


def trading_from_dict(data: dict[str, Any]) -> TradingConfig:
    """Build the trading tables of an experiment (unknown tables and keys are errors)."""
    check_tables(data)
    trading = TradingConfig(
        build_table(MoeConfig, data.get("strategy", {})),
        build_table(RiskConfig, data.get("risk", {})),
        build_table(BacktestConfig, data.get("backtest", {})),
        build_table(OnlineConfig, data.get("online", {})),
        build_table(HistoryConfig, data.get("history", {})),
        build_table(AlertsConfig, data.get("alerts", {})),
    )
    missing = [m for m in trading.online.models if m not in trading.backtest.experts]
    if trading.online.enabled and missing:
        raise SettingsError(
            f"[online] models: {missing} are not among [backtest] experts {list(trading.backtest.experts)}"
        )
    if trading.online.enabled and not trading.history.enabled:
        raise SettingsError("[online] enabled needs the ledger: [history] enabled = true")
    return trading


def load_trading(path: str | Path | None = None) -> TradingConfig:
    """Read the trading tables of an experiment TOML (``experiments/default.toml`` when None)."""
    target = Path(path) if path is not None else DEFAULT_EXPERIMENT
    with target.open("rb") as handle:
        return trading_from_dict(tomllib.load(handle))


def settings_tables() -> dict[str, type[Any]]:
    """Every table of an experiment file and the settings class that reads it, in file order."""
    from mmts.models.experiment import TABLE_CLASSES
    from mmts.models.splits import StudyConfig

    return {**TABLE_CLASSES, "strategy": MoeConfig, "risk": RiskConfig, "backtest": BacktestConfig,
            "online": OnlineConfig, "history": HistoryConfig, "alerts": AlertsConfig,
            "study": StudyConfig}  # fmt: skip


def reference_markdown() -> str:
    """Return the reference of every experiment table and key (`mmts config reference`, README)."""
    lines = []
    for table, cls in settings_tables().items():
        summary = (cls.__doc__ or "").strip().splitlines()[0]
        lines += [f"**[{table}]** — {summary}", "", "| key | type | default | allowed | meaning |",
                  "|---|---|---|---|---|"]  # fmt: skip
        for row in reference(cls):
            cells = [f"`{row['key']}`", row["type"], f"`{row['default']}`", row["allowed"] or "",
                     row["doc"]]  # fmt: skip
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def retention_policy(trading: TradingConfig) -> Any:
    """Return the ledger writer's retention callable of ``[history]``/``[alerts]`` (None: none)."""
    from functools import partial

    from mmts.history.retention import enforce

    h = trading.history
    if h.max_bytes is None and h.max_age_days is None and trading.alerts.max_disk_bytes is None:
        return None
    return partial(enforce, max_bytes=h.max_bytes, max_age_days=h.max_age_days,
                   archive_dir=h.archive_dir, keep_longer=h.keep_longer,
                   max_disk_bytes=trading.alerts.max_disk_bytes)  # fmt: skip
