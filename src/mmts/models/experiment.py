"""An experiment: one TOML file says what data, labels, costs, models and training to use.

``experiments/default.toml`` is the default every command uses when ``--experiment`` is left
out. Unknown keys are errors (a typo fails loudly). Tables::

    [experiment]  name, seed, store
    [features]    mmts.config.FeatureConfig
    [data]        start, end, decision_timeframe, decision_every, n_folds, fold, fractions
    [labels]      horizon (decision bars), dead_zone
    [costs]       mmts.execution.CostModel
    [cnn], [rl]   model sizes and optimiser settings
    [train]       epochs, batch size, workers
    [checkpoints] keep (best K), dir
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from mmts.config import FeatureConfig, _build
from mmts.core.timeframes import timeframe_ns
from mmts.execution.costs import CostModel

#: Where the default experiment lives, relative to the working directory.
DEFAULT_EXPERIMENT = Path("experiments/default.toml")


@dataclass(frozen=True, slots=True, kw_only=True)
class DataConfig:
    """Which decisions to learn from: a grid of bar closes in ``[start, end)``."""

    start: str | None = None
    end: str | None = None
    decision_timeframe: str = "1m"
    #: One decision every this many bars of the decision timeframe.
    decision_every: int = 5
    n_folds: int = 1
    #: Which walk-forward fold trains the model (-1: the last).
    fold: int = -1
    val_fraction: float = 0.2
    test_fraction: float = 0.2


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelConfig:
    """Cost-aware labels (``mmts.models.labels``)."""

    #: Bars of the decision timeframe the trade is held.
    horizon: int = 15
    dead_zone: float = 0.0005


@dataclass(frozen=True, slots=True, kw_only=True)
class CnnConfig:
    """The CNN's sizes and optimiser."""

    channels: int = 16
    hidden: int = 32
    dropout: float = 0.1
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4


@dataclass(frozen=True, slots=True, kw_only=True)
class RlConfig:
    """The DQN agent's sizes, schedule and replay."""

    hidden: int = 64
    learning_rate: float = 5e-4
    gamma: float = 0.9
    epsilon_start: float = 1.0
    epsilon_end: float = 0.05
    epsilon_decay_steps: int = 5000
    target_sync_steps: int = 250
    replay_size: int = 20_000
    batch_size: int = 64
    warmup_steps: int = 500
    steps: int = 8000
    #: Decisions per training episode.
    episode_length: int = 256
    #: Environment steps between validation runs (one Lightning epoch).
    steps_per_epoch: int = 1000
    #: Prioritized replay: (|TD error| + eps)^alpha * (1 + profit_weight * max(r, 0) / mean|r|).
    priority_alpha: float = 0.6
    priority_beta: float = 0.4
    profit_weight: float = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainConfig:
    """Training loop settings."""

    epochs: int = 4
    batch_size: int = 64
    #: Upper bound on training samples per epoch (None: all).
    max_train_samples: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointConfig:
    """Where checkpoints go and how many to keep per model."""

    keep: int = 5
    dir: str = "experiments/models"


@dataclass(frozen=True, slots=True, kw_only=True)
class Experiment:
    """Everything one experiment fixes."""

    name: str = "default"
    seed: int = 7
    store: str = "data"
    features: FeatureConfig = field(default_factory=FeatureConfig)
    data: DataConfig = field(default_factory=DataConfig)
    labels: LabelConfig = field(default_factory=LabelConfig)
    costs: CostModel = field(default_factory=CostModel)
    cnn: CnnConfig = field(default_factory=CnnConfig)
    rl: RlConfig = field(default_factory=RlConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    checkpoints: CheckpointConfig = field(default_factory=CheckpointConfig)

    @property
    def decision_step(self) -> int:
        """Nanoseconds between decisions."""
        return timeframe_ns(self.data.decision_timeframe) * self.data.decision_every

    @property
    def horizon_ns(self) -> int:
        """How far a label looks ahead, in ns (the minimum purge gap)."""
        return timeframe_ns(self.data.decision_timeframe) * self.labels.horizon

    def to_dict(self) -> dict[str, Any]:
        """Return the experiment as plain data (stored with checkpoints)."""
        out = asdict(self)
        out["costs"] = {f.name: getattr(self.costs, f.name) for f in fields(CostModel)}
        return json.loads(json.dumps(out, default=list))  # type: ignore[no-any-return]

    def digest(self) -> str:
        """Return a short hash of the whole experiment (same config → same digest)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


_TABLES: dict[str, type[Any]] = {
    "features": FeatureConfig,
    "data": DataConfig,
    "labels": LabelConfig,
    "costs": CostModel,
    "cnn": CnnConfig,
    "rl": RlConfig,
    "train": TrainConfig,
    "checkpoints": CheckpointConfig,
}


#: Tables read by layers above the models (``mmts.backtest.config``, live trading).
UPPER_TABLES = ("strategy", "risk", "backtest", "live")


def experiment_from_dict(data: dict[str, Any]) -> Experiment:
    """Build an :class:`Experiment` from TOML-shaped data (unknown tables or keys are errors)."""
    unknown = sorted(set(data) - {"experiment", *_TABLES, *UPPER_TABLES})
    if unknown:
        raise ValueError(f"unknown table(s) {unknown}; known: {sorted(['experiment', *_TABLES])}")
    head = dict(data.get("experiment", {}))
    allowed = {"name", "seed", "store"}
    if set(head) - allowed:
        raise ValueError(f"unknown key(s) {sorted(set(head) - allowed)} in [experiment]")
    parts = {name: _build(cls, data.get(name, {}), name) for name, cls in _TABLES.items()}
    return Experiment(**head, **parts)


def load_experiment(path: str | Path | None = None) -> Experiment:
    """Read an experiment TOML (``experiments/default.toml`` when None)."""
    target = Path(path) if path is not None else DEFAULT_EXPERIMENT
    if not target.exists():
        raise FileNotFoundError(f"experiment file {target} does not exist")
    with target.open("rb") as handle:
        return experiment_from_dict(tomllib.load(handle))
