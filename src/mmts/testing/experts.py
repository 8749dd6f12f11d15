"""Untrained experts of an experiment's sizes, for benchmarks and pipeline tests.

The cost of a decision and the plumbing (the DQN reading the CNN's output from its slot) do not
depend on the weights, so benchmarks and parity tests use networks with fixed random weights
(``seed``) instead of waiting for a training run.
"""

from __future__ import annotations

from typing import Any

from mmts.core.stores import MarketData


def untrained_experts(exp: Any, store: MarketData, at: int, *, seed: int | None = None,
                      rules: tuple[str, ...] = ("ma_cross", "imbalance")) -> dict[str, Any]:  # fmt: skip
    """Build the CNN, the DQN reading it, and the named rule experts (``at`` sizes the DQN)."""
    import torch

    from mmts.features.history import InputHistory
    from mmts.features.inputs import ModelInputLayout
    from mmts.models.predictors import RL_UPSTREAM
    from mmts.models.registry import create_model
    from mmts.models.summary import summary_features

    if seed is not None:
        torch.manual_seed(seed)
    layout = ModelInputLayout(config=exp.features)
    rl_layout = ModelInputLayout(config=exp.features, model_slots=RL_UPSTREAM)
    probe = InputHistory(store, at, at, exp.features, RL_UPSTREAM).at(at)
    experts: dict[str, Any] = {
        "cnn": create_model("cnn", layout=layout, channels=exp.cnn.channels, hidden=exp.cnn.hidden),
        "rl": create_model("rl", layout=rl_layout, state_dim=summary_features(probe).shape[0],
                           hidden=exp.rl.hidden),
    }  # fmt: skip
    experts |= {name: create_model(name, name=name) for name in rules}
    return experts
