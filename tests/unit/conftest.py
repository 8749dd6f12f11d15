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


#: The recorded book window, a decision every 10 s (tests of both engines on the L2 window).
BOOK_TOML = """
[experiment]
name = "book"
store = "{store}"
[features]
tick = {{ "ETH/USDT" = 0.01, "BTC/USDT" = 0.01 }}
[data]
decision_timeframe = "1s"
decision_every = 10
[strategy]
cooldown_s = 20.0
buy_threshold = 0.4
sell_threshold = 0.4
[risk]
stop_loss = 0.0005
"""
BOOK_WINDOW = ("2024-08-08T23:55:00Z", "2024-08-09T00:05:00Z")


@pytest.fixture(scope="session")
def book_toml() -> str:
    """The book-window experiment (``{store}`` to fill in; more tables may be appended)."""
    return BOOK_TOML


@pytest.fixture(scope="session")
def backtest_untrained(sample_store_path: Path) -> Callable[..., dict[str, Any]]:
    """Backtest the book window with fresh untrained CNN -> DQN + rules, once per engine.

    ``run(toml, folder, {key: (engine, workers)}, batch=16)`` returns per key the result of
    ``run_backtest`` (fresh experts each time: the DQN starts flat).
    """
    from mmts.backtest import run as run_module
    from mmts.core.time import to_ns
    from mmts.data import open_store
    from mmts.models.experiment import load_experiment
    from mmts.runtime.config import load_trading
    from mmts.testing.experts import untrained_experts

    def run(toml: str, folder: Path, runs: dict[str, tuple[str, int | None]],
            batch: int = 16) -> dict[str, Any]:  # fmt: skip
        path = folder / "experiment.toml"
        path.write_text(toml.format(store=sample_store_path))
        exp, trading = load_experiment(path), load_trading(path)
        store = open_store(sample_store_path)

        def experts(*_: object) -> tuple[dict[str, Any], dict[str, str]]:
            made = untrained_experts(exp, store, to_ns(BOOK_WINDOW[0]) or 0, seed=5)
            return made, dict.fromkeys(made, "untrained")

        out = {"store": store, "exp": exp}
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(run_module, "build_experts", experts)
            for key, (engine, workers) in runs.items():
                out[key] = run_module.run_backtest(store, exp, trading, *BOOK_WINDOW,
                                                   out=folder / key, engine=engine,
                                                   workers=workers, batch=batch)  # fmt: skip
        return out

    return run
