"""Models on the standardized input: one output type, a registry, the CNN, training, evaluation.

Importing this package is light; torch and lightning load with the modules that need them
(``mmts.models.cnn``, ``mmts.models.train``, ``mmts.models.evaluate``).
"""

from mmts.models import builtin  # noqa: F401 - registers the built-in kinds (cnn, rl, lstm, transformer)
from mmts.models.expert import Abilities, Predictor, abilities, check_experts
from mmts.models.output import ACTION_NAMES, Action, ModelOutput
from mmts.models.registry import create_model, model_kind, model_types, register_model_type

__all__ = [
    "ACTION_NAMES",
    "Abilities",
    "Action",
    "ModelOutput",
    "Predictor",
    "abilities",
    "check_experts",
    "create_model",
    "model_kind",
    "model_types",
    "register_model_type",
]
