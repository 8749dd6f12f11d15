"""``mmts study`` on the bundled data: the fold table, its engines, resuming and failed folds."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mmts.cli.main import main
from mmts.models.registry import model_kind, register_model_type
from mmts.study.run import run_study

pytestmark = pytest.mark.slow

MODELS = {"cnn", "rl", "ma_cross", "imbalance", "mixture", "flat", "buy_and_hold", "logistic"}


def test_serial_process_and_ray_engines_give_identical_fold_tables(
    small_tables: dict[str, Any], tmp_path: Path
) -> None:
    serial = run_study(small_tables, engine="serial", out=tmp_path / "serial")
    folder = Path(serial["study_dir"])
    assert {p.name for p in folder.iterdir() if p.is_file()} >= {"folds.parquet", "summary.json",
                                                                  "report.html"}  # fmt: skip
    table = pd.read_parquet(folder / "folds.parquet")
    assert set(table["model"]) == MODELS and len(table) == 3 * len(MODELS)
    assert (table["status"] == "ok").all()
    for column in ("train_start", "train_end", "val_start", "val_end", "test_start", "test_end",
                   "net_return", "sharpe", "max_drawdown", "trades", "f1_macro",
                   "calibration_error", "net_return_low", "net_return_high", "regime"):  # fmt: skip
        assert column in table
    spans = table.drop_duplicates("fold")
    assert (spans["train_end"] < spans["val_start"]).all()  # the purge between segments
    assert (spans["val_end"] < spans["test_start"]).all()
    assert (spans["test_start"].iloc[1:].to_numpy() >= spans["test_end"].iloc[:-1].to_numpy()).all()
    flat = table[table["model"] == "flat"]
    assert (flat["net_return"] == 0).all() and (flat["trades"] == 0).all()
    summary = serial["summary"]
    assert summary["finished"] == 3 and not summary["failed"]
    assert any(line.startswith("cnn: ") for line in summary["answer"])
    assert json.loads((folder / "summary.json").read_text())["answer"] == summary["answer"]
    pytest.importorskip("ray", reason="the ray extra: pip install 'mmts[ray]'")
    for engine in ("process", "ray"):
        other = run_study(small_tables, engine=engine, workers=2, out=tmp_path / engine)
        pd.testing.assert_frame_equal(
            pd.read_parquet(Path(other["study_dir"]) / "folds.parquet"), table
        )


def test_a_diverging_fold_is_reported_and_a_rerun_runs_only_what_did_not_finish(
    small_tables: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    write_toml: Callable[[Path, dict[str, Any]], Path],
) -> None:
    kind = model_kind("cnn")
    real = kind.train
    assert real is not None

    def diverging(store: Any, exp: Any, **kwargs: Any) -> dict[str, Any]:
        summary = real(store, exp, **kwargs)
        if kwargs["segments"].test[0] > pd.Timestamp("2024-08-19", tz="UTC").value:
            summary["val_loss"] = float("nan")  # what a diverging network reports
        return summary

    register_model_type("cnn", kind.factory, trained=True, train=diverging, load=kind.load)
    try:
        first = run_study(small_tables, out=tmp_path)["summary"]
    finally:
        register_model_type("cnn", kind.factory, trained=True, train=real, load=kind.load)
    assert first["finished"] == 2
    assert [f["fold"] for f in first["failed"]] == [2]
    assert "cnn diverged" in first["failed"][0]["error"]
    folder = tmp_path / "default"
    table = pd.read_parquet(folder / "folds.parquet")
    failed = table[table["fold"] == 2]
    assert (failed["status"] == "failed").all() and failed["net_return"].isna().all()
    kept = {p: p.stat().st_mtime_ns for p in folder.glob("0[01]-*/result.json")}
    assert len(kept) == 2

    path = write_toml(tmp_path / "small.toml", small_tables)
    assert main(["study", "--experiment", str(path), "--out", str(tmp_path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"study_dir", "summary"}
    assert printed["summary"]["finished"] == 3 and not printed["summary"]["failed"]
    assert {p: p.stat().st_mtime_ns for p in kept} == kept  # finished folds were not rerun
