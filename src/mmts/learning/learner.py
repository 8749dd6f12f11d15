"""Online learning with safe promotion: retrain a shadow, judge it on unseen outcomes, promote.

The learner listens to the runtime's judged outcomes (``Runtime.on_outcomes``). For each
learning expert (``[online] models``) it keeps the active model's rolling log-loss and counts
resolved outcomes. A **retrain** starts every ``retrain_every`` outcomes, or earlier when the
rolling log-loss (over ``regression_window`` outcomes) is ``regression_margin`` worse than its
best, or its rolling accuracy is ``regression_margin`` below the baseline that always predicts
the window's most frequent outcome: it fine-tunes a copy of the active model on its ``window``
most recent judged examples plus a ``replay_fraction`` sample of older ones (``mmts.history.examples``: weighted, inputs
rebuilt from the ledger), saves it as a checkpoint (parent, data range) and runs it as a
**shadow** beside the active model.

The shadow is judged only on predictions made at or after its training cutoff plus the label
horizon (the purge): none of their outcomes was known when it trained. Once it has
``min_outcomes`` of them it is **promoted** if it beats the active model on both the mean
log-loss (by ``min_improvement``, relative) and the mean net return of following it (by
``pnl_margin_bps``); if it has not won by ``max_outcomes`` it is **rejected**. The model a
promotion replaced keeps running as a shadow, judged the same way from the promotion on: if it
then beats the new model, the promotion is **rolled back**; if it has not by ``max_outcomes``,
the promotion is **confirmed**. Every event is a row of the ledger's ``promotions`` (when,
from, to, why, the numbers) and each model a checkpoint in the run's own ``CheckpointStore``.

Replay runs each retrain synchronously at the simulated time its trigger fires, so a backtest
of online learning is deterministic. Live, retrains run in a background process
(:class:`~mmts.learning.background.BackgroundTrainer`); the decision loop only hands the job
over and later installs the result.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from mmts.core.time import iso
from mmts.execution.costs import CostModel
from mmts.features.inputs import ModelInputLayout
from mmts.history.outcomes import PendingDecision
from mmts.history.schema import PROMOTIONS
from mmts.history.writer import LedgerWriter
from mmts.learning.config import OnlineConfig
from mmts.learning.retrain import RetrainJob, RetrainResult, load_retrained, run_retrain
from mmts.models.checkpoints import CheckpointStore
from mmts.models.finetune import learns_from, save_model

log = logging.getLogger(__name__)

CHALLENGER, INCUMBENT = "challenger", "incumbent"
#: Rejected challengers in a row after which learning is called stagnant (an alert).
STAGNANT_AFTER = 3


@dataclass
class Candidate:
    """A model judged beside the active one: a retrained challenger, or the replaced incumbent."""

    model: Any
    version: str
    kind: str
    #: Judged only on predictions at or after this time (training cutoff + label horizon).
    judged_from: int
    checkpoint: str
    #: Per judged decision: (active log-loss, candidate log-loss, active follow, candidate follow).
    pairs: list[tuple[float, float, float, float]] = field(default_factory=list)


@dataclass
class Track:
    """What the learner knows about one learning expert."""

    name: str
    version: str
    since_retrain: int = 0
    retrains: int = 0
    #: The latest judged outcomes of the active model: ``(log-loss, correct, outcome)``.
    rolling: deque[tuple[float, bool, str]] = field(default_factory=deque)
    best: float = float("inf")
    candidate: Candidate | None = None
    training: bool = False
    #: Challengers rejected in a row (learning stagnates).
    rejections: int = 0
    #: The active model's judged outcomes so far (no retrain before a batch of them).
    judged: int = 0


class OnlineLearner:
    """Retrain, judge, promote and roll back the learning experts of one runtime.

    ``runtime``: what it acts on (``experts``, ``set_expert``, ``set_shadow``, ``on_outcomes``,
    ``builder.layout``); ``checkpoints``: where its models go; ``trainer``: None runs each
    retrain at once (replay), else an object with ``submit(job)`` and ``poll()`` (live).
    ``on_change(t)`` is called whenever the experts change at decision time ``t``.
    """

    def __init__(self, cfg: OnlineConfig, runtime: Any, writer: LedgerWriter,
                 checkpoints: CheckpointStore, *, horizon_ns: int, seed: int,
                 experiment: dict[str, Any], trainer: Any = None, costs: CostModel | None = None,
                 gamma: float = 0.99) -> None:  # fmt: skip
        self.cfg, self.runtime, self.writer = cfg, runtime, writer
        self.costs, self.gamma = costs, float(gamma)
        self.checkpoints, self.horizon_ns, self.seed = checkpoints, int(horizon_ns), seed
        self.experiment, self.trainer = experiment, trainer
        self.on_change: list[Callable[[int], None]] = []
        #: What to flush before a retrain reads the ledger (every writer of the run's epoch).
        self.flushes: list[Callable[[], object]] = [writer.flush]
        self.tracks: dict[str, Track] = {}
        layout: ModelInputLayout = runtime.builder.layout
        for name in cfg.models:
            if name not in runtime.experts:
                raise ValueError(f"[online] models: {name!r} is not one of the experts "
                                 f"{sorted(runtime.experts)}")  # fmt: skip
            model = runtime.experts[name]
            kind = learns_from(model)
            if not kind:
                raise ValueError(f"[online] models: {name!r} ({type(model).__name__}) cannot "
                                 "learn online; the CNN and the DQN can")  # fmt: skip
            if kind == "transitions" and costs is None:
                raise ValueError(f"[online] models: {name!r} learns from rewards; the learner "
                                 "needs the cost model")  # fmt: skip
            self._register(name, model, parent=None, data=None, trigger="the run's start",
                           layout=layout)  # fmt: skip
            self.tracks[name] = Track(name, model.version)
        runtime.on_outcomes.append(self.on_outcomes)

    # -- checkpoints and the ledger ------------------------------------------------------------

    def _register(self, name: str, model: Any, *, parent: str | None, data: Any, trigger: str,
                  layout: ModelInputLayout, metric: float = 0.0,
                  path: Path | None = None) -> dict[str, Any]:  # fmt: skip
        """Add ``model`` to the run's checkpoints (saving it where no file is given)."""
        if path is None:
            path = self.checkpoints.root / name / "checkpoints" / f"{model.version}.ckpt"
            weights = save_model(model, path)
        else:
            weights = ""
        entry = {
            "id": model.version, "path": str(path), "metric_name": "finetune_loss",
            "metric": float(metric), "mode": "min", "parent": parent, "data": data,
            "trigger": trigger, "layout": layout.describe(), "layout_version": layout.version,
            "experiment": self.experiment, "seed": self.seed, "state_hash": weights,
        }  # fmt: skip
        upstream = getattr(model, "upstream", ())
        if upstream:  # the versions of the models whose outputs it read (as `mmts train rl`)
            entry["upstream"] = {u: self.runtime.experts[u].version for u in upstream}
        self.checkpoints.add(name, entry)
        if parent is None:
            self.checkpoints.promote(name, model.version)
        return entry

    def _event(self, at: int, name: str, event: str, old: str, new: str, why: str,
               evidence: dict[str, Any], checkpoint: str) -> None:  # fmt: skip
        where = Path(checkpoint)
        with contextlib.suppress(ValueError):  # inside the run (or session) folder: relative
            checkpoint = str(where.relative_to(self.writer.folder.parent))
        row = {"time": at, "model": name, "event": event, "from_version": old, "to_version": new,
               "why": why, "evidence": json.dumps(evidence, sort_keys=True), "checkpoint": checkpoint}  # fmt: skip
        self.writer.rows("promotions", pa.Table.from_pylist([row], schema=PROMOTIONS))
        log.info("online %s at %s: %s %s -> %s (%s)", name, iso(at), event, old, new, why)

    # -- the runtime's hook --------------------------------------------------------------------

    def on_outcomes(self, pending: PendingDecision, table: dict[str, list[Any]]) -> None:
        """Take one judged decision's outcomes (called by the runtime, on the decision loop)."""
        now = int(table["resolved_at"][0]) if table["resolved_at"] else pending.when
        by_role: dict[tuple[str, str], tuple[float, float]] = {}
        labels: dict[str, tuple[bool, str]] = {}  # active model -> (correct, outcome)
        for model, role, loss, follow, correct, outcome in zip(
            table["model"], table["role"], table["log_loss"], table["follow_return"],
            table["correct"], table["outcome"], strict=True,
        ):  # fmt: skip
            if loss is not None:
                by_role[(model, role)] = (float(loss), float(follow))
                if role == "active":
                    labels[model] = (bool(correct), str(outcome))
        for name, track in self.tracks.items():
            self._poll(track, now)
            active = by_role.get((name, "active"))
            if active is None:
                continue
            track.since_retrain += 1
            track.judged += 1
            track.rolling.append((active[0], *labels[name]))
            if len(track.rolling) > self.cfg.regression_window:
                track.rolling.popleft()
            candidate = track.candidate
            if candidate is not None and pending.when >= candidate.judged_from:
                shadow = by_role.get((name, "shadow"))
                if shadow is not None:
                    candidate.pairs.append((active[0], shadow[0], active[1], shadow[1]))
                    self._judge(track, now)
            if track.candidate is None and not track.training:
                why = self._retrain_reason(track)
                if why:
                    if "worse than its best" in why or "baseline" in why:
                        self.writer.alert("warning", "learning_regression", name, why, at=now)
                    self._retrain(track, now, why)

    def _retrain_reason(self, track: Track) -> str:
        """Say why ``track`` should retrain now ("" : not yet)."""
        cfg = self.cfg
        if track.judged < cfg.batch_size:
            return ""  # too few examples to learn from yet
        if len(track.rolling) >= cfg.regression_window:
            rolling = float(np.mean([loss for loss, _, _ in track.rolling]))
            if track.since_retrain >= cfg.regression_window and rolling > track.best * (
                1 + cfg.regression_margin
            ):
                return (f"rolling log-loss {rolling:.4f} over {len(track.rolling)} outcomes is "
                        f"{rolling / track.best - 1:.1%} worse than its best {track.best:.4f}")  # fmt: skip
            track.best = min(track.best, rolling)
            accuracy = float(np.mean([correct for _, correct, _ in track.rolling]))
            majority, count = Counter(outcome for _, _, outcome in track.rolling).most_common(1)[0]
            baseline = count / len(track.rolling)
            if track.since_retrain >= cfg.regression_window and accuracy < baseline * (
                1 - cfg.regression_margin
            ):
                return (f"rolling accuracy {accuracy:.1%} over {len(track.rolling)} outcomes is below "
                        f"the always-{majority} baseline {baseline:.1%}")  # fmt: skip
        if track.since_retrain >= cfg.retrain_every:
            return f"{track.since_retrain} outcomes since the last retrain (retrain_every {cfg.retrain_every})"
        return ""

    # -- retraining ----------------------------------------------------------------------------

    def _retrain(self, track: Track, now: int, why: str) -> None:
        """Fine-tune a shadow of ``track``'s active model on the ledger's examples up to ``now``.

        Live, the job (examples read, inputs rebuilt, training) runs in the background
        process; the decision loop only hands it over. It learns from what the ledger holds
        when it starts: outcomes of the last flush interval may not be there yet.
        """
        track.since_retrain = 0
        track.retrains += 1
        version = f"{track.name}-online-{track.retrains:03d}"
        job = RetrainJob(
            ledger=str(self.writer.folder), name=track.name, version=version,
            parent=track.version, model=self.runtime.experts[track.name], end=now,
            window=self.cfg.window, replay_fraction=self.cfg.replay_fraction,
            settings=self._settings(track),
            out=str(self.checkpoints.root / track.name / "checkpoints" / f"{version}.ckpt"),
            at=now, why=why, costs=self.costs, all_actions=self.cfg.all_actions,
        )  # fmt: skip
        if self.trainer is None:
            for flush in self.flushes:  # everything judged so far is on disk for the examples
                flush()
            self._install(track, run_retrain(job), now)
        else:
            track.training = True
            self.trainer.submit(job)

    def _settings(self, track: Track) -> dict[str, Any]:
        """Return the fine-tune's settings for ``track``'s kind of model."""
        settings: dict[str, Any] = {"epochs": self.cfg.epochs, "learning_rate": self.cfg.learning_rate,
                                    "batch_size": self.cfg.batch_size,
                                    "seed": self.seed + track.retrains}  # fmt: skip
        if learns_from(self.runtime.experts[track.name]) == "transitions":
            settings["gamma"] = self.gamma
        return settings

    def _poll(self, track: Track, now: int) -> None:
        """Install a background retrain that finished (live)."""
        if self.trainer is None or not track.training:
            return
        result = self.trainer.poll(track.name)
        if result is not None:
            track.training = False
            self._install(track, result, now)

    def _install(self, track: Track, result: RetrainResult, now: int) -> None:
        layout: ModelInputLayout = self.runtime.builder.layout
        if result.error:
            log.error("online %s: retrain %s failed: %s", track.name, result.version, result.error)
            self.writer.alert("warning", "learning_failed", track.name,
                              f"retrain {result.version} failed: {result.error}", at=now)  # fmt: skip
            return
        model = load_retrained(result, layout) if result.model is None else result.model
        data = {"start": iso(result.data[0]), "end": iso(result.data[1])}
        self._register(track.name, model, parent=result.parent, data=data, trigger=result.why,
                       layout=layout, metric=result.losses.get("loss_last", 0.0),
                       path=Path(result.path))  # fmt: skip
        # Purge: only predictions from the install on, plus a horizon, are unseen by training.
        judged_from = max(now, result.at) + self.horizon_ns
        track.candidate = Candidate(model, model.version, CHALLENGER, judged_from, result.path)
        for listener in self.on_change:  # first: the fast engine puts the experts back at `now`
            listener(now)
        active = self.runtime.experts[track.name]
        if callable(getattr(model, "restore", None)):  # a DQN shadow starts where the active is
            model.restore(active.state())
        self.runtime.set_shadow(track.name, model)
        self._event(now, track.name, "trained", result.parent, model.version, result.why,
                    {"examples": result.examples, **result.losses, "data": data}, result.path)  # fmt: skip

    # -- judging -------------------------------------------------------------------------------

    def _judge(self, track: Track, now: int) -> None:
        cfg, candidate = self.cfg, track.candidate
        if candidate is None:
            return
        n = len(candidate.pairs)
        if n < cfg.min_outcomes:
            return
        pairs = np.asarray(candidate.pairs, np.float64)
        active_loss, cand_loss = float(pairs[:, 0].mean()), float(pairs[:, 1].mean())
        active_pnl, cand_pnl = float(pairs[:, 2].mean()), float(pairs[:, 3].mean())
        margin = cfg.pnl_margin_bps / 1e4
        wins = (
            cand_loss <= active_loss * (1 - cfg.min_improvement) and cand_pnl > active_pnl + margin
        )
        evidence = {"outcomes": n, "active_log_loss": active_loss, "candidate_log_loss": cand_loss,
                    "active_follow_return": active_pnl, "candidate_follow_return": cand_pnl,
                    "judged_from": iso(candidate.judged_from)}  # fmt: skip
        scores = (f"log-loss {cand_loss:.4f} vs {active_loss:.4f}, mean net return "
                  f"{cand_pnl * 1e4:+.2f} vs {active_pnl * 1e4:+.2f} bps over {n} outcomes")  # fmt: skip
        if wins:
            old = self.runtime.experts[track.name]
            self.runtime.set_expert(track.name, candidate.model)
            self.checkpoints.promote(track.name, candidate.version)
            event = "promoted" if candidate.kind == CHALLENGER else "rolled_back"
            self._event(now, track.name, event, old.version, candidate.version,
                        f"{candidate.kind} beat the active model: {scores}", evidence,
                        candidate.checkpoint)  # fmt: skip
            track.version = candidate.version
            track.rejections = 0
            track.rolling.clear()
            track.best = float("inf")
            if candidate.kind == CHALLENGER and cfg.rollback:
                # Watched from the promotion on (it trained on nothing after that: no purge).
                track.candidate = Candidate(old, old.version, INCUMBENT, now,
                                            self._path_of(track.name, old.version))  # fmt: skip
                self.runtime.set_shadow(track.name, old)
            else:
                track.candidate = None
                self.runtime.set_shadow(track.name, None)
            for listener in self.on_change:
                listener(now)
        elif n >= cfg.max_outcomes:
            event = "rejected" if candidate.kind == CHALLENGER else "confirmed"
            why = (f"the challenger did not beat the active model: {scores}" if event == "rejected"
                   else f"the replaced model did not beat its successor: {scores}")  # fmt: skip
            self._event(now, track.name, event, track.version, candidate.version, why, evidence,
                        candidate.checkpoint)  # fmt: skip
            if event == "rejected":
                track.rejections += 1
                if track.rejections % STAGNANT_AFTER == 0:
                    self.writer.alert("warning", "learning_stagnant", track.name,
                                      f"{track.rejections} retrains in a row did not beat "
                                      f"{track.version}: {scores}", float(track.rejections),
                                      float(STAGNANT_AFTER), at=now)  # fmt: skip
            track.candidate = None
            self.runtime.set_shadow(track.name, None)
            for listener in self.on_change:
                listener(now)

    def adopt(self, name: str, model: Any, at: int, event: str, why: str, checkpoint: str) -> None:
        """Make ``model`` the active ``name`` now, on an operator's word (no judging).

        A shadow being judged is dropped; the rolling record starts over; the event is a
        ``promotions`` row like the learner's own.
        """
        track = self.tracks[name]
        old = self.runtime.experts[name].version
        self.runtime.set_expert(name, model)
        track.version, track.candidate, track.rejections = model.version, None, 0
        track.rolling.clear()
        track.best = float("inf")
        self.runtime.set_shadow(name, None)
        with contextlib.suppress(KeyError, ValueError):  # a checkpoint of the experiment's store
            self.checkpoints.promote(name, model.version)
        for listener in self.on_change:
            listener(at)
        self._event(at, name, event, old, model.version, why, {"operator": True}, checkpoint)

    def _path_of(self, name: str, version: str) -> str:
        for entry in self.checkpoints.list(name):
            if entry["id"] == version:
                return str(entry["path"])
        return ""

    def close(self) -> None:
        """Stop a background trainer (replay has none)."""
        if self.trainer is not None:
            self.trainer.close()
