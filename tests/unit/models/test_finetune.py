"""Fine-tuning online: the DQN's TD step against a plain oracle, checkpoints that load back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mmts.config import FeatureConfig
from mmts.features.inputs import ModelInput, ModelInputLayout
from mmts.models.cnn import CnnNet
from mmts.models.expert import abilities
from mmts.models.finetune import (
    Labelled,
    Transitions,
    fine_tune,
    fine_tune_dqn,
    learns_from,
    save_model,
)
from mmts.models.predictors import CnnPredictor, DqnPredictor, load_checkpoint, state_hash
from mmts.models.rl.dqn import REWARD_SCALE, DuelingQNet

LAYOUT = ModelInputLayout(config=FeatureConfig(frames=20, timeframes=("1m",)), model_slots=("cnn",))


def _inputs(n: int, seed: int) -> list[ModelInput]:
    rng = np.random.default_rng(seed)
    shapes = LAYOUT.shapes()
    return [ModelInput(at=10**18 + k, layout=LAYOUT,
                       blocks={b: rng.normal(size=s).astype(np.float32) for b, s in shapes.items()},
                       masks={b: rng.random(s[0]) > 0.2 for b, s in shapes.items()})
            for k in range(n)]  # fmt: skip


def _dqn(seed: int = 1) -> DqnPredictor:
    probe = DqnPredictor(DuelingQNet(4, 4), LAYOUT)
    state_dim = probe.features(_inputs(1, 0)[0]).shape[0]
    torch.manual_seed(seed)
    return DqnPredictor(DuelingQNet(state_dim + 3, 16), LAYOUT, version="v0")


def _transitions(n: int = 24, seed: int = 2) -> Transitions:
    rng = np.random.default_rng(seed)
    xs = _inputs(n + 1, seed)
    columns = [rng.integers(-1, 2, n).astype(np.float64), rng.integers(0, 3, n),
               rng.normal(0, 1e-3, n)]  # fmt: skip
    for column in columns:
        column.setflags(write=False)  # as the ledger's pandas columns are
    return Transitions(inputs=xs[:-1], positions=columns[0], actions=columns[1],
                       rewards=columns[2], next_inputs=xs[1:])  # fmt: skip


def test_the_first_td_step_matches_a_plain_double_dqn_oracle() -> None:
    """One batch of every transition: the loss is the Huber loss to the double-DQN target.

    The oracle reads Q-values through the predictor's own ``scores`` (every position at once):
    ``Q(s, a)`` under position ``p`` is ``q3[p + 1, a]``, the next state holds ``a``'s position.
    """
    model, tr, gamma = _dqn(), _transitions(), 0.9
    q3, _ = model.scores(tr.inputs)
    n3, _ = model.scores(tr.next_inputs)
    want = []
    for i in range(len(tr.inputs)):
        q = q3[i, int(tr.positions[i]) + 1, int(tr.actions[i])]
        nxt = n3[i, int(tr.actions[i])]  # next position = action - 1, row = action
        y = REWARD_SCALE * tr.rewards[i] + gamma * nxt[int(np.argmax(nxt))]
        d = abs(q - y)
        want.append(0.5 * d * d if d < 1 else d - 0.5)
    _, losses = fine_tune_dqn(model, tr, version="v1", batch_size=len(tr.inputs), gamma=gamma)
    assert losses["loss_first"] == pytest.approx(float(np.mean(want)), rel=1e-5)


def test_dqn_fine_tuning_learns_the_reward_is_deterministic_and_leaves_the_original() -> None:
    model, tr = _dqn(), _transitions()
    before = state_hash(model.net)
    one, losses = fine_tune_dqn(model, tr, version="v1", epochs=150, learning_rate=3e-3,
                                batch_size=8, gamma=0.0, seed=4)  # fmt: skip
    two, _ = fine_tune_dqn(model, tr, version="v1", epochs=150, learning_rate=3e-3,
                           batch_size=8, gamma=0.0, seed=4)  # fmt: skip
    assert state_hash(model.net) == before and state_hash(one.net) == state_hash(two.net)
    assert (one.version, one.name, one.position) == ("v1", model.name, 0.0)
    assert losses["loss_last"] < 0.2 * losses["loss_first"]
    # gamma 0: Q(s, a) is the scaled reward itself, on the transitions it saw.
    q3, _ = one.scores(tr.inputs)
    got = [
        q3[i, int(p) + 1, int(a)]
        for i, (p, a) in enumerate(zip(tr.positions, tr.actions, strict=True))
    ]
    initial = [model.scores(tr.inputs)[0][i, int(p) + 1, int(a)]
               for i, (p, a) in enumerate(zip(tr.positions, tr.actions, strict=True))]  # fmt: skip
    target = REWARD_SCALE * tr.rewards
    assert (
        np.abs(np.asarray(got) - target).mean() < 0.5 * np.abs(np.asarray(initial) - target).mean()
    )


def test_bad_transitions_are_refused() -> None:
    tr = _transitions()
    with pytest.raises(ValueError, match="must align"):
        fine_tune_dqn(_dqn(), Transitions(tr.inputs, tr.positions[:-1], tr.actions, tr.rewards,
                                          tr.next_inputs), version="v1")  # fmt: skip
    with pytest.raises(ValueError, match="Action values"):
        fine_tune_dqn(_dqn(), Transitions(tr.inputs, tr.positions, np.asarray(tr.actions) + 1, tr.rewards,
                                          tr.next_inputs), version="v1")  # fmt: skip
    labelled = Labelled(tr.inputs, np.zeros(len(tr.inputs), np.int64), np.ones(len(tr.inputs)))
    with pytest.raises(TypeError, match="learns from transitions"):
        fine_tune(_dqn(), labelled, version="v1")


def test_what_an_expert_learns_from_is_declared_and_checked_once() -> None:
    from mmts.strategy.rules import MovingAverageRule

    cnn = CnnPredictor(CnnNet(LAYOUT.shapes(), 2, 4, 0.0), LAYOUT)
    assert abilities("cnn", cnn).learns_from == learns_from(cnn) == "labels"
    assert abilities("rl", _dqn()).learns_from == "transitions"
    assert (
        abilities("ma", MovingAverageRule()).learns_from == learns_from(MovingAverageRule()) == ""
    )
    odd = _dqn()
    odd.learns_from = "vibes"  # type: ignore[misc]
    with pytest.raises(TypeError, match="learns_from"):
        abilities("rl", odd)


@pytest.mark.parametrize("kind", ["cnn", "dqn"])
def test_a_saved_fine_tuned_model_loads_back_predicting_the_same(kind: str, tmp_path: Path) -> None:
    torch.manual_seed(3)
    model = CnnPredictor(CnnNet(LAYOUT.shapes(), 2, 4, 0.0), LAYOUT) if kind == "cnn" else _dqn()
    xs = _inputs(6, 9)
    if kind == "cnn":
        examples: Labelled | Transitions = Labelled(xs, np.arange(6) % 3, np.ones(6))
    else:
        examples = _transitions(6)
    tuned, _ = fine_tune(model, examples, version="v9", batch_size=3)
    path = tmp_path / "v9.ckpt"
    digest = save_model(tuned, path)
    loaded = load_checkpoint(model.model_type, {"id": "v9", "path": str(path), "model": model.name,
                                                "layout": LAYOUT.describe()}, LAYOUT)  # fmt: skip
    assert state_hash(loaded.net) == digest and loaded.version == "v9"
    for a, b in zip(tuned.predict_batch(xs), loaded.predict_batch(xs), strict=True):
        np.testing.assert_array_equal(a.probabilities, b.probabilities)
