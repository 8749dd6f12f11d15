"""Backtests: target-position studies (``run_signals``), the event-driven runtime's runs, and runs read back."""

from mmts.backtest.results import BacktestRun, load_run
from mmts.backtest.signals import SignalResult, run_signals, sma_cross_targets

__all__ = ["BacktestRun", "SignalResult", "load_run", "run_signals", "sma_cross_targets"]
