"""The learner's promotion rule: judged after the purge, promoted on both scores, rolled back."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mmts.config import FeatureConfig
from mmts.features.inputs import ModelInputLayout
from mmts.history import LedgerWriter, open_ledger
from mmts.history.outcomes import PendingDecision
from mmts.history.schema import OUTCOMES
from mmts.learning.config import OnlineConfig
from mmts.learning.learner import OnlineLearner
from mmts.learning.retrain import RetrainResult
from mmts.models.checkpoints import CheckpointStore
from mmts.models.cnn import CnnNet
from mmts.models.predictors import CnnPredictor

LAYOUT = ModelInputLayout(config=FeatureConfig(frames=20, timeframes=("1m",)))
HORIZON = 60 * 10**9
STEP = 10 * 10**9


def _cnn(version: str, seed: int) -> CnnPredictor:
    torch.manual_seed(seed)
    return CnnPredictor(CnnNet(LAYOUT.shapes(), 2, 4, 0.0), LAYOUT, version=version)


class FakeRuntime:
    """What the learner acts on, and nothing else."""

    def __init__(self, cnn: CnnPredictor) -> None:
        self.experts: dict[str, Any] = {"cnn": cnn}
        self.shadows: dict[str, Any] = {}
        self.on_outcomes: list[Any] = []
        self.builder = type("B", (), {"layout": LAYOUT})()

    def set_expert(self, name: str, expert: Any) -> None:
        self.experts[name] = expert

    def set_shadow(self, name: str, expert: Any) -> None:
        if expert is None:
            self.shadows.pop(name, None)
        else:
            self.shadows[name] = expert


def _outcome(learner: OnlineLearner, when: int, active: tuple[float, float],
             shadow: tuple[float, float] | None, correct: bool = True) -> None:  # fmt: skip
    """Feed one judged decision: (log-loss, follow return) of the active model and the shadow."""
    rows = [("active", *active)] + ([("shadow", *shadow)] if shadow else [])
    table = {
        "time": [when] * len(rows), "model": ["cnn"] * len(rows), "role": [r[0] for r in rows],
        "input_id": ["0:0"] * len(rows), "resolved_at": [when + HORIZON] * len(rows),
        "realized_return": [0.0] * len(rows), "outcome": ["HOLD"] * len(rows),
        "correct": [correct] * len(rows), "follow_return": [r[2] for r in rows], "pnl": [0.0] * len(rows),
        "log_loss": [r[1] for r in rows], "brier": [0.5] * len(rows),
    }  # fmt: skip
    assert list(table) == OUTCOMES.names
    for listener in learner.runtime.on_outcomes:
        listener(PendingDecision(when, 100.0), table)


@pytest.fixture
def learner(tmp_path: Path) -> OnlineLearner:
    cfg = OnlineConfig(enabled=True, retrain_every=10**6, min_outcomes=5, max_outcomes=8,
                       min_improvement=0.05, regression_window=10, batch_size=4)  # fmt: skip
    writer = LedgerWriter(tmp_path / "ledger", background=False)
    return OnlineLearner(cfg, FakeRuntime(_cnn("v0", 1)), writer, CheckpointStore(tmp_path / "ck"),
                         horizon_ns=HORIZON, seed=3, experiment={})  # fmt: skip


def _install(learner: OnlineLearner, now: int) -> CnnPredictor:
    challenger = _cnn("v1", 2)
    path = learner.checkpoints.root / "cnn" / "v1.ckpt"
    from mmts.models.finetune import save_model

    save_model(challenger, path)
    result = RetrainResult("cnn", "v1", "v0", str(path), now, "test", (0, now), examples=9,
                           model=challenger)  # fmt: skip
    learner._install(learner.tracks["cnn"], result, now)
    return challenger


def test_a_shadow_is_judged_only_after_its_purge_and_promoted_on_both_scores(
    learner: OnlineLearner,
) -> None:
    t0 = 10**18
    challenger = _install(learner, t0)
    runtime = learner.runtime
    assert runtime.shadows["cnn"] is challenger and runtime.experts["cnn"].version == "v0"
    # Decisions made before t0 + horizon: their outcomes were partly known in training. Ignored,
    # however good the shadow looks on them.
    for k in range(int(HORIZON // STEP)):
        _outcome(learner, t0 + k * STEP, (1.0, 0.0), (0.1, 0.01))
    assert learner.tracks["cnn"].candidate.pairs == []  # type: ignore[union-attr]
    # Better log-loss but worse net return: not promoted (both are needed).
    start = t0 + HORIZON
    for k in range(5):
        _outcome(learner, start + k * STEP, (1.0, 0.002), (0.5, 0.001))
    assert runtime.experts["cnn"].version == "v0"
    # ... until the net return is better too, on the mean over every judged outcome.
    for k in range(5, 7):
        _outcome(learner, start + k * STEP, (1.0, -0.01), (0.5, 0.01))
    assert runtime.experts["cnn"] is challenger
    assert runtime.shadows["cnn"].version == "v0"  # the replaced model is watched now
    assert learner.checkpoints.active("cnn")["id"] == "v1"  # type: ignore[index]
    # The replaced model then beats its successor: rolled back.
    after = start + 7 * STEP + HORIZON
    for k in range(5):
        _outcome(learner, after + k * STEP, (1.0, -0.001), (0.2, 0.001))
    assert runtime.experts["cnn"].version == "v0" and "cnn" not in runtime.shadows
    assert learner.checkpoints.active("cnn")["id"] == "v0"  # type: ignore[index]
    learner.writer.close()
    events = open_ledger(learner.writer.folder).promotions()
    assert list(events["event"]) == ["trained", "promoted", "rolled_back"]
    promoted = events.iloc[1]
    assert (promoted["from_version"], promoted["to_version"]) == ("v0", "v1")
    evidence = json.loads(promoted["evidence"])
    assert evidence["outcomes"] == 6 and evidence["candidate_log_loss"] == pytest.approx(0.5)
    assert "log-loss 0.5000 vs 1.0000" in promoted["why"]


def test_a_challenger_that_never_wins_is_rejected(learner: OnlineLearner) -> None:
    t0 = 10**18
    _install(learner, t0)
    for k in range(8):
        _outcome(learner, t0 + HORIZON + k * STEP, (0.5, 0.001), (0.6, 0.002))
    assert learner.runtime.experts["cnn"].version == "v0" and not learner.runtime.shadows
    learner.writer.close()
    events = open_ledger(learner.writer.folder).promotions()
    assert list(events["event"]) == ["trained", "rejected"]


def test_a_model_that_cannot_learn_is_refused(tmp_path: Path) -> None:
    from mmts.strategy.rules import MovingAverageRule

    runtime = FakeRuntime(_cnn("v0", 1))
    runtime.experts["cnn"] = MovingAverageRule()
    with pytest.raises(ValueError, match="cannot learn online"):
        OnlineLearner(OnlineConfig(enabled=True), runtime, LedgerWriter(tmp_path, background=False),
                      CheckpointStore(tmp_path / "ck"), horizon_ns=HORIZON, seed=0, experiment={})  # fmt: skip


def test_retrain_triggers_every_n_outcomes_and_on_regression(learner: OnlineLearner) -> None:
    track = learner.tracks["cnn"]
    learner.cfg = dataclasses.replace(learner.cfg, retrain_every=30)
    calls: list[str] = []
    learner._retrain = lambda track, now, why: calls.append(why)  # type: ignore[method-assign]
    for k in range(12):
        _outcome(learner, 10**18 + k * STEP, (0.5, 0.0), None)
    assert calls == []  # the record is 0.5 so far
    for k in range(12, 20):
        _outcome(learner, 10**18 + k * STEP, (1.5, 0.0), None)
    assert calls and "worse than its best" in calls[0]
    track.since_retrain = 29
    calls.clear()
    learner.cfg = dataclasses.replace(learner.cfg, regression_margin=10.0)
    _outcome(learner, 10**18 + 21 * STEP, (0.5, 0.0), None)
    assert calls == ["30 outcomes since the last retrain (retrain_every 30)"]
    assert np.isfinite(track.best)
    # Always wrong while the outcome is always HOLD: below the always-HOLD baseline.
    calls.clear()
    track.since_retrain = 0
    learner.cfg = dataclasses.replace(learner.cfg, regression_margin=0.05)
    track.best = float("inf")  # no record yet: only the baseline can trigger here
    for k in range(22, 32):
        _outcome(learner, 10**18 + k * STEP, (0.5, 0.0), None, correct=False)
    assert calls and "below the always-HOLD baseline 100.0%" in calls[0]


def test_a_warmed_model_predicts_as_the_one_warmed_by_its_first_decision() -> None:
    """``warm`` (a background retrain's model, off the loop) builds the same ONNX session."""
    from mmts.features.inputs import ModelInput

    rng = np.random.default_rng(4)
    shapes = LAYOUT.shapes()
    x = ModelInput(at=10**18, layout=LAYOUT,
                   blocks={n: rng.normal(size=s).astype(np.float32) for n, s in shapes.items()},
                   masks={n: rng.random(s[0]) > 0.3 for n, s in shapes.items()})  # fmt: skip
    warmed, cold = _cnn("a", 7), _cnn("a", 7)
    warmed.warm()
    np.testing.assert_allclose(warmed.predict(x).probabilities, cold.predict(x).probabilities,
                               rtol=1e-6, atol=1e-7)  # fmt: skip
    np.testing.assert_allclose(warmed.predict(x).probabilities,
                               warmed.predict_batch([x])[0].probabilities, rtol=1e-4, atol=1e-5)  # fmt: skip


def test_a_dqn_learns_with_the_cost_model_and_its_shadow_starts_where_the_active_stands(
    tmp_path: Path,
) -> None:
    from mmts.execution.costs import CostModel
    from mmts.models.finetune import save_model
    from mmts.models.predictors import DqnPredictor
    from mmts.models.rl.dqn import DuelingQNet

    layout = ModelInputLayout(config=LAYOUT.config, model_slots=("cnn",))
    active = DqnPredictor(DuelingQNet(11, 8), layout, version="q0")
    active.position = -1.0  # short when the challenger arrives
    runtime = FakeRuntime(_cnn("v0", 1))
    runtime.experts["rl"] = active
    cfg = OnlineConfig(enabled=True, models=("rl",))
    writer = LedgerWriter(tmp_path / "ledger", background=False)
    with pytest.raises(ValueError, match="needs the cost model"):
        OnlineLearner(cfg, runtime, writer, CheckpointStore(tmp_path / "ck"), horizon_ns=HORIZON,
                      seed=0, experiment={})  # fmt: skip
    learner = OnlineLearner(cfg, runtime, writer, CheckpointStore(tmp_path / "ck"),
                            horizon_ns=HORIZON, seed=0, experiment={}, costs=CostModel())  # fmt: skip
    assert learner.checkpoints.active("rl")["upstream"] == {"cnn": "v0"}  # type: ignore[index]
    challenger = active.with_net(DuelingQNet(11, 8), "q1")
    assert challenger.position == 0.0
    path = tmp_path / "q1.ckpt"
    save_model(challenger, path)
    now = 10**18
    result = RetrainResult("rl", "q1", "q0", str(path), now, "test", (0, now), model=challenger,
                           model_type="dqn")  # fmt: skip
    learner._install(learner.tracks["rl"], result, now)
    assert runtime.shadows["rl"] is challenger and challenger.position == -1.0
    assert learner._settings(learner.tracks["rl"])["gamma"] == 0.99
