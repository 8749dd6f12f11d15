"""What an expert offers: small protocols, checked once when the experts are put together.

Every expert predicts (:class:`Predictor`). Some can do more, and the runtime, the fast
backtest engine, evaluation and live sessions adapt to that; :func:`abilities` finds out once,
by these protocols, instead of each caller asking ``hasattr`` at every decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from mmts.features.inputs import ModelInput
from mmts.models.output import ModelOutput


@runtime_checkable
class Predictor(Protocol):
    """What every model and rule offers to the rest of the system."""

    name: str
    model_type: str

    def predict(self, x: ModelInput) -> ModelOutput:
        """Return the model's output for one standardized input."""
        ...


@runtime_checkable
class BatchPredictor(Protocol):
    """Predicts many decisions' inputs at once (a network's batch)."""

    def predict_batch(self, xs: list[ModelInput]) -> list[ModelOutput]:
        """Return one output per input, in order."""
        ...


@runtime_checkable
class Resettable(Protocol):
    """Keeps state between decisions (the DQN's position) and can start over."""

    def reset(self) -> None:
        """Forget the state: the next decision is the first."""
        ...


@runtime_checkable
class Stateful(Protocol):
    """Its state survives a restart: a live session saves it and restores it."""

    def state(self) -> dict[str, Any]:
        """Return the state (JSON-safe)."""
        ...

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state`."""
        ...


@runtime_checkable
class Walkable(Protocol):
    """State that can be scored ahead: network outputs for all decisions, then a cheap walk."""

    def scores(self, xs: list[ModelInput]) -> tuple[np.ndarray, np.ndarray]:
        """Return what the walk needs for each input, whatever the state (Q-values, values)."""
        ...

    def walk(self, times: list[int], q3: np.ndarray, v3: np.ndarray) -> list[ModelOutput]:
        """Turn the scores into outputs in time order, carrying the state."""
        ...


#: What a learning expert learns from: weighted labelled examples (a classifier) or the
#: transitions it lived through (the DQN). See ``mmts.models.finetune``.
LEARNS_FROM = ("labels", "transitions")


@runtime_checkable
class Learnable(Protocol):
    """Can be fine-tuned online (``mmts.models.finetune``): a torch network behind the expert."""

    #: One of :data:`LEARNS_FROM`.
    learns_from: str
    net: Any

    def with_net(self, net: Any, version: str) -> Any:
        """Return a copy of this expert around ``net`` (a fine-tuned copy of its own), named ``version``."""
        ...

    def hyper_parameters(self) -> dict[str, Any]:
        """Return what rebuilds the network around its saved weights (the checkpoint's)."""
        ...


@dataclass(frozen=True, slots=True)
class Abilities:
    """What one expert can do beyond :meth:`Predictor.predict`."""

    #: Models whose outputs fill this expert's ``model_outputs`` slots (they run first).
    upstream: tuple[str, ...] = ()
    batch: bool = False
    resettable: bool = False
    stateful: bool = False
    walkable: bool = False
    #: What it learns from online (:data:`LEARNS_FROM`), or "" when it cannot learn.
    learns_from: str = ""

    @property
    def keeps_state(self) -> bool:
        """True when its output depends on earlier decisions, not only on the input."""
        return self.resettable or self.stateful


def abilities(name: str, expert: Any) -> Abilities:
    """Check ``expert`` against the protocols once and say what it can do.

    Raises ``TypeError`` naming the expert for one that cannot predict, or that offers half
    of a protocol (``state`` without ``restore``).
    """
    if not isinstance(expert, Predictor):
        raise TypeError(
            f"expert {name!r} ({type(expert).__name__}) is not a Predictor: it needs `name`, "
            "`model_type` and `predict(x) -> ModelOutput`"
        )
    halves = {"state": "restore", "restore": "state", "scores": "walk", "walk": "scores"}
    for have, need in halves.items():
        if callable(getattr(expert, have, None)) and not callable(getattr(expert, need, None)):
            raise TypeError(f"expert {name!r} has `{have}` but no `{need}`")
    upstream = getattr(expert, "upstream", ())
    if isinstance(upstream, str) or not all(isinstance(u, str) for u in upstream):
        raise TypeError(
            f"expert {name!r}: `upstream` must be a tuple of model names, not {upstream!r}"
        )
    learns_from = ""
    if isinstance(expert, Learnable):
        learns_from = expert.learns_from
        if learns_from not in LEARNS_FROM:
            raise TypeError(f"expert {name!r}: `learns_from` must be one of {LEARNS_FROM}, "
                            f"not {learns_from!r}")  # fmt: skip
    return Abilities(
        upstream=tuple(upstream),
        learns_from=learns_from,
        batch=isinstance(expert, BatchPredictor),
        resettable=isinstance(expert, Resettable),
        stateful=isinstance(expert, Stateful),
        walkable=isinstance(expert, Walkable),
    )


def check_experts(experts: Mapping[str, Any]) -> dict[str, Abilities]:
    """Return every expert's :class:`Abilities` (see :func:`abilities`)."""
    return {name: abilities(name, expert) for name, expert in experts.items()}


def dependency_order(found: Mapping[str, Abilities]) -> list[str]:
    """Expert names in an order where every upstream model runs before what reads it."""
    return sorted(found, key=lambda n: len(found[n].upstream))


def model_slots(found: Mapping[str, Abilities]) -> tuple[str, ...]:
    """Return the ``model_outputs`` slots an input needs for these experts (sorted model names)."""
    return tuple(sorted({u for a in found.values() for u in a.upstream}))
