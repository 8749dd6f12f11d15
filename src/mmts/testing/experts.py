"""Untrained experts of an experiment's sizes, for benchmarks and pipeline tests.

The cost of a decision and the plumbing (the DQN reading the CNN's output from its slot) do not
depend on the weights, so benchmarks and parity tests use networks with fixed random weights
(``seed``) instead of waiting for a training run.
"""

from __future__ import annotations

from typing import Any


def untrained_experts(exp: Any, store: Any, at: int, *, seed: int | None = None,
                      rules: tuple[str, ...] = ("ma_cross", "imbalance")) -> dict[str, Any]:  # fmt: skip
    """Build the CNN, the DQN reading it, and the named rule experts (``at`` sizes the DQN)."""
    import torch

    from mmts.features.history import InputHistory
    from mmts.features.inputs import ModelInputLayout
    from mmts.models.cnn import CnnNet
    from mmts.models.predictors import CnnPredictor, DqnPredictor
    from mmts.models.rl.dqn import DuelingQNet
    from mmts.models.rl.train import RL_UPSTREAM
    from mmts.models.summary import summary_features
    from mmts.strategy.rules import ImbalanceRule, MovingAverageRule

    if seed is not None:
        torch.manual_seed(seed)
    layout = ModelInputLayout(config=exp.features)
    rl_layout = ModelInputLayout(config=exp.features, model_slots=RL_UPSTREAM)
    probe = InputHistory(store, at, at, exp.features, RL_UPSTREAM).at(at)
    experts: dict[str, Any] = {
        "cnn": CnnPredictor(CnnNet(layout.shapes(), exp.cnn.channels, exp.cnn.hidden, 0.0), layout),
        "rl": DqnPredictor(DuelingQNet(summary_features(probe).shape[0] + 3, exp.rl.hidden), rl_layout),
    }  # fmt: skip
    known = {"ma_cross": MovingAverageRule, "imbalance": ImbalanceRule}
    experts |= {name: known[name]() for name in rules}
    return experts
