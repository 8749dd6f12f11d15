"""The dueling Q-network: ``Q(s, a) = V(s) + A(s, a) - mean_a A(s, a)``, inputs standardised."""

from __future__ import annotations

import torch
from torch import nn

#: Rewards are learned in per-mille of return: a linear rescale of Q that leaves the greedy
#: policy unchanged and keeps the Huber loss in its quadratic range (one unit is about a fee).
REWARD_SCALE = 1000.0


class DuelingQNet(nn.Module):
    """MLP trunk with value and advantage heads over SELL/HOLD/BUY.

    ``shift``/``scale`` standardise the state; they come from the training states only and are
    saved with the weights.
    """

    shift: torch.Tensor
    scale: torch.Tensor

    def __init__(self, state_dim: int, hidden: int) -> None:
        super().__init__()
        self.register_buffer("shift", torch.zeros(state_dim))
        self.register_buffer("scale", torch.ones(state_dim))
        self.trunk = nn.Sequential(
            nn.Linear(state_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU()
        )
        self.value = nn.Linear(hidden, 1)
        self.advantage = nn.Linear(hidden, 3)

    def forward(self, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(q [B, 3], value [B])``."""
        h = self.trunk((state - self.shift) / self.scale)
        value = self.value(h)
        adv = self.advantage(h)
        return value + adv - adv.mean(-1, keepdim=True), value.squeeze(-1)
