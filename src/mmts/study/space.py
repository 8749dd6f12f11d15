"""A sweep's search space: which experiment keys vary, over which values, and how trials are drawn.

A space file (TOML) has two tables. ``[sweep]`` says how (grid or Optuna, how many trials, the
objective); ``[space]`` maps experiment keys, written ``"table.key"``, to their values: a list of
choices (``"labels.horizon" = [10, 15, 30]``, ``"backtest.experts" = [["cnn"], ["cnn", "lstm"]]``)
or a range (``"cnn.learning_rate" = { low = 1e-4, high = 1e-2, log = true }``, with ``step`` for
an even grid). Every trial's tables are checked like an experiment file before anything runs, so
a misspelt key or an out-of-range value fails at once, not after hours of training.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from mmts.core.settings import SettingsError, build_table, check_settings, option
from mmts.study.fold import METRICS

#: How trials are drawn.
METHODS = ("grid", "optuna")
#: What the objective may read: a fold-table metric's mean over folds, or the median net return.
OBJECTIVE_METRICS = (*METRICS, "median_net_return")


@dataclass(frozen=True)
class SweepConfig:
    """How a sweep draws its trials and what it optimises (the space file's ``[sweep]``)."""

    TABLE: ClassVar[str] = "sweep"

    method: str = option("grid", choices=METHODS,
                         doc="grid: every combination in order; optuna: a seeded TPE search")  # fmt: skip
    trials: int | None = option(None, ge=1,
                                doc="trials to run (grid: the first N combinations, default all; optuna: default 20)")  # fmt: skip
    seed: int = option(0, doc="the Optuna sampler's seed (with the trial list, fixes the sweep)")
    model: str = option("mixture",
                        doc="whose result is the objective: mixture, an expert every trial trades, or a baseline")  # fmt: skip
    metric: str = option("net_return", choices=OBJECTIVE_METRICS,
                         doc="the objective: this metric's mean over the trial's folds")  # fmt: skip
    direction: str = option("maximize", choices=("maximize", "minimize"),
                            doc="whether the best trial has the highest or the lowest objective")  # fmt: skip
    folds: int | None = option(
        None, ge=1, doc="folds per trial (default: the experiment's [study])"
    )

    def __post_init__(self) -> None:
        check_settings(self)

    @property
    def n_trials(self) -> int | None:
        """How many trials to run; None: the whole grid."""
        return self.trials if self.trials is not None or self.method == "grid" else 20


@dataclass(frozen=True)
class Parameter:
    """One swept key: a list of choices, or a range (``step``: an even grid; ``log``: log scale)."""

    key: str
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False

    @property
    def integer(self) -> bool:
        """A range of integers (both ends and the step are integers)."""
        ends = (self.low, self.high, *(() if self.step is None else (self.step,)))
        return self.choices is None and all(isinstance(v, int) for v in ends)

    def values(self) -> list[Any]:
        """Every value a grid takes: the choices, or the range's steps from ``low`` to ``high``."""
        if self.choices is not None:
            return list(self.choices)
        low, high = float(self.low or 0), float(self.high or 0)
        if self.step is None:
            raise SettingsError(
                f"[space] {self.key!r}: a grid needs a list of values or a range with a step; "
                f"got the range {self.low}..{self.high} without one"
            )
        count = math.floor((high - low) / self.step + 1e-9) + 1
        if self.integer:
            return [int(low + i * self.step) for i in range(count)]
        return [round(low + i * self.step, 12) for i in range(count)]


def parse_space(data: dict[str, Any]) -> tuple[SweepConfig, list[Parameter]]:
    """Read a space file's tables: ``[sweep]`` (how) and ``[space]`` (what varies)."""
    unknown = sorted(set(data) - {"sweep", "space"})
    if unknown:
        raise SettingsError(f"space file: unknown table(s) {unknown}; expected [sweep] and [space]")
    config: SweepConfig = build_table(SweepConfig, data.get("sweep", {}))
    space = data.get("space", {})
    if not isinstance(space, dict) or not space:
        raise SettingsError('space file: [space] must name at least one key ("table.key" = [...])')
    params = [_parameter(key, spec) for key, spec in space.items()]
    return config, params


def _parameter(key: str, spec: Any) -> Parameter:
    where = f"[space] {key!r}"
    table, _, name = key.partition(".")
    if not table or not name or "." in name:
        raise SettingsError(f'{where}: expected an experiment key written "table.key"')
    if isinstance(spec, list):
        if not spec:
            raise SettingsError(f"{where}: expected at least one value, got []")
        return Parameter(key, choices=tuple(spec))
    if isinstance(spec, dict):
        extra = sorted(set(spec) - {"low", "high", "step", "log"})
        if extra or "low" not in spec or "high" not in spec:
            raise SettingsError(
                f"{where}: a range is {{ low = ..., high = ... [, step = ...] [, log = true] }}; "
                f"got {spec}"
            )
        low, high, step, log = spec["low"], spec["high"], spec.get("step"), spec.get("log", False)
        numbers = [v for v in (low, high, step) if v is not None]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers):
            raise SettingsError(f"{where}: low, high and step must be numbers; got {spec}")
        if not low < high or (step is not None and step <= 0) or (log and low <= 0):
            raise SettingsError(
                f"{where}: expected low < high, a positive step and, on a log scale, low > 0; "
                f"got {spec}"
            )
        if log and step is not None:
            raise SettingsError(f"{where}: a log-scale range cannot have a step; got {spec}")
        return Parameter(key, low=low, high=high, step=step, log=bool(log))
    raise SettingsError(f"{where}: expected a list of values or a range table, got {spec!r}")


def spread_metric(metric: str) -> str:
    """Return the per-fold metric a trial's spread is shown in (the objective's own)."""
    return metric if metric in METRICS else "net_return"


def grid(params: list[Parameter]) -> list[dict[str, Any]]:
    """Every combination of the parameters' values, the first key varying slowest."""
    keys = [p.key for p in params]
    return [dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(p.values() for p in params))]  # fmt: skip


def apply(tables: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of the experiment tables with each ``"table.key"`` set to its value."""
    out = copy.deepcopy(tables)
    for key, value in values.items():
        table, _, name = key.partition(".")
        out.setdefault(table, {})[name] = copy.deepcopy(value)
    return out


def trial_id(values: dict[str, Any]) -> str:
    """Name a set of parameter values: the same values are the same trial (run once)."""
    text = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def edge_values(param: Parameter) -> list[Any]:
    """Return the values that bound a parameter: its choices, or its range's two ends."""
    if param.choices is not None:
        return list(param.choices)
    return [param.low, param.high]


def optuna_distribution(param: Parameter) -> Any:
    """Return the Optuna distribution of a parameter (list choices travel as JSON text)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if param.choices is not None:
        return CategoricalDistribution([_categorical(c) for c in param.choices])
    low, high = float(param.low or 0), float(param.high or 0)
    if param.integer:
        step = 1 if param.step is None else int(param.step)
        return IntDistribution(int(low), int(high), log=param.log, step=step)
    return FloatDistribution(low, high, log=param.log, step=param.step)


def from_optuna(param: Parameter, value: Any) -> Any:
    """Turn an Optuna suggestion back into the experiment value it stands for."""
    if param.choices is not None and isinstance(value, str):
        for choice in param.choices:
            if _categorical(choice) == value:
                return copy.deepcopy(choice)
    return value


def _categorical(choice: Any) -> Any:
    """Return a choice as Optuna stores it: scalars as they are, anything else as JSON text."""
    if choice is None or isinstance(choice, bool | int | float | str):
        return choice
    return json.dumps(choice)
