"""The trading environment's reward, the profit-aware replay, and the DQN's pieces."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmts.execution import CostModel, position_returns
from mmts.models.rl.dqn import DuelingQNet
from mmts.models.rl.env import TradingEnv
from mmts.models.rl.replay import PrioritizedReplay


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(50, 200), min_size=3, max_size=40), st.data())
def test_episode_rewards_equal_the_shared_cost_model(prices: list[float], data) -> None:
    p = np.array(prices)
    actions = data.draw(
        st.lists(st.integers(0, 2), min_size=p.shape[0] - 1, max_size=p.shape[0] - 1)
    )
    costs = CostModel(taker_fee=0.001, half_spread=0.0001)
    env = TradingEnv(np.zeros((p.shape[0], 2)), p, costs)
    env.reset(options={"start": 0})
    rewards, done = [], False
    for a in actions:
        assert not done
        _, r, _, done, _ = env.step(a)
        rewards.append(r)
    assert done
    positions = np.array([a - 1.0 for a in actions] + [0.0])
    want, _ = position_returns(positions, p, costs)
    np.testing.assert_allclose(rewards, want, rtol=1e-12, atol=1e-15)


def test_observation_carries_the_position() -> None:
    env = TradingEnv(np.ones((5, 2)), np.arange(1.0, 6.0), CostModel(), episode_length=3)
    obs, _ = env.reset(seed=1, options={"start": 0})
    assert obs[-3:].tolist() == [0.0, 1.0, 0.0]
    obs, *_ = env.step(2)
    assert obs[-3:].tolist() == [0.0, 0.0, 1.0]


def test_profitable_transitions_get_higher_priority() -> None:
    replay = PrioritizedReplay(8, 2, profit_weight=10.0)
    for reward in (0.002, -0.002, 0.0, 0.001):
        replay.push(np.zeros(2), 1, reward, np.zeros(2), False)
    replay.update(np.arange(4), np.full(4, 0.5))
    pr = replay.priority[:4]
    assert pr[0] > pr[3] > pr[2] and pr[1] == pr[2]
    idx, *_, weight = replay.sample(256, 0.4, np.random.default_rng(0))
    assert np.bincount(idx, minlength=4)[0] > np.bincount(idx, minlength=4)[1]
    assert weight.max() == 1.0


def test_dueling_head_centres_advantages() -> None:
    net = DuelingQNet(4, 8)
    q, value = net(torch.randn(5, 4))
    torch.testing.assert_close(q.mean(-1), value)
