"""A gymnasium trading environment on precomputed decision states and the shared cost model.

The agent walks decision times in order. The observation at step ``i`` is the state row
``states[i]`` (the standardized input summarised, with the CNN's hidden state and prediction
from the ``model_outputs`` block) followed by the one-hot current position (short, flat, long).
An action is a target position: SELL -> -1, HOLD -> 0, BUY -> +1.

Reward (``mmts.execution.costs.step_reward``, as ``position_returns`` per step)::

    reward_i = pos_i * (price[i + 1] / price[i] - 1) - per_fill * |pos_i - pos_{i-1}|

where ``pos_i`` is the position chosen at step ``i`` (held until the next decision) and
``per_fill`` is the cost model's taker fee + half spread + slippage. When the episode ends, the
closing fill (``per_fill * |pos_last|``) is charged on the last step, so an episode's rewards
sum to the same net result the evaluation and the backtest compute.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from mmts.execution.costs import CostModel, step_reward
from mmts.models.output import Action


class TradingEnv(gym.Env):
    """Episodes of ``episode_length`` decisions (random start) over ``states`` and ``prices``."""

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012

    def __init__(self, states: np.ndarray, prices: np.ndarray, costs: CostModel,
                 episode_length: int | None = None) -> None:  # fmt: skip
        states = np.asarray(states, np.float32)
        prices = np.asarray(prices, np.float64)
        if states.ndim != 2 or states.shape[0] != prices.shape[0]:
            raise ValueError(
                f"states [n, d] and prices [n] must align; got {states.shape}, {prices.shape}"
            )
        if states.shape[0] < 2:
            raise ValueError("need at least 2 decisions")
        if not np.isfinite(states).all() or not np.isfinite(prices).all() or (prices <= 0).any():
            raise ValueError("states and prices must be finite (prices positive)")
        self.states, self.prices, self.costs = states, prices, costs
        n = states.shape[0]
        self.episode_length = min(episode_length or n - 1, n - 1)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (states.shape[1] + 3,), np.float32)
        self.action_space = gym.spaces.Discrete(3)
        self.i = 0
        self.end = 0
        self.position = 0.0

    def observe(self, i: int, position: float) -> np.ndarray:
        """Return the observation of state ``i`` holding ``position``."""
        one_hot = np.zeros(3, np.float32)
        one_hot[int(position) + 1] = 1.0
        return np.concatenate([self.states[i], one_hot])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:  # fmt: skip
        """Start an episode at a random decision (``options={"start": i}`` fixes it)."""
        super().reset(seed=seed)
        last_start = self.states.shape[0] - 1 - self.episode_length
        start = (options or {}).get("start")
        self.i = (
            int(start) if start is not None else int(self.np_random.integers(0, last_start + 1))
        )
        self.end = self.i + self.episode_length
        self.position = 0.0
        return self.observe(self.i, self.position), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Take the target position of ``action``; return the next observation and the reward."""
        target = float(Action(int(action)).position)
        cost = self.costs.per_fill * abs(target - self.position)
        market = self.prices[self.i + 1] / self.prices[self.i] - 1.0
        gross = target * market
        reward = float(step_reward(target, self.position, market, self.costs))
        self.position = target
        self.i += 1
        done = self.i >= self.end
        if done:
            cost += self.costs.per_fill * abs(self.position)  # close at the end
            reward -= self.costs.per_fill * abs(self.position)
        info = {"position": target, "gross": gross, "cost": cost}
        return self.observe(self.i, self.position), float(reward), False, done, info
