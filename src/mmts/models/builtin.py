"""Register the built-in model types (imported lazily by the registry)."""

from __future__ import annotations

from typing import Any

from mmts.features.inputs import ModelInputLayout
from mmts.models.registry import Predictor, register_model_type


def _cnn(layout: ModelInputLayout, channels: int = 16, hidden: int = 32, dropout: float = 0.0,
         name: str = "cnn", **_: Any) -> Predictor:  # fmt: skip
    from mmts.models.cnn import CnnNet
    from mmts.models.predictors import CnnPredictor

    return CnnPredictor(CnnNet(layout.shapes(), channels, hidden, dropout), layout, name=name)


register_model_type("cnn", _cnn)
