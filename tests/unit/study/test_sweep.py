"""``mmts sweep`` on the bundled data: trials as studies, the table, best, resume, determinism."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mmts.cli.main import main
from mmts.study.sweep import run_sweep

pytestmark = pytest.mark.slow

RULES = ["ma_cross", "imbalance"]


def _tables(small_tables: dict[str, Any], experts: list[str]) -> dict[str, Any]:
    return {**small_tables, "backtest": {**small_tables.get("backtest", {}), "experts": experts},
            "study": {**small_tables["study"], "folds": 2}}  # fmt: skip


def test_a_grid_sweep_runs_each_trial_as_a_study_and_reports_every_fold(
    small_tables: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    write_toml: Callable[[Path, dict[str, Any]], Path],
) -> None:
    space = {"sweep": {"metric": "net_return", "model": "mixture"},
             "space": {"backtest.experts": [["ma_cross"], ["cnn", "ma_cross"]],
                       "labels.dead_zone": [0.0005, 0.001]}}  # fmt: skip
    experiment = write_toml(tmp_path / "small.toml", _tables(small_tables, RULES))
    space_file = write_toml(tmp_path / "experts.toml", space)
    args = ["sweep", "--experiment", str(experiment), "--space", str(space_file),
            "--out", str(tmp_path / "sweeps"), "--json"]  # fmt: skip
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"sweep_dir", "best"}
    folder = Path(printed["sweep_dir"])
    assert folder == tmp_path / "sweeps" / "experts"
    assert {"trials.parquet", "sweep.json", "report.html"} <= {p.name for p in folder.iterdir()}
    table = pd.read_parquet(folder / "trials.parquet")
    assert sorted(table["trial"].unique()) == [0, 1, 2, 3] and (table["status"] == "ok").all()
    first = table[table["trial"] == 0]
    assert set(first["model"]) == {"ma_cross", "mixture", "flat", "buy_and_hold", "logistic"}
    assert set(table.loc[table["trial"] == 2, "model"]) >= {"cnn", "ma_cross", "mixture"}
    assert json.loads(first["parameters"].iloc[0]) == {"backtest.experts": ["ma_cross"],
                                                       "labels.dead_zone": 0.0005}  # fmt: skip
    assert table["param.labels.dead_zone"].iloc[0] == 0.0005
    mixture = table[table["model"] == "mixture"].set_index("trial")
    for _, row in mixture.iterrows():  # the objective is the mean of the trial's folds
        folds = pd.read_parquet(Path(row["study_dir"]) / "folds.parquet")
        per_fold = folds.loc[folds["model"] == "mixture", "net_return"].tolist()
        assert list(row["net_return_by_fold"]) == pytest.approx(per_fold) and len(per_fold) == 2
        assert (
            row["objective"] == pytest.approx(sum(per_fold) / 2) == pytest.approx(row["net_return"])
        )
    best = printed["best"]
    assert best["trial"] == int(mixture["objective"].idxmax())
    assert best["objective"] == pytest.approx(mixture["objective"].max())
    assert set(best["baselines"]) == {"flat", "buy_and_hold"} and best["baselines"]["flat"] == 0
    report = (folder / "report.html").read_text()
    assert "Parameter importance" in report and "Spread across folds" in report
    importance = json.loads((folder / "sweep.json").read_text())["importance"]
    assert set(importance) == {"backtest.experts", "labels.dead_zone"}

    results = sorted(folder.glob("trials/*/*/result.json"))
    assert len(results) == 4 * 2  # four trials of two folds
    kept = {p: p.stat().st_mtime_ns for p in results}
    assert main(args) == 0  # a rerun finds every fold finished
    assert json.loads(capsys.readouterr().out)["best"] == best
    assert {p: p.stat().st_mtime_ns for p in results} == kept
    pd.testing.assert_frame_equal(pd.read_parquet(folder / "trials.parquet"), table)


def test_an_optuna_sweep_is_deterministic_and_resumes_where_it_stopped(
    small_tables: dict[str, Any], tmp_path: Path
) -> None:
    pytest.importorskip("optuna", reason="the optuna extra: pip install 'mmts[optuna]'")
    tables = _tables(small_tables, RULES)
    space = {"sweep": {"method": "optuna", "seed": 11, "model": "ma_cross", "metric": "sharpe"},
             "space": {"labels.dead_zone": {"low": 0.0002, "high": 0.003, "log": True},
                       "labels.horizon": {"low": 10, "high": 30, "step": 5}}}  # fmt: skip
    a = run_sweep(tables, space, trials=3, out=tmp_path / "a")
    b = run_sweep(tables, space, trials=3, out=tmp_path / "b")
    columns = ["trial", "parameters", "objective", "model", "net_return", "sharpe"]
    table_a = pd.read_parquet(Path(a["sweep_dir"]) / "trials.parquet")
    table_b = pd.read_parquet(Path(b["sweep_dir"]) / "trials.parquet")
    pd.testing.assert_frame_equal(table_a[columns], table_b[columns])
    assert table_a["parameters"].nunique() == 3  # three different draws
    horizons = table_a["param.labels.horizon"]
    assert set(horizons) <= {10, 15, 20, 25, 30}
    assert a["best"]["parameters"] == b["best"]["parameters"]

    before = set(Path(a["sweep_dir"]).glob("trials/*/*/result.json"))
    longer = run_sweep(tables, space, trials=4, out=tmp_path / "a")  # resume, one trial more
    table = pd.read_parquet(Path(longer["sweep_dir"]) / "trials.parquet")
    pd.testing.assert_frame_equal(table[table["trial"] < 3][columns].reset_index(drop=True),
                                  table_a[columns])  # fmt: skip
    after = set(Path(a["sweep_dir"]).glob("trials/*/*/result.json"))
    assert before < after and len(after - before) == 2  # only the new trial's two folds ran


def test_a_failing_trial_is_reported_and_the_sweep_goes_on(
    small_tables: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    write_toml: Callable[[Path, dict[str, Any]], Path],
) -> None:
    space = {"space": {"study.start": ["2030-01-01T00:00:00Z", "2024-07-01T00:00:00Z"]}}
    experiment = write_toml(tmp_path / "small.toml", _tables(small_tables, RULES))
    space_file = write_toml(tmp_path / "start.toml", space)
    assert main(["sweep", "--experiment", str(experiment), "--space", str(space_file),
                 "--out", str(tmp_path)]) == 1  # fmt: skip
    captured = capsys.readouterr()
    assert "trial 0 failed" in captured.err and "no ETH/USDT 1m bars" in captured.err
    assert "best trial 1" in captured.out
    table = pd.read_parquet(tmp_path / "start" / "trials.parquet")
    assert table.loc[table["trial"] == 0, "status"].tolist() == ["failed"]
    assert (table.loc[table["trial"] == 1, "status"] == "ok").all()
