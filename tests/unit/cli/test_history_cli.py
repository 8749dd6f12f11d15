"""``mmts history query``: a run's ledger on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from mmts.cli.main import main

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_query_a_runs_ledger(sample_store_path: Path, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    toml = (ROOT / "experiments" / "paper_rules.toml").read_text()
    experiment = tmp_path / "rules.toml"
    experiment.write_text(toml.replace('store = "data"', f'store = "{sample_store_path}"'))
    assert main(["backtest", "--experiment", str(experiment), "--start", "2024-08-08T23:58:00Z",
                 "--end", "2024-08-09T00:04:00Z", "--out", str(tmp_path / "runs"), "--no-progress",
                 "--json"]) == 0  # fmt: skip
    run_dir = Path(json.loads(capsys.readouterr().out)["run_dir"])
    decisions = pd.read_parquet(run_dir / "decisions.parquet")

    args = ["history", "query", "--ledger", str(run_dir), "--model", "mixture", "--outcomes"]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = out["predictions"]
    assert out["rows"] == len(rows) == len(decisions)
    assert [r["action"] for r in rows] == list(decisions["action"])
    assert rows[0]["outcome"] in {"BUY", "HOLD", "SELL"} and rows[-1]["outcome"] is None
    assert main([*args, "--start", "2024-08-09T00:00:00Z", "--limit", "3"]) == 0
    text = capsys.readouterr().out
    assert "the latest 3 shown" in text and "2024-08-09 00:04:00" in text

    assert main(["history", "query", "--ledger", str(tmp_path)]) == 2
    assert "no ledger here" in capsys.readouterr().err
