"""Register the built-in trained kinds, the CNN and the DQN (imported by ``mmts.models``).

Their factories build untrained networks of an experiment's sizes; torch loads only then.
"""

from __future__ import annotations

from typing import Any

from mmts.features.inputs import ModelInputLayout
from mmts.models.expert import Predictor
from mmts.models.registry import register_model_type


def untrained_cnn(layout: ModelInputLayout, channels: int = 16, hidden: int = 32,
                  dropout: float = 0.0, name: str = "cnn", **_: Any) -> Predictor:  # fmt: skip
    """Return a CNN expert with fresh weights."""
    from mmts.models.cnn import CnnNet
    from mmts.models.predictors import CnnPredictor

    return CnnPredictor(CnnNet(layout.shapes(), channels, hidden, dropout), layout, name=name)


def untrained_dqn(layout: ModelInputLayout, state_dim: int, hidden: int = 64, name: str = "rl",
                  **_: Any) -> Predictor:  # fmt: skip
    """Return a DQN expert with fresh weights; ``state_dim`` is its summary's width."""
    from mmts.models.predictors import DqnPredictor
    from mmts.models.rl.dqn import DuelingQNet

    return DqnPredictor(DuelingQNet(state_dim + 3, hidden), layout, name=name)


register_model_type("cnn", untrained_cnn, trained=True)
register_model_type("rl", untrained_dqn, trained=True)
