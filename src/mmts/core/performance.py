"""The one definition of each return statistic: Sharpe, Sortino, drawdown, annualised return.

Every report uses these (the backtest's ``metrics.json``, model evaluation, buy-and-hold beside
them), so two numbers called "Sharpe" are always the same number. The formulas are vectorbt's
``returns`` accessor's (sample standard deviation, downside deviation over all periods), which
tests compare against. A ratio that is undefined (no variation, no drawdown, too few periods)
is ``None``, never ``inf`` or ``nan``: ``metrics.json`` must stay JSON.
"""

from __future__ import annotations

import math

import numpy as np

#: A year for annualising (crypto trades every day): 365 days in ns.
YEAR_NS = 365 * 86_400 * 10**9
#: Annualised figures (annual return, Calmar) from a shorter window are left out (``None``): a
#: few good days compounded to a year say nothing about a year.
MIN_ANNUALISED_DAYS = 30.0


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def sharpe_ratio(returns: np.ndarray, periods_per_year: float) -> float | None:
    """Mean over sample standard deviation (ddof 1) of per-period returns, times √periods/year.

    ``None`` with fewer than two returns or none varying.
    """
    r = np.asarray(returns, np.float64)
    if r.shape[0] < 2:
        return None
    std = float(r.std(ddof=1))
    if std == 0.0:
        return None
    return _finite(float(r.mean()) / std * math.sqrt(periods_per_year))


def sortino_ratio(returns: np.ndarray, periods_per_year: float) -> float | None:
    """Mean over downside deviation (√ of the mean of min(r, 0)² over all periods), annualised.

    ``None`` with fewer than two returns or no losing period.
    """
    r = np.asarray(returns, np.float64)
    if r.shape[0] < 2:
        return None
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    if downside == 0.0:
        return None
    return _finite(float(r.mean()) / downside * math.sqrt(periods_per_year))


def underwater(curve: np.ndarray) -> np.ndarray:
    """Each point's fall from the running peak before it, as a fraction of that peak (≤ 0)."""
    c = np.asarray(curve, np.float64)
    if c.shape[0] == 0:
        return np.zeros(0)
    return c / np.maximum.accumulate(c) - 1.0


def max_drawdown(curve: np.ndarray) -> float:
    """Largest fall from a running peak of a value curve, as a fraction of that peak (≥ 0)."""
    c = np.asarray(curve, np.float64)
    if c.shape[0] == 0:
        return 0.0
    return float(-np.min(underwater(c)))


def annualized_return(total_return: float, years: float) -> float | None:
    """Compound annual growth of ``total_return`` earned over ``years``; ``None`` if undefined."""
    if years <= 0:
        return None
    growth = 1.0 + total_return
    if growth <= 0:
        return -1.0
    return _finite(growth ** (1.0 / years) - 1.0)


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, or ``None`` where the denominator is zero."""
    return _finite(numerator / denominator) if denominator != 0 else None


def format_metric(value: object, spec: str = ".6g") -> str:
    """Format a metric for people: a number by ``spec``, an undefined one (``None``) as n/a."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return format(value, spec)
    return str(value)
