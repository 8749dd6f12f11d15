"""Strategy: from model outputs to a target position — mixture of experts, then risk."""

from mmts.strategy import rules  # noqa: F401 - registers the rule experts (ma_cross, imbalance)
