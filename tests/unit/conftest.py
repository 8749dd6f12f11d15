"""A small rule-experts experiment on the bundled bars, and a run of it (backtest and ledger tests)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mmts.cli.main import main

RULES_TOML = """
[experiment]
name = "rules"
store = "{store}"
[features]
tick = {{ "ETH/USDT" = 0.01 }}
[data]
decision_every = 5
[strategy]
cooldown_s = 600.0
buy_threshold = 0.55
[risk]
fraction = 0.5
[backtest]
experts = ["ma_cross", "imbalance"]
"""
#: What makes the rules trade often (more trades to count and to show).
BUSY = {"cooldown_s = 600.0": "cooldown_s = 30.0",
        "buy_threshold = 0.55": "buy_threshold = 0.4\nsell_threshold = 0.4"}  # fmt: skip


@pytest.fixture
def experiment(sample_store_path: Path, tmp_path: Path) -> str:
    """The rules experiment's file (ma_cross and imbalance, no checkpoint needed)."""
    path = tmp_path / "rules.toml"
    path.write_text(RULES_TOML.format(store=sample_store_path))
    return str(path)


@pytest.fixture
def busy_experiment(experiment: str) -> str:
    """The rules experiment rewritten so the rules trade often."""
    text = Path(experiment).read_text()
    for old, new in BUSY.items():
        text = text.replace(old, new)
    Path(experiment).write_text(text)
    return experiment


@pytest.fixture
def run_rules(capsys: pytest.CaptureFixture[str]) -> Callable[[str, Path], dict[str, Any]]:
    """Backtest two days of bars (2024-08-20..22) of an experiment with ``mmts backtest --json``."""

    def run(experiment: str, out: Path) -> dict[str, Any]:
        args = ["backtest", "--experiment", experiment, "--start", "2024-08-20T00:00:00Z",
                "--end", "2024-08-22T00:00:00Z", "--out", str(out), "--no-progress", "--json"]  # fmt: skip
        assert main(args) == 0
        return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]

    return run
