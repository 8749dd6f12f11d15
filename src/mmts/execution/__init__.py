"""Execution: what trading costs, and what a position earns net of those costs."""

from mmts.execution.costs import CostModel, position_returns

__all__ = ["CostModel", "position_returns"]
