"""The trading tables of an experiment; they live in ``runtime.config`` (live uses them too)."""

from mmts.runtime.config import (
    BacktestConfig,
    TradingConfig,
    load_trading,
    trading_from_dict,
)

__all__ = ["BacktestConfig", "TradingConfig", "load_trading", "trading_from_dict"]
