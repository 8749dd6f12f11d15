"""Prioritized experience replay whose priority rewards profitable transitions too.

Priority of a transition: ``(|TD error| + eps) ** alpha * (1 + profit_weight * max(reward, 0) /
mean |reward|)`` — the usual proportional priority, scaled up for transitions that made money
(the seed asks for profit-based prioritisation; dividing by the mean absolute reward in the
buffer makes ``profit_weight`` independent of the return scale). Sampling probability is priority / total; importance weights
``(n * P) ** -beta`` (normalised by their maximum) correct the bias.
"""

from __future__ import annotations

import numpy as np


class PrioritizedReplay:
    """A ring buffer of ``(state, action, reward, next_state, done)`` with priorities."""

    def __init__(self, capacity: int, state_dim: int, *, alpha: float = 0.6,
                 profit_weight: float = 10.0, eps: float = 1e-6) -> None:  # fmt: skip
        self.capacity = int(capacity)
        self.state = np.zeros((capacity, state_dim), np.float32)
        self.next_state = np.zeros((capacity, state_dim), np.float32)
        self.action = np.zeros(capacity, np.int64)
        self.reward = np.zeros(capacity, np.float32)
        self.done = np.zeros(capacity, np.float32)
        self.priority = np.zeros(capacity, np.float64)
        self.alpha, self.profit_weight, self.eps = alpha, profit_weight, eps
        self.size = 0
        self.cursor = 0

    def __len__(self) -> int:
        return self.size

    def push(self, state: np.ndarray, action: int, reward: float, next_state: np.ndarray,
             done: bool) -> None:  # fmt: skip
        """Add a transition with the current maximum priority (so it is replayed soon)."""
        k = self.cursor
        self.state[k], self.next_state[k] = state, next_state
        self.action[k], self.reward[k], self.done[k] = action, reward, float(done)
        top = self.priority[: self.size].max() if self.size else 1.0
        self.priority[k] = max(top, self.eps)
        self.cursor = (k + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch: int, beta: float, rng: np.random.Generator
               ) -> tuple[np.ndarray, ...]:  # fmt: skip
        """Return ``(index, state, action, reward, next_state, done, weight)``."""
        p = self.priority[: self.size]
        probs = p / p.sum()
        index = rng.choice(self.size, size=batch, p=probs)
        weight = (self.size * probs[index]) ** -beta
        weight = (weight / weight.max()).astype(np.float32)
        return (index, self.state[index], self.action[index], self.reward[index],
                self.next_state[index], self.done[index], weight)  # fmt: skip

    def update(self, index: np.ndarray, td_error: np.ndarray) -> None:
        """Set the priorities of sampled transitions from their new TD errors and rewards."""
        profit = 1.0 + self.profit_weight * np.maximum(self.reward[index], 0.0) / max(
            float(np.abs(self.reward[: self.size]).mean()), 1e-12
        )
        self.priority[index] = (np.abs(td_error) + self.eps) ** self.alpha * profit
