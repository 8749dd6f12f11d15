"""Experts by name: the one table of what an experiment's ``[backtest] experts`` may name.

A new kind of expert (an LSTM, a Transformer, boosting, a rule) plugs in with
:func:`register_model_type`. A *trained* kind is loaded from its promoted checkpoint when a
runtime starts (``models.predictors.load_active_models``); its factory builds an untrained one
(benchmarks, tests). Any other kind is built by its factory, ``factory(name=...)``.
The built-in kinds (``cnn``, ``rl``) register in ``mmts.models.builtin``; the rules
(``ma_cross``, ``imbalance``) in ``mmts.strategy.rules``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mmts.models.expert import Predictor


@dataclass(frozen=True, slots=True)
class ModelKind:
    """One registered kind: its name, how to build one, and whether it comes from training."""

    name: str
    factory: Callable[..., Predictor]
    trained: bool = False


_KINDS: dict[str, ModelKind] = {}


def register_model_type(
    model_type: str, factory: Callable[..., Predictor], *, trained: bool = False
) -> None:
    """Register ``factory(**kwargs) -> Predictor`` under ``model_type`` (replacing is an error)."""
    known = _KINDS.get(model_type)
    if known is not None and known.factory is not factory:
        raise ValueError(f"model type {model_type!r} is already registered")
    _KINDS[model_type] = ModelKind(model_type, factory, trained)


def unregister_model_type(model_type: str) -> None:
    """Forget ``model_type`` (a notebook redefining its class registers it again after this)."""
    _KINDS.pop(model_type, None)


def model_types() -> list[str]:
    """Return the registered model type names."""
    return sorted(_KINDS)


def model_kind(model_type: str) -> ModelKind:
    """Return the registered kind ``model_type``; unknown names are an error listing the known."""
    if model_type not in _KINDS:
        raise KeyError(f"unknown model type {model_type!r}; registered: {model_types()}")
    return _KINDS[model_type]


def create_model(model_type: str, **kwargs: Any) -> Predictor:
    """Create a model of a registered type."""
    return model_kind(model_type).factory(**kwargs)
