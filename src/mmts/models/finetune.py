"""Fine-tuning a trained classifier on weighted examples (the online learner's retrain step).

Plain torch, no Lightning: a retrain is a few hundred steps on examples already in memory, and
must not pay Lightning's import and trainer set-up on a trading machine. Deterministic: same
model, examples and seed, same weights (one thread; tested).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmts.features.inputs import ModelInput
from mmts.models.predictors import CnnPredictor, collate_inputs, state_hash


def fine_tune_cnn(model: CnnPredictor, inputs: list[ModelInput], labels: np.ndarray,
                  weights: np.ndarray, *, version: str, epochs: int = 1,
                  learning_rate: float = 1e-4, batch_size: int = 64, seed: int = 0,
                  weight_decay: float = 1e-4) -> tuple[CnnPredictor, dict[str, float]]:  # fmt: skip
    """Return a fine-tuned copy of ``model`` (the original is unchanged) and its training losses.

    Minimises the example-weighted cross-entropy with AdamW over ``epochs`` passes in a
    seeded order; ``version`` names the copy (its checkpoint id).
    """
    if len(inputs) != len(labels) or len(labels) != len(weights):
        raise ValueError(
            f"inputs, labels and weights must align: {len(inputs)}, {len(labels)}, {len(weights)}"
        )
    if not inputs:
        raise ValueError("no examples to fine-tune on")
    net = copy.deepcopy(model.net)
    net.train()
    optimiser = torch.optim.AdamW(net.parameters(), lr=learning_rate, weight_decay=weight_decay)
    y = torch.from_numpy(np.array(labels, np.int64))  # copies: a pandas column is read-only
    w = torch.from_numpy(np.array(weights, np.float32))
    generator = np.random.default_rng(seed)
    losses = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # dropout draws
        for _ in range(epochs):
            order = generator.permutation(len(inputs))
            for k in range(0, len(order), batch_size):
                idx = order[k : k + batch_size]
                logits, _ = net(collate_inputs([inputs[i] for i in idx]))
                per = torch.nn.functional.cross_entropy(logits, y[idx], reduction="none")
                loss = (per * w[idx]).sum() / w[idx].sum().clamp(min=1e-12)
                optimiser.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                optimiser.step()
                losses.append(loss.item())
    net.eval()
    tuned = CnnPredictor(net, model.layout, name=model.name, version=version, symbol=model.symbol)
    return tuned, {"loss_first": losses[0], "loss_last": losses[-1], "steps": float(len(losses))}


def save_cnn(model: CnnPredictor, path: Path) -> str:
    """Write ``model`` as a checkpoint :func:`~mmts.models.predictors.load_cnn` reads; return its hash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    blob: dict[str, Any] = {
        "state_dict": {f"net.{k}": v for k, v in model.net.state_dict().items()},
        "hyper_parameters": dict(model.net.hyper),
    }
    torch.save(blob, path)
    return state_hash(model.net)


def learnable(model: object) -> bool:
    """Whether the online learner can fine-tune ``model`` (:func:`fine_tune`)."""
    return isinstance(model, CnnPredictor)


def fine_tune(model: Any, inputs: list[ModelInput], labels: np.ndarray, weights: np.ndarray,
              **settings: Any) -> tuple[Any, dict[str, float]]:  # fmt: skip
    """Fine-tune a learnable model (see :func:`learnable`); ``settings`` as :func:`fine_tune_cnn`."""
    if isinstance(model, CnnPredictor):
        return fine_tune_cnn(model, inputs, labels, weights, **settings)
    raise TypeError(f"{type(model).__name__} cannot be fine-tuned online (a CNN can)")


def save_model(model: Any, path: Path) -> str:
    """Write a learnable model's checkpoint (its weights' hash is returned)."""
    if isinstance(model, CnnPredictor):
        return save_cnn(model, path)
    raise TypeError(f"{type(model).__name__} has no checkpoint format here")
