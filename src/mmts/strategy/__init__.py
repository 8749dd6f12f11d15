"""Strategy: from model outputs to a target position — mixture of experts, then risk."""
