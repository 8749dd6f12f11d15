"""Experiment files say what runs: every table and key checked, one reference, shipped files load."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mmts.cli.main import main
from mmts.core.settings import SettingsError
from mmts.models.experiment import experiment_from_dict, load_experiment
from mmts.runtime.config import load_trading, reference_markdown, trading_from_dict

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = sorted((ROOT / "experiments").glob("*.toml"))


def test_there_are_shipped_experiments() -> None:
    assert {p.name for p in SHIPPED} >= {"default.toml", "paper_rules.toml"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_experiment_loads(path: Path) -> None:
    load_experiment(path)
    load_trading(path)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"live": {"paper": False}}, "[live] is not an experiment table"),
        ({"risks": {}}, "unknown table(s) ['risks']"),
        ({"train": {"epochs": "four"}}, "[train] epochs: expected an integer >= 1, got 'four'"),
        (
            {"data": {"decision_every": 5.5}},
            "[data] decision_every: expected an integer >= 1, got 5.5",
        ),
        ({"data": {"start": "NaT"}}, "[data] start: cannot read 'NaT' as a time"),
        (
            {"data": {"start": "2024-08-02", "end": "2024-08-01"}},
            "[data] end: expected after start",
        ),
        (
            {"data": {"decision_timeframe": "5x"}},
            "[data] decision_timeframe: '5x' is not a timeframe",
        ),
        (
            {"data": {"val_fraction": 0.5, "test_fraction": 0.5}},
            "[data] val_fraction + test_fraction",
        ),
        ({"labels": {"horizon": 0}}, "[labels] horizon: expected an integer >= 1, got 0"),
        (
            {"costs": {"taker_fee": 0.5}},
            "[costs] taker_fee: expected a number >= 0 and < 0.1 (or leave it out), got 0.5",
        ),
        (
            {"costs": {"venue": "kraken"}},
            "[costs] venue: expected one of 'binance', 'mexc', got 'kraken'",
        ),
        ({"experiment": {"seed": -1}}, "[experiment] seed: expected an integer >= 0, got -1"),
        ({"features": {"frames": 1}}, "[features] frames: expected an integer >= 2, got 1"),
    ],
)
def test_bad_experiment_tables_are_named_errors(data: dict, message: str) -> None:
    with pytest.raises(SettingsError) as info:
        experiment_from_dict(data)
    assert message in str(info.value), str(info.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"live": {"paper": False}}, "[live] is not an experiment table"),
        (
            {"strategy": {"buy_threshold": 1.5}},
            "[strategy] buy_threshold: expected a number > 0 and <= 1",
        ),
        (
            {"risk": {"stop_loss": "1%"}},
            "[risk] stop_loss: expected a number > 0 and < 1 (or leave it out), got '1%'",
        ),
        ({"backtest": {"experts": ["cnn", "gpt"]}}, "[backtest] experts: expected one of"),
        ({"backtest": {"venue": "mexc"}}, "unknown key(s) ['venue'] in [backtest]"),
        ({"backtest": {"initial_cash": 0}}, "[backtest] initial_cash: expected a number > 0"),
    ],
)
def test_bad_trading_tables_are_named_errors(data: dict, message: str) -> None:
    with pytest.raises(SettingsError) as info:
        trading_from_dict(data)
    assert message in str(info.value), str(info.value)


def test_fees_have_one_source_with_venue_defaults() -> None:
    assert experiment_from_dict({}).costs.resolved()["taker_fee"] == 0.001  # Binance base tier
    mexc = experiment_from_dict({"costs": {"venue": "mexc"}}).costs
    assert (mexc.maker, mexc.taker) == (0.0, 0.0005)
    given = experiment_from_dict({"costs": {"venue": "mexc", "maker_fee": 0.0002}}).costs
    assert (given.maker, given.taker) == (0.0002, 0.0005)


def test_readme_holds_the_reference_the_command_prints(capsys: pytest.CaptureFixture[str]) -> None:
    text = (ROOT / "README.md").read_text()
    start, end = "<!-- config-reference:start -->\n", "<!-- config-reference:end -->"
    section = text[text.index(start) + len(start) : text.index(end)]
    assert section == reference_markdown(), "README is stale: paste `mmts config reference`"
    assert main(["config", "reference"]) == 0
    assert capsys.readouterr().out == reference_markdown() + "\n"


@pytest.mark.parametrize(
    "command", [["backtest", "--no-progress"], ["train", "cnn"], ["config", "show"]]
)
def test_commands_refuse_a_bad_experiment_with_a_sentence(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[train]\nepochs = "four"\n')
    assert main([*command, "--experiment", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "[train] epochs: expected an integer >= 1, got 'four' (str)" in err
    assert "Traceback" not in err


def test_config_show_prints_every_key_resolved(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "show", "--experiment", str(ROOT / "experiments/default.toml")]) == 0
    out = capsys.readouterr().out
    assert "[backtest]\nexperts = " in out and "# in force: maker 0.001, taker 0.001" in out
    assert "var_level = 0.99" in out  # a default the file does not set


def test_more_than_one_process_needs_the_ddp_strategy() -> None:
    exp = load_experiment()
    with pytest.raises(SettingsError, match="needs strategy = 'ddp'"):
        dataclasses.replace(exp.train, devices=2)
    with pytest.raises(SettingsError, match="at least one sample per process"):
        dataclasses.replace(exp.train, devices=2, strategy="ddp", batch_size=1)
