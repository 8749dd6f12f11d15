"""Model types by name: a new kind of model (LSTM, Transformer, boosting, a rule) plugs in here.

A model type is anything with ``name``, ``model_type`` and ``predict(x: ModelInput) ->
ModelOutput`` (:class:`Predictor`). Registering a factory under a type name lets configs, the
checkpoint store and the orchestrator create it without knowing the class.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from mmts.features.inputs import ModelInput
from mmts.models.output import ModelOutput


@runtime_checkable
class Predictor(Protocol):
    """What every model offers to the rest of the system."""

    name: str
    model_type: str

    def predict(self, x: ModelInput) -> ModelOutput:
        """Return the model's output for one standardized input."""
        ...


_FACTORIES: dict[str, Callable[..., Predictor]] = {}


def register_model_type(model_type: str, factory: Callable[..., Predictor]) -> None:
    """Register ``factory(**kwargs) -> Predictor`` under ``model_type`` (replacing is an error)."""
    if model_type in _FACTORIES and _FACTORIES[model_type] is not factory:
        raise ValueError(f"model type {model_type!r} is already registered")
    _FACTORIES[model_type] = factory


def model_types() -> list[str]:
    """Return the registered model type names."""
    _load_builtins()
    return sorted(_FACTORIES)


def create_model(model_type: str, **kwargs: Any) -> Predictor:
    """Create a model of a registered type."""
    _load_builtins()
    if model_type not in _FACTORIES:
        raise KeyError(f"unknown model type {model_type!r}; registered: {sorted(_FACTORIES)}")
    return _FACTORIES[model_type](**kwargs)


def _load_builtins() -> None:
    # The built-in types register themselves on import; imported here, lazily (torch is heavy).
    from mmts.models import builtin  # noqa: F401
