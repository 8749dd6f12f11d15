"""Backtests: target-position studies (``run_signals``) and, next, the full event-driven runtime."""

from mmts.backtest.signals import SignalResult, run_signals, sma_cross_targets

__all__ = ["SignalResult", "run_signals", "sma_cross_targets"]
