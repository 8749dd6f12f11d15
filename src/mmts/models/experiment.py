"""An experiment: one TOML file says what data, labels, costs, models and training to use.

``experiments/default.toml`` is the default every command uses when ``--experiment`` is left
out. Unknown keys are errors (a typo fails loudly). Tables::

    [experiment]  name, seed, store
    [features]    mmts.config.FeatureConfig
    [data]        start, end, decision_timeframe, decision_every, n_folds, fold, fractions
    [labels]      horizon (decision bars), dead_zone
    [costs]       mmts.execution.CostModel
    [cnn], [rl], [lstm], [transformer]   model sizes and optimiser settings
    [train]       epochs, batch size, workers
    [checkpoints] keep (best K), dir
    [study]       mmts.models.splits.StudyConfig (``mmts study``)
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from mmts.config import FeatureConfig, timeframe_problem
from mmts.core.settings import SettingsError, build_table, check_settings, option
from mmts.core.time import time_problem, to_ns
from mmts.core.timeframes import timeframe_ns
from mmts.execution.costs import CostModel
from mmts.models.splits import StudyConfig

#: Where the default experiment lives, relative to the working directory.
DEFAULT_EXPERIMENT = Path("experiments/default.toml")


@dataclass(frozen=True, slots=True, kw_only=True)
class DataConfig:
    """Which decisions to learn from: a grid of bar closes in ``[start, end)``."""

    TABLE: ClassVar[str] = "data"

    start: str | None = option(
        None, check=time_problem, doc="first decision (ISO time, UTC; none: the store's first bar)"
    )
    end: str | None = option(
        None,
        check=time_problem,
        doc="end of the decisions, exclusive (none: after the store's last bar)",
    )
    decision_timeframe: str = option(
        "1m", check=timeframe_problem, doc="the bars whose closes are the decision grid"
    )
    decision_every: int = option(5, ge=1, doc="one decision every this many decision bars")
    n_folds: int = option(1, ge=1, doc="walk-forward folds")
    fold: int = option(-1, doc="which fold trains the model (-1: the last)")
    val_fraction: float = option(0.2, gt=0, lt=1, doc="share of a fold for validation")
    test_fraction: float = option(0.2, gt=0, lt=1, doc="share of the data held out for testing")

    def __post_init__(self) -> None:
        check_settings(self)
        if not -self.n_folds <= self.fold < self.n_folds:
            raise SettingsError(
                f"[data] fold: expected -{self.n_folds} .. {self.n_folds - 1} "
                f"(n_folds = {self.n_folds}), got {self.fold}"
            )
        if self.val_fraction + self.test_fraction >= 1:
            raise SettingsError(
                "[data] val_fraction + test_fraction: expected < 1 (something must be left to "
                f"train on), got {self.val_fraction} + {self.test_fraction}"
            )
        if self.start is not None and self.end is not None and to_ns(self.end) <= to_ns(self.start):  # type: ignore[operator]
            raise SettingsError(f"[data] end: expected after start ({self.start}), got {self.end}")


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelConfig:
    """Cost-aware labels (``mmts.models.labels``)."""

    TABLE: ClassVar[str] = "labels"

    horizon: int = option(15, ge=1, doc="decision bars a trade is held (the label's look-ahead)")
    dead_zone: float = option(
        0.0005, ge=0, lt=0.1, doc="net return beyond costs needed to call BUY/SELL (else HOLD)"
    )

    def __post_init__(self) -> None:
        check_settings(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class CnnConfig:
    """The CNN's sizes and optimiser."""

    TABLE: ClassVar[str] = "cnn"

    channels: int = option(16, ge=1, doc="convolution channels per branch")
    hidden: int = option(32, ge=1, doc="width of the head's hidden layer")
    dropout: float = option(0.1, ge=0, lt=1, doc="dropout probability")
    learning_rate: float = option(1e-3, gt=0, doc="AdamW learning rate")
    weight_decay: float = option(1e-4, ge=0, doc="AdamW weight decay")

    def __post_init__(self) -> None:
        check_settings(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class LstmConfig:
    """The LSTM expert's sizes and optimiser (``mmts.models.sequence.LstmNet``)."""

    TABLE: ClassVar[str] = "lstm"

    width: int = option(32, ge=1, doc="every series' projection and the LSTM's state width")
    layers: int = option(1, ge=1, doc="stacked LSTM layers")
    steps: int = option(60, ge=1, doc="most recent rows of each series the LSTM reads")
    hidden: int = option(32, ge=1, doc="width of the head's hidden layer (the hidden state)")
    dropout: float = option(0.1, ge=0, lt=1, doc="dropout probability")
    learning_rate: float = option(1e-3, gt=0, doc="AdamW learning rate")
    weight_decay: float = option(1e-4, ge=0, doc="AdamW weight decay")

    def __post_init__(self) -> None:
        check_settings(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class TransformerConfig:
    """The Transformer expert's sizes and optimiser (``mmts.models.sequence.TransformerNet``)."""

    TABLE: ClassVar[str] = "transformer"

    width: int = option(32, ge=1, doc="token width (a multiple of heads)")
    layers: int = option(2, ge=1, doc="encoder layers")
    heads: int = option(4, ge=1, doc="attention heads")
    steps: int = option(120, ge=1, doc="most recent rows of each series the encoder reads")
    patch: int = option(10, ge=1, doc="rows per token (a patch: the mean of its available rows)")
    hidden: int = option(32, ge=1, doc="width of the head's hidden layer (the hidden state)")
    dropout: float = option(0.1, ge=0, lt=1, doc="dropout probability")
    learning_rate: float = option(5e-4, gt=0, doc="AdamW learning rate")
    weight_decay: float = option(1e-4, ge=0, doc="AdamW weight decay")

    def __post_init__(self) -> None:
        check_settings(self)
        if self.width % self.heads:
            raise SettingsError(
                f"[transformer] width: expected a multiple of heads ({self.heads}), got {self.width}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class RlConfig:
    """The DQN agent's sizes, schedule and replay."""

    TABLE: ClassVar[str] = "rl"

    hidden: int = option(64, ge=1, doc="width of the Q-network's hidden layers")
    learning_rate: float = option(5e-4, gt=0, doc="Adam learning rate")
    gamma: float = option(0.9, ge=0, le=1, doc="discount per decision")
    epsilon_start: float = option(1.0, ge=0, le=1, doc="exploration at the first step")
    epsilon_end: float = option(0.05, ge=0, le=1, doc="exploration after the decay")
    epsilon_decay_steps: int = option(5000, ge=1, doc="steps from epsilon_start to epsilon_end")
    target_sync_steps: int = option(250, ge=1, doc="steps between target-network copies")
    replay_size: int = option(20_000, ge=1, doc="transitions the replay buffer holds")
    batch_size: int = option(64, ge=1, doc="transitions per optimiser step")
    warmup_steps: int = option(500, ge=0, doc="environment steps before learning starts")
    steps: int = option(8000, ge=1, doc="environment steps of training")
    episode_length: int = option(256, ge=2, doc="decisions per training episode")
    steps_per_epoch: int = option(
        1000, ge=1, doc="environment steps between validation runs (one Lightning epoch)"
    )
    priority_alpha: float = option(0.6, ge=0, doc="prioritized replay: (|TD error| + eps)^alpha")
    priority_beta: float = option(0.4, ge=0, le=1, doc="importance-sampling correction")
    profit_weight: float = option(
        10.0, ge=0, doc="priority boost of profitable transitions: 1 + w * max(r, 0) / mean|r|"
    )

    def __post_init__(self) -> None:
        check_settings(self)
        if self.replay_size < self.batch_size:
            raise SettingsError(
                f"[rl] replay_size: expected at least batch_size ({self.batch_size}), "
                f"got {self.replay_size}"
            )


#: How a network's training is spread over processes (``[train] strategy``).
TRAIN_STRATEGIES = ("auto", "ddp")


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainConfig:
    """Training loop settings."""

    TABLE: ClassVar[str] = "train"

    epochs: int = option(4, ge=1, doc="CNN training epochs")
    batch_size: int = option(64, ge=1, doc="CNN samples per batch")
    max_train_samples: int | None = option(
        None, ge=1, doc="upper bound on training samples per epoch (none: all)"
    )
    strategy: str = option("auto", choices=TRAIN_STRATEGIES,
                           doc="auto: one process; ddp: Lightning DDP, one process per device (CPU: gloo)")  # fmt: skip
    devices: int = option(1, ge=1,
                          doc="processes per node training one network together (> 1 needs ddp); batch_size is their sum")  # fmt: skip
    nodes: int = option(1, ge=1,
                        doc="machines (ddp; Lightning's cluster environment: torchrun, SLURM or MASTER_ADDR/NODE_RANK)")  # fmt: skip

    def __post_init__(self) -> None:
        check_settings(self)
        if self.devices * self.nodes > 1 and self.strategy != "ddp":
            raise SettingsError(
                f"[train] devices = {self.devices}, nodes = {self.nodes}: more than one process "
                f"needs strategy = 'ddp', got {self.strategy!r}"
            )
        if self.batch_size < self.devices * self.nodes:
            raise SettingsError(
                f"[train] batch_size: expected at least one sample per process "
                f"({self.devices * self.nodes}), got {self.batch_size}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointConfig:
    """Where checkpoints go and how many to keep per model."""

    TABLE: ClassVar[str] = "checkpoints"

    keep: int = option(5, ge=1, doc="best checkpoints kept per model (the promoted one always)")
    dir: str = option("experiments/models", doc="checkpoint folder")

    def __post_init__(self) -> None:
        check_settings(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExperimentHead:
    """The ``[experiment]`` table: what the experiment is called and where its data is."""

    TABLE: ClassVar[str] = "experiment"

    name: str = option("default", check=lambda v: None if v.strip() else "expected a name",
                       doc="names run folders and checkpoints")  # fmt: skip
    seed: int = option(7, ge=0, doc="seeds every random draw: same seed, same weights")
    store: str = option("data", doc="the store the experiment trains and evaluates on")

    def __post_init__(self) -> None:
        check_settings(self)


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
    lstm: LstmConfig = field(default_factory=LstmConfig)
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    checkpoints: CheckpointConfig = field(default_factory=CheckpointConfig)

    def __post_init__(self) -> None:
        ExperimentHead(name=self.name, seed=self.seed, store=self.store)  # the same checks

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
    "lstm": LstmConfig,
    "transformer": TransformerConfig,
    "train": TrainConfig,
    "checkpoints": CheckpointConfig,
}


#: Tables read by layers above the models (``mmts.runtime.config``: backtest and live alike).
UPPER_TABLES = ("strategy", "risk", "backtest", "online", "history", "alerts", "study")
#: Every table an experiment file may hold, in the order the reference lists them.
KNOWN_TABLES = ("experiment", *_TABLES, *UPPER_TABLES)
#: The model-layer tables and the settings classes that read them.
TABLE_CLASSES: dict[str, type[Any]] = {"experiment": ExperimentHead, **_TABLES}


def check_tables(data: dict[str, Any]) -> None:
    """Refuse a table no part of mmts reads: it would silently do nothing."""
    unknown = sorted(set(data) - set(KNOWN_TABLES))
    if "live" in unknown:
        raise SettingsError(
            "[live] is not an experiment table: a live session is set up by `mmts live` flags "
            "(paper is the default; real money needs --live). Remove the table."
        )
    if unknown:
        raise SettingsError(f"unknown table(s) {unknown}; known tables are {list(KNOWN_TABLES)}")


def experiment_from_dict(data: dict[str, Any]) -> Experiment:
    """Build an :class:`Experiment` from TOML-shaped data (unknown tables or keys are errors)."""
    check_tables(data)
    head = build_table(ExperimentHead, data.get("experiment", {}))
    parts = {name: build_table(cls, data.get(name, {})) for name, cls in _TABLES.items()}
    return Experiment(name=head.name, seed=head.seed, store=head.store, **parts)


def read_tables(path: str | Path | None = None) -> dict[str, Any]:
    """Read an experiment TOML's tables as they are (``experiments/default.toml`` when None)."""
    target = Path(path) if path is not None else DEFAULT_EXPERIMENT
    if not target.exists():
        raise FileNotFoundError(f"experiment file {target} does not exist")
    with target.open("rb") as handle:
        return tomllib.load(handle)


def load_experiment(path: str | Path | None = None) -> Experiment:
    """Read an experiment TOML (``experiments/default.toml`` when None)."""
    return experiment_from_dict(read_tables(path))


def load_study(path: str | Path | None = None) -> StudyConfig:
    """Read an experiment TOML's ``[study]`` table (``mmts study``; defaults where absent)."""
    tables = read_tables(path)
    check_tables(tables)
    study: StudyConfig = build_table(StudyConfig, tables.get("study", {}))
    return study
