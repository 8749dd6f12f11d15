"""One retrain: rebuild the examples' inputs from the ledger, fine-tune, save the checkpoint.

The same function runs in the replay's own process (synchronously, deterministic) and in a
live session's background process; it returns what the learner installs, or the error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmts.execution.costs import CostModel
from mmts.features.inputs import ModelInputLayout
from mmts.history.examples import classification_examples, dqn_transitions
from mmts.history.ledger import Ledger
from mmts.models.finetune import Labelled, Transitions, fine_tune, learns_from, save_model
from mmts.models.output import Action
from mmts.models.predictors import load_checkpoint


@dataclass
class RetrainJob:
    """Everything a retrain needs (picklable: it may run in another process).

    It learns from ``name``'s examples made before ``end``: the ``window`` most recent and a
    ``replay_fraction`` sample (seeded) of the older ones. A classifier's examples are its
    judged predictions; the DQN's its lived steps (each with the actions it did not take when
    ``all_actions``), rewarded by ``costs``.
    """

    ledger: str
    name: str
    version: str
    parent: str
    model: Any
    end: int
    window: int
    replay_fraction: float
    settings: dict[str, Any]
    out: str
    at: int
    why: str
    costs: CostModel | None = None
    all_actions: bool = True


def _recent_and_sample(
    examples: pd.DataFrame, job: RetrainJob
) -> tuple[pd.DataFrame, tuple[int, int]]:
    """Return the ``window`` most recent examples plus a seeded sample of the older ones."""
    recent = examples.iloc[-job.window :]
    older = examples.iloc[: -job.window]
    k = min(len(older), round(job.replay_fraction * len(recent)))
    rng = np.random.default_rng(int(job.settings.get("seed", 0)))
    sample = older.iloc[np.sort(rng.choice(len(older), k, replace=False))] if k else older.iloc[:0]
    span = (int(recent["time"].iloc[0].value), int(recent["time"].iloc[-1].value))
    return pd.concat([sample, recent]), span


def select_examples(ledger: Ledger, job: RetrainJob) -> tuple[pd.DataFrame, tuple[int, int]]:
    """Return the examples ``job`` learns from (a table of its kind) and the span of the recent ones."""
    kind = learns_from(job.model)
    if kind == "transitions":
        if job.costs is None:
            raise ValueError(f"{job.name}: a DQN retrain needs the cost model (its reward)")
        examples = dqn_transitions(ledger, job.costs, job.name, end=job.end + 1,
                                   all_actions=job.all_actions)  # fmt: skip
        steps = examples[examples["lived"]]
    else:
        steps = examples = classification_examples(ledger, job.name, end=job.end + 1)
    if len(steps) < int(job.settings.get("batch_size", 1)):
        what = "lived transitions" if kind == "transitions" else "judged examples"
        raise ValueError(f"{len(steps)} {what} of {job.name} so far: too few to learn from")
    chosen, span = _recent_and_sample(steps, job)
    if kind == "transitions":
        chosen = examples[examples["time"].isin(chosen["time"])]
    return chosen, span


def examples_for(ledger: Ledger, model: Any, chosen: pd.DataFrame) -> Labelled | Transitions:
    """Rebuild the inputs of ``chosen`` (see :func:`select_examples`) into ``model``'s examples."""
    if learns_from(model) == "transitions":
        ids = [str(i) for i in chosen["input_id"]]
        next_ids = [str(i) for i in chosen["next_input_id"]]
        unique = sorted(set(ids) | set(next_ids))
        by_id = dict(zip(unique, ledger.inputs_for(unique), strict=True))
        index = {a.name: int(a) for a in Action}
        return Transitions(
            inputs=[by_id[i] for i in ids],
            positions=chosen["position_before"].to_numpy(np.float64),
            actions=chosen["action"].map(index).to_numpy(np.int64),
            rewards=chosen["reward"].to_numpy(np.float64),
            next_inputs=[by_id[i] for i in next_ids],
        )  # fmt: skip
    return Labelled(ledger.inputs_for([str(i) for i in chosen["input_id"]]),
                    chosen["label"].to_numpy(np.int64), chosen["weight"].to_numpy(np.float64))  # fmt: skip


@dataclass
class RetrainResult:
    """A finished retrain: the new checkpoint (or the error that stopped it)."""

    name: str
    version: str
    parent: str
    path: str
    at: int
    why: str
    data: tuple[int, int]
    examples: int = 0
    losses: dict[str, float] = field(default_factory=dict)
    error: str = ""
    #: The model itself when the retrain ran in this process (else load it from ``path``).
    model: Any = None
    model_type: str = "cnn"


def run_retrain(job: RetrainJob, keep_model: bool = True) -> RetrainResult:
    """Carry out ``job``; failures come back as ``error`` (never raised: trading goes on)."""
    result = RetrainResult(job.name, job.version, job.parent, job.out, job.at, job.why, (0, 0),
                           model_type=job.model.model_type)  # fmt: skip
    try:
        ledger = Ledger(Path(job.ledger))
        chosen, result.data = select_examples(ledger, job)
        result.examples = len(chosen)
        examples = examples_for(ledger, job.model, chosen)
        tuned, losses = fine_tune(job.model, examples, version=job.version, **job.settings)
        save_model(tuned, Path(job.out))
    except Exception as e:  # noqa: BLE001 - reported to the learner, which alerts
        result.error = f"{type(e).__name__}: {e}"
        return result
    result.losses = losses
    result.model = tuned if keep_model else None
    return result


def run_retrain_in_background(job: RetrainJob) -> RetrainResult:
    """Run ``job`` in a worker process: one torch thread, at a lower priority than trading."""
    import torch

    torch.set_num_threads(1)
    if hasattr(os, "nice"):
        os.nice(10)
    return run_retrain(job, keep_model=False)


def load_retrained(result: RetrainResult, layout: ModelInputLayout) -> Any:
    """Load the model a background retrain saved."""
    return load_checkpoint(result.model_type, {"id": result.version, "path": result.path,
                                               "model": result.name, "layout": layout.describe()},
                           layout)  # fmt: skip
