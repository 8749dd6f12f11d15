"""Experts by name: the one table of what an experiment's ``[backtest] experts`` may name.

A new kind of expert (boosting, a rule, another network) plugs in with
:func:`register_model_type`. A *trained* kind names how it trains (``mmts train``, each fold of
``mmts study``) and how its promoted checkpoint is loaded when a runtime starts
(``models.predictors.load_active_models``); its factory builds an untrained one (benchmarks,
tests). Any other kind is built by its factory, ``factory(name=...)``. The built-in trained
kinds (``cnn``, ``rl``, ``lstm``, ``transformer``) register in ``mmts.models.builtin``; the
rules (``ma_cross``, ``imbalance``) in ``mmts.strategy.rules``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mmts.models.expert import Predictor


@dataclass(frozen=True, slots=True)
class ModelKind:
    """One registered kind: its name, how to build one, and whether (and how) it trains.

    ``train(store, exp, *, progress, checkpoint_dir, segments) -> summary`` trains one and
    registers its best checkpoints; ``load(entry, layout)`` reads one of them back;
    ``upstream`` names the kinds whose outputs it reads (trained and loaded first; their
    outputs fill its input's ``model_outputs`` slots).
    """

    name: str
    factory: Callable[..., Predictor]
    trained: bool = False
    train: Callable[..., dict[str, Any]] | None = None
    upstream: tuple[str, ...] = ()
    load: Callable[..., Predictor] | None = None


_KINDS: dict[str, ModelKind] = {}


def register_model_type(model_type: str, factory: Callable[..., Predictor], *,
                        trained: bool = False, train: Callable[..., dict[str, Any]] | None = None,
                        upstream: tuple[str, ...] = (),
                        load: Callable[..., Predictor] | None = None) -> None:  # fmt: skip
    """Register ``factory(**kwargs) -> Predictor`` under ``model_type`` (replacing is an error)."""
    known = _KINDS.get(model_type)
    if known is not None and known.factory is not factory:
        raise ValueError(f"model type {model_type!r} is already registered")
    if (train is not None or load is not None) and not trained:
        raise ValueError(f"model type {model_type!r}: train and load need trained=True")
    _KINDS[model_type] = ModelKind(model_type, factory, trained, train, tuple(upstream), load)


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


def trained_types() -> list[str]:
    """Return the registered kinds that come from training."""
    return [name for name in model_types() if _KINDS[name].trained]


def training_order(names: tuple[str, ...] | list[str]) -> list[str]:
    """Return the trained kinds among ``names``, each after the kinds it reads (``upstream``)."""
    wanted = [n for n in names if model_kind(n).trained]
    done: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in done:
            return
        if name in path:
            raise ValueError(f"model types read each other: {' -> '.join((*path, name))}")
        for up in model_kind(name).upstream:
            if up not in wanted:
                raise ValueError(f"{name} reads the outputs of {up}: add {up} to the experts")
            visit(up, (*path, name))
        done.append(name)

    for name in wanted:
        visit(name, ())
    return done
