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


def test_sequence_prediction_equals_one_at_a_time(sample_store_path) -> None:
    from mmts.config import FeatureConfig
    from mmts.data import open_store
    from mmts.features.history import InputHistory
    from mmts.models.predictors import DqnPredictor
    from mmts.models.summary import summary_features

    cfg = FeatureConfig(tick={"ETH/USDT": 0.01})
    history = InputHistory(
        open_store(sample_store_path), "2024-08-20T00:00Z", "2024-08-20T02:00Z", cfg, ("cnn",)
    )
    times = np.arange(history.start, history.end, 60 * 10**9)
    rng = np.random.default_rng(1)
    xs = [history.at(int(t), {"cnn": rng.random(36)}) for t in times]
    states = np.stack([summary_features(x) for x in xs])
    std = states.std(0)
    shift = torch.from_numpy(np.concatenate([states.mean(0), np.zeros(3)]).astype(np.float32))
    scale = torch.from_numpy(
        np.concatenate([np.where(std > 0, std, 1.0), np.ones(3)]).astype(np.float32)
    )
    for seed in range(50):  # a random policy whose action (and so position) changes over time
        torch.manual_seed(seed)
        net = DuelingQNet(states.shape[1] + 3, 16)
        net.shift.copy_(shift)
        net.scale.copy_(scale)
        one = DqnPredictor(net, history.layout)
        singles = [one.predict(x) for x in xs]
        if len({o.action for o in singles}) > 1:
            break
    batched = DqnPredictor(net, history.layout).predict_sequence(xs)
    assert [o.action for o in singles] == [o.action for o in batched]
    assert len({o.action for o in singles}) > 1  # the position really changes along the way
    np.testing.assert_allclose(
        [o.q_values for o in singles], [o.q_values for o in batched], rtol=1e-5, atol=1e-6
    )
