"""Register the built-in trained kinds: the CNN, the DQN, the LSTM and the Transformer.

Their factories build untrained networks of an experiment's sizes; their train and load
functions import torch (and lightning, to train) only when called, so ``import mmts`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mmts.features.inputs import ModelInputLayout
from mmts.models.expert import Predictor
from mmts.models.registry import register_model_type

if TYPE_CHECKING:  # the CLI's help imports this module: no pandas for it
    from mmts.core.stores import MarketData
    from mmts.models.experiment import Experiment


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


def untrained_sequence(kind: str) -> Any:
    """Return the factory of fresh ``kind`` experts (``lstm``, ``transformer``)."""

    def factory(layout: ModelInputLayout, name: str = kind, **sizes: Any) -> Predictor:
        from mmts.models.predictors import SequencePredictor
        from mmts.models.sequence import build_sequence_net

        shapes = {k: list(v) for k, v in layout.shapes().items()}
        net = build_sequence_net({"kind": kind, "shapes": shapes, **sizes})
        return SequencePredictor(net, layout, name=name)

    return factory


def train_cnn(store: MarketData, exp: Experiment, **kwargs: Any) -> dict[str, Any]:
    """Train the experiment's CNN (``mmts.models.train.train_cnn``; lightning loads only then)."""
    from mmts.models.train import train_cnn as train

    return train(store, exp, **kwargs)


def train_dqn(store: MarketData, exp: Experiment, **kwargs: Any) -> dict[str, Any]:
    """Train the experiment's DQN on the active CNN (``mmts.models.rl.train.train_rl``)."""
    from mmts.models.rl.train import train_rl

    return train_rl(store, exp, **kwargs)


def train_lstm(store: MarketData, exp: Experiment, **kwargs: Any) -> dict[str, Any]:
    """Train the experiment's LSTM (``[lstm]``)."""
    from mmts.models.train import train_sequence

    return train_sequence(store, exp, "lstm", **kwargs)


def train_transformer(store: MarketData, exp: Experiment, **kwargs: Any) -> dict[str, Any]:
    """Train the experiment's Transformer (``[transformer]``)."""
    from mmts.models.train import train_sequence

    return train_sequence(store, exp, "transformer", **kwargs)


def load(model_type: str) -> Any:
    """Return the checkpoint loader of networks of ``model_type`` (``predictors.LOADERS``)."""

    def read(entry: dict[str, Any], layout: ModelInputLayout) -> Predictor:
        from mmts.models.predictors import load_checkpoint

        return load_checkpoint(model_type, entry, layout)  # type: ignore[no-any-return]

    return read


register_model_type("cnn", untrained_cnn, trained=True, train=train_cnn, load=load("cnn"))
register_model_type("rl", untrained_dqn, trained=True, train=train_dqn, upstream=("cnn",),
                    load=load("dqn"))  # fmt: skip
register_model_type("lstm", untrained_sequence("lstm"), trained=True, train=train_lstm,
                    load=load("lstm"))  # fmt: skip
register_model_type("transformer", untrained_sequence("transformer"), trained=True,
                    train=train_transformer, load=load("transformer"))  # fmt: skip
