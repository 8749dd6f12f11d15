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

from mmts.features.inputs import ModelInputLayout
from mmts.history.examples import classification_examples
from mmts.history.ledger import Ledger
from mmts.models.finetune import fine_tune, save_model
from mmts.models.predictors import load_cnn


@dataclass
class RetrainJob:
    """Everything a retrain needs (picklable: it may run in another process).

    It learns from ``name``'s judged examples made before ``end``: the ``window`` most recent
    and a ``replay_fraction`` sample (seeded) of the older ones.
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


def select_examples(ledger: Ledger, job: RetrainJob) -> tuple[pd.DataFrame, tuple[int, int]]:
    """Return the examples ``job`` learns from and the span of the recent ones."""
    examples = classification_examples(ledger, job.name, end=job.end + 1)
    if len(examples) < int(job.settings.get("batch_size", 1)):
        raise ValueError(
            f"{len(examples)} judged examples of {job.name} so far: too few to learn from"
        )
    recent = examples.iloc[-job.window :]
    older = examples.iloc[: -job.window]
    k = min(len(older), round(job.replay_fraction * len(recent)))
    rng = np.random.default_rng(int(job.settings.get("seed", 0)))
    sample = older.iloc[np.sort(rng.choice(len(older), k, replace=False))] if k else older.iloc[:0]
    chosen = pd.concat([sample, recent])
    span = (int(recent["time"].iloc[0].value), int(recent["time"].iloc[-1].value))
    return chosen, span


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


def run_retrain(job: RetrainJob, keep_model: bool = True) -> RetrainResult:
    """Carry out ``job``; failures come back as ``error`` (never raised: trading goes on)."""
    result = RetrainResult(job.name, job.version, job.parent, job.out, job.at, job.why, (0, 0))
    try:
        ledger = Ledger(Path(job.ledger))
        chosen, result.data = select_examples(ledger, job)
        result.examples = len(chosen)
        inputs = ledger.inputs_for([str(i) for i in chosen["input_id"]])
        tuned, losses = fine_tune(job.model, inputs, chosen["label"].to_numpy(np.int64),
                                  chosen["weight"].to_numpy(np.float64), version=job.version,
                                  **job.settings)  # fmt: skip
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
    return load_cnn({"id": result.version, "path": result.path, "model": result.name,
                     "layout": layout.describe()}, layout)  # fmt: skip
