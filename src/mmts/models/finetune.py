"""Fine-tuning a trained expert on examples from the ledger (the online learner's retrain step).

Two kinds of learner (``Learnable.learns_from``):

- a classifier (the CNN) learns from weighted labelled examples: the example-weighted
  cross-entropy (:func:`fine_tune_classifier`);
- the DQN learns from transitions: double-DQN temporal-difference steps
  (:func:`fine_tune_dqn`), ``Q(s, a) -> scale * r + gamma * Q_target(s', argmax Q(s', .))``
  with the target network a frozen copy, synced after every pass.

Plain torch, no Lightning: a retrain is a few hundred steps on examples already in memory, and
must not pay Lightning's import and trainer set-up on a trading machine. Deterministic: same
model, examples and seed, same weights (one thread; tested).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmts.features.inputs import ModelInput
from mmts.models.expert import LEARNS_FROM, Learnable
from mmts.models.output import Action
from mmts.models.predictors import collate_inputs, state_hash
from mmts.models.rl.dqn import REWARD_SCALE


@dataclass
class Labelled:
    """A classifier's examples: inputs, class labels (``Action`` values) and weights."""

    inputs: list[ModelInput]
    labels: np.ndarray
    weights: np.ndarray


@dataclass
class Transitions:
    """The DQN's examples: state input and held position, action, reward, next input.

    The next state is ``next_inputs[i]`` holding the position ``actions[i]`` took.
    """

    inputs: list[ModelInput]
    positions: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_inputs: list[ModelInput]


def _batches(n: int, batch_size: int, generator: np.random.Generator) -> list[np.ndarray]:
    order = generator.permutation(n)
    return [order[k : k + batch_size] for k in range(0, n, batch_size)]


def fine_tune_classifier(model: Any, examples: Labelled, *, version: str, epochs: int = 1,
                         learning_rate: float = 1e-4, batch_size: int = 64, seed: int = 0,
                         weight_decay: float = 1e-4) -> tuple[Any, dict[str, float]]:  # fmt: skip
    """Return a fine-tuned copy of ``model`` (the original is unchanged) and its training losses.

    Minimises the example-weighted cross-entropy with AdamW over ``epochs`` passes in a
    seeded order; ``version`` names the copy (its checkpoint id).
    """
    inputs, labels, weights = examples.inputs, examples.labels, examples.weights
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
            for idx in _batches(len(inputs), batch_size, generator):
                logits, _ = net(collate_inputs([inputs[i] for i in idx]))
                per = torch.nn.functional.cross_entropy(logits, y[idx], reduction="none")
                loss = (per * w[idx]).sum() / w[idx].sum().clamp(min=1e-12)
                optimiser.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                optimiser.step()
                losses.append(loss.item())
    net.eval()
    return model.with_net(net, version), _summary(losses)


def one_hot_positions(positions: np.ndarray) -> np.ndarray:
    """Return the position one-hot (short, flat, long) the DQN's state ends with."""
    index = np.asarray(positions, np.float64).astype(np.int64) + 1
    return np.eye(3, dtype=np.float32)[index]


def fine_tune_dqn(model: Any, examples: Transitions, *, version: str, epochs: int = 1,
                  learning_rate: float = 1e-4, batch_size: int = 64, seed: int = 0,
                  gamma: float = 0.99, weight_decay: float = 0.0) -> tuple[Any, dict[str, float]]:  # fmt: skip
    """Return a DQN fine-tuned on ``examples`` by double-DQN TD steps, and its losses.

    Rewards are learned in the training's scale (``REWARD_SCALE``, per-mille) with its Huber
    loss; the network keeps its standardisation of states (from its original training data).
    """
    n = len(examples.inputs)
    sizes = {len(examples.positions), len(examples.actions), len(examples.rewards),
             len(examples.next_inputs)}  # fmt: skip
    if sizes != {n}:
        raise ValueError(f"transitions must align: {n} inputs, sizes {sorted(sizes)}")
    if not n:
        raise ValueError("no transitions to fine-tune on")
    actions = np.array(examples.actions, np.int64)  # copies: a pandas column is read-only
    if ((actions < 0) | (actions > 2)).any():
        raise ValueError("actions must be Action values 0 (SELL), 1 (HOLD) or 2 (BUY)")
    next_positions = np.array([Action(int(k)).position for k in actions], np.float64)
    s = torch.from_numpy(np.concatenate([np.stack([model.features(x) for x in examples.inputs]),
                                         one_hot_positions(examples.positions)], axis=1))  # fmt: skip
    s2 = torch.from_numpy(np.concatenate([np.stack([model.features(x) for x in examples.next_inputs]),
                                          one_hot_positions(next_positions)], axis=1))  # fmt: skip
    a = torch.from_numpy(actions)
    r = torch.from_numpy(np.array(examples.rewards, np.float32)) * REWARD_SCALE
    net = copy.deepcopy(model.net)
    target = copy.deepcopy(model.net).eval()
    net.train()
    optimiser = torch.optim.AdamW(net.parameters(), lr=learning_rate, weight_decay=weight_decay)
    generator = np.random.default_rng(seed)
    losses = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for _ in range(epochs):
            for idx in _batches(n, batch_size, generator):
                q = net(s[idx])[0].gather(1, a[idx, None]).squeeze(1)
                with torch.no_grad():
                    best = net(s2[idx])[0].argmax(-1, keepdim=True)
                    y = r[idx] + gamma * target(s2[idx])[0].gather(1, best).squeeze(1)
                loss = torch.nn.functional.smooth_l1_loss(q, y)
                optimiser.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                optimiser.step()
                losses.append(loss.item())
            target.load_state_dict(net.state_dict())
    net.eval()
    return model.with_net(net, version), _summary(losses)


def _summary(losses: list[float]) -> dict[str, float]:
    return {"loss_first": losses[0], "loss_last": losses[-1], "steps": float(len(losses))}


def learns_from(model: object) -> str:
    """Return what ``model`` learns from online (``LEARNS_FROM``), or "" when it cannot learn."""
    if isinstance(model, Learnable) and model.learns_from in LEARNS_FROM:
        return model.learns_from
    return ""


def fine_tune(model: Any, examples: Labelled | Transitions, *, version: str,
              **settings: Any) -> tuple[Any, dict[str, float]]:  # fmt: skip
    """Fine-tune a learning expert on its kind of examples (settings as the functions above)."""
    kind = learns_from(model)
    if kind == "labels" and isinstance(examples, Labelled):
        return fine_tune_classifier(model, examples, version=version, **settings)
    if kind == "transitions" and isinstance(examples, Transitions):
        return fine_tune_dqn(model, examples, version=version, **settings)
    raise TypeError(f"{type(model).__name__} (learns from {kind or 'nothing'}) cannot be "
                    f"fine-tuned on {type(examples).__name__}")  # fmt: skip


def save_model(model: Any, path: Path) -> str:
    """Write a learning expert's checkpoint (its loader reads it back); return the weights' hash."""
    if not learns_from(model):
        raise TypeError(f"{type(model).__name__} has no checkpoint format here")
    path.parent.mkdir(parents=True, exist_ok=True)
    blob: dict[str, Any] = {
        "state_dict": {f"net.{k}": v for k, v in model.net.state_dict().items()},
        "hyper_parameters": model.hyper_parameters(),
    }
    torch.save(blob, path)
    return state_hash(model.net)
