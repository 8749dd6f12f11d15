"""Every shipped experiment runs as shipped: its default backtest on the bundled data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmts.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
# In a full run this comes after tests/notebooks, which trains the default models in the same
# scratch copy of the project (``project_copy``).
SHIPPED = sorted((ROOT / "experiments").glob("*.toml"))


@pytest.mark.slow
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_each_shipped_experiment_backtests_its_default_period(
    path: Path,
    project_copy: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Experiments name their store and checkpoints relative to the project root.
    monkeypatch.chdir(project_copy)
    # --train-missing, as `nox -s backtest` runs it (the notebooks test has usually trained them).
    args = ["backtest", "--experiment", str(project_copy / "experiments" / path.name), "--train-missing", "--no-progress", "--json",
            "--out", str(tmp_path / "runs")]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    result = json.loads(out[out.index("{\n") :])  # after any "trained ..." lines
    assert result["metrics"]["decisions"] > 0
    assert Path(result["run_dir"], "report.html").is_file()


@pytest.mark.slow
def test_a_failed_backtest_leaves_no_run_folder(
    project_copy: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(project_copy)
    out = tmp_path / "runs"
    args = ["backtest", "--experiment", str(project_copy / "experiments" / "paper_rules.toml"),
            "--start", "2019-01-01", "--end", "2019-01-01T00:10:00Z", "--no-progress",
            "--out", str(out)]  # fmt: skip
    assert main(args) == 2
    assert "nothing was written" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())
