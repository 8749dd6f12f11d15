"""A sweep's space file: parsing, the grid, Optuna's distributions, and checks before any run."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

from mmts.core.settings import SettingsError
from mmts.study.space import (
    Parameter,
    apply,
    from_optuna,
    grid,
    optuna_distribution,
    parse_space,
    trial_id,
)
from mmts.study.sweep import plan_trials, read_space, run_sweep

ROOT = Path(__file__).resolve().parents[3]


def test_a_space_file_reads_into_its_config_and_parameters() -> None:
    config, params = parse_space({
        "sweep": {"method": "optuna", "trials": 5, "seed": 3, "metric": "sharpe"},
        "space": {"labels.horizon": [10, 15],
                  "cnn.learning_rate": {"low": 1e-4, "high": 1e-2, "log": True},
                  "backtest.experts": [["cnn"], ["cnn", "lstm"]]},
    })  # fmt: skip
    assert (config.method, config.n_trials, config.seed, config.metric) == (
        "optuna",
        5,
        3,
        "sharpe",
    )
    assert [p.key for p in params] == ["labels.horizon", "cnn.learning_rate", "backtest.experts"]
    assert params[1].log and params[1].choices is None and not params[1].integer
    assert parse_space({"space": {"labels.horizon": [10]}})[0].n_trials is None  # a grid: all
    assert parse_space({"sweep": {"method": "optuna"}, "space": {"a.b": [1]}})[0].n_trials == 20


def test_the_grid_is_every_combination_in_order_with_ranges_cut_by_their_step() -> None:
    params = [Parameter("labels.horizon", low=10, high=30, step=10),
              Parameter("labels.dead_zone", low=0.0005, high=0.0015, step=0.0005),
              Parameter("backtest.experts", choices=(["cnn"], ["rl"]))]  # fmt: skip
    points = grid(params)
    assert len(points) == 3 * 3 * 2
    assert points[0] == {"labels.horizon": 10, "labels.dead_zone": 0.0005,
                         "backtest.experts": ["cnn"]}  # fmt: skip
    assert points[1]["backtest.experts"] == ["rl"]  # the last key varies fastest
    assert [p["labels.horizon"] for p in points[::6]] == [10, 20, 30]
    assert all(isinstance(p["labels.horizon"], int) for p in points)
    assert [p["labels.dead_zone"] for p in points[:6:2]] == [0.0005, 0.001, 0.0015]


@pytest.mark.parametrize(
    ("space", "complaint"),
    [
        ({"space": {"horizon": [1]}}, '"table.key"'),
        ({"space": {"labels.horizon": []}}, "at least one value"),
        ({"space": {"labels.horizon": {"low": 5}}}, "a range is"),
        ({"space": {"labels.horizon": {"low": 5, "high": 2}}}, "low < high"),
        (
            {
                "space": {
                    "cnn.learning_rate": {"low": 1e-4, "high": 1e-2, "log": True, "step": 1e-3}
                }
            },
            "cannot have a step",
        ),
        ({"space": {"labels.horizon": "10"}}, "a list of values or a range"),
        ({"space": {}}, "at least one key"),
        ({"sweep": {"method": "random"}, "space": {"a.b": [1]}}, "[sweep] method"),
        ({"sweeps": {}, "space": {"a.b": [1]}}, "unknown table"),
    ],
)
def test_a_bad_space_file_is_refused_with_what_and_where(space: dict[str, Any],
                                                         complaint: str) -> None:  # fmt: skip
    with pytest.raises(SettingsError, match=None) as caught:
        parse_space(space)
    assert complaint in str(caught.value)


def test_a_grid_needs_a_step_for_a_range() -> None:
    with pytest.raises(SettingsError, match="a grid needs a list of values or a range with a step"):
        grid([Parameter("cnn.learning_rate", low=1e-4, high=1e-2)])


def _default() -> dict[str, Any]:
    with (ROOT / "experiments" / "default.toml").open("rb") as handle:
        return tomllib.load(handle)


@pytest.mark.parametrize(
    ("space", "complaint"),
    [
        ({"space": {"labels.horizn": [10]}}, "horizn"),  # a misspelt key
        ({"space": {"labels.horizon": [10, 0]}}, "[labels] horizon"),  # out of range
        (
            {
                "space": {"cnn.learning_rate": {"low": -1.0, "high": 1.0}},
                "sweep": {"method": "optuna"},
            },
            "[cnn] learning_rate",
        ),  # a range's end
        ({"space": {"backtest.experts": [["cnn"], ["cnx"]]}}, "cnx"),  # an unknown expert
        ({"space": {"labels.horizon": [10]}, "sweep": {"model": "lstm"}}, "[sweep] model"),
    ],
)
def test_every_trial_is_checked_before_anything_runs(space: dict[str, Any], complaint: str,
                                                     tmp_path: Path) -> None:  # fmt: skip
    with pytest.raises(SettingsError) as caught:
        run_sweep(_default(), space, store=tmp_path / "no-store", out=tmp_path)
    assert complaint in str(caught.value)
    assert not (tmp_path / "sweep").exists()  # refused before any folder or fold


def test_values_apply_to_a_copy_and_name_their_trial() -> None:
    tables = _default()
    kept = copy.deepcopy(tables)
    out = apply(tables, {"labels.horizon": 30, "backtest.experts": ["cnn"]})
    assert out["labels"]["horizon"] == 30 and out["backtest"]["experts"] == ["cnn"]
    assert tables == kept
    assert trial_id({"a.b": 1, "c.d": [1]}) == trial_id({"c.d": [1], "a.b": 1})
    assert trial_id({"a.b": 1}) != trial_id({"a.b": 2})


def test_optuna_distributions_carry_every_kind_of_value_and_back() -> None:
    pytest.importorskip("optuna", reason="the optuna extra: pip install 'mmts[optuna]'")
    experts = Parameter("backtest.experts", choices=(["cnn"], ["cnn", "rl"]))
    dist = optuna_distribution(experts)
    assert [from_optuna(experts, c) for c in dist.choices] == [["cnn"], ["cnn", "rl"]]
    horizon = optuna_distribution(Parameter("labels.horizon", low=5, high=30, step=5))
    assert (horizon.low, horizon.high, horizon.step) == (5, 30, 5)
    rate = optuna_distribution(Parameter("cnn.learning_rate", low=1e-4, high=1e-2, log=True))
    assert rate.log and rate.low == pytest.approx(1e-4)


def test_the_example_space_file_checks_against_the_default_experiment() -> None:
    config, params = parse_space(read_space(ROOT / "experiments" / "spaces" / "default.toml"))
    plan = plan_trials(config, params, _default())
    assert plan.count == 8 and config.folds == 4
    assert plan.ask() == {"labels.horizon": 15, "labels.dead_zone": 0.0005,
                          "backtest.experts": ["cnn", "rl", "ma_cross", "imbalance"]}  # fmt: skip


@pytest.mark.parametrize("path", sorted((ROOT / "experiments" / "spaces").glob("*.toml")),
                         ids=lambda p: p.name)  # fmt: skip
def test_every_shipped_space_file_checks_against_the_default_experiment(path: Path) -> None:
    config, params = parse_space(read_space(path))
    assert plan_trials(config, params, _default()).count >= 2
