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

from mmts.features.inputs import ModelInputLayout
from mmts.history.ledger import Ledger
from mmts.models.finetune import fine_tune, save_model
from mmts.models.predictors import load_cnn


@dataclass
class RetrainJob:
    """Everything a retrain needs (picklable: it may run in another process)."""

    ledger: str
    name: str
    version: str
    parent: str
    model: Any
    input_ids: list[str]
    labels: np.ndarray
    weights: np.ndarray
    settings: dict[str, Any]
    out: str
    at: int
    why: str
    data: tuple[int, int]


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
    result = RetrainResult(job.name, job.version, job.parent, job.out, job.at, job.why, job.data,
                           examples=len(job.input_ids))  # fmt: skip
    try:
        inputs = Ledger(Path(job.ledger)).inputs_for(job.input_ids)
        tuned, losses = fine_tune(job.model, inputs, job.labels, job.weights, version=job.version,
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
