"""Models on the standardized input: one output type, a registry, the CNN, training, evaluation.

Importing this package is light; torch and lightning load with the modules that need them
(``mmts.models.cnn``, ``mmts.models.train``, ``mmts.models.evaluate``).
"""

from mmts.models.output import ACTION_NAMES, Action, ModelOutput
from mmts.models.registry import Predictor, create_model, model_types, register_model_type

__all__ = [
    "ACTION_NAMES",
    "Action",
    "ModelOutput",
    "Predictor",
    "create_model",
    "model_types",
    "register_model_type",
]
