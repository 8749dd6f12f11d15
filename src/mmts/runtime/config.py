"""The trading tables of an experiment: ``[strategy]``, ``[risk]``, ``[backtest]`` (backtest and live share them)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmts.config import _build
from mmts.models.experiment import DEFAULT_EXPERIMENT
from mmts.strategy.moe import MoeConfig
from mmts.strategy.risk import RiskConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestConfig:
    """Venue, money and which experts trade.

    ``experts`` names the mixture's members: ``cnn`` and ``rl`` (the active checkpoints),
    ``ma_cross`` and ``imbalance`` (rule experts, always available). Adding or removing one is a
    config change only.
    """

    experts: tuple[str, ...] = ("cnn", "rl", "ma_cross", "imbalance")
    venue: str = "binance"
    latency_ms: float = 50.0
    slippage_bps: float = 1.0
    initial_cash: float = 10_000.0
    fill_timeframe: str = "1m"
    out: str = "runs"


@dataclass(frozen=True, slots=True)
class TradingConfig:
    """Everything above the models that a backtest (or live run) needs."""

    strategy: MoeConfig = field(default_factory=MoeConfig)
    risk: RiskConfig = field(default_factory=RiskConfig)
    backtest: BacktestConfig = field(default_factory=BacktestConfig)


def trading_from_dict(data: dict[str, Any]) -> TradingConfig:
    """Build the trading tables of an experiment (unknown keys are errors)."""
    return TradingConfig(
        _build(MoeConfig, data.get("strategy", {}), "strategy"),
        _build(RiskConfig, data.get("risk", {}), "risk"),
        _build(BacktestConfig, data.get("backtest", {}), "backtest"),
    )


def load_trading(path: str | Path | None = None) -> TradingConfig:
    """Read the trading tables of an experiment TOML (``experiments/default.toml`` when None)."""
    target = Path(path) if path is not None else DEFAULT_EXPERIMENT
    with target.open("rb") as handle:
        return trading_from_dict(tomllib.load(handle))
