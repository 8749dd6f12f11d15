"""Backtest runs: the folder, byte-identical reruns, and vectorbt agreeing with the run's fills."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmts.cli.main import main

TOML = """
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


@pytest.fixture
def experiment(sample_store_path: Path, tmp_path: Path) -> str:
    path = tmp_path / "rules.toml"
    path.write_text(TOML.format(store=sample_store_path))
    return str(path)


def _run(experiment: str, out: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    args = ["backtest", "--experiment", experiment, "--start", "2024-08-20T00:00:00Z",
            "--end", "2024-08-22T00:00:00Z", "--out", str(out), "--no-progress", "--json"]  # fmt: skip
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


def test_run_folder_and_byte_identical_rerun(experiment: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    first = _run(experiment, tmp_path / "a", capsys)
    run = Path(first["run_dir"])
    for name in ("manifest.json", "metrics.json", "orders.parquet", "fills.parquet", "equity.parquet",
                 "decisions.parquet", "report.html", "report.png"):  # fmt: skip
        assert (run / name).is_file(), name
    fills = pd.read_parquet(run / "fills.parquet")
    assert {"time", "side", "qty", "price", "fee"} <= set(fills.columns) and len(fills) > 0
    decisions = pd.read_parquet(run / "decisions.parquet")
    assert {"time", "action", "size", "confidence", "expert_weights"} <= set(decisions.columns)
    assert len(decisions) == 2 * 24 * 12 + 1
    manifest = json.loads((run / "manifest.json").read_text())
    assert (
        manifest["models"] == {"ma_cross": "rule", "imbalance": "rule"} and manifest["data"]["hash"]
    )
    for key in ("total_return", "sharpe", "sortino", "max_drawdown", "calmar", "win_rate",
                "profit_factor", "turnover", "fees", "exposure", "trades", "annual_return"):  # fmt: skip
        assert key in first["metrics"], key
    assert "total_return" in first["metrics"]["buy_and_hold"]
    second = Path(_run(experiment, tmp_path / "b", capsys)["run_dir"])
    for name in (
        "orders.parquet",
        "fills.parquet",
        "equity.parquet",
        "decisions.parquet",
        "metrics.json",
    ):
        assert (run / name).read_bytes() == (second / name).read_bytes(), name


def test_vectorbt_agrees_with_the_runs_fills(experiment: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    vbt = pytest.importorskip("vectorbt")
    result = _run(experiment, tmp_path, capsys)
    run = Path(result["run_dir"])
    fills = pd.read_parquet(run / "fills.parquet")
    equity = pd.read_parquet(run / "equity.parquet")
    cash = result["metrics"]["start_equity"]
    n = len(fills)
    close = np.concatenate([fills["price"].to_numpy(), [equity["price"].iloc[-1]]])
    size = np.concatenate([fills["signed_qty"].to_numpy(), [np.nan]])
    fixed = np.concatenate([fills["fee"].to_numpy(), [0.0]])
    pf = vbt.Portfolio.from_orders(close, size, price=close, fixed_fees=fixed, init_cash=cash,
                                   freq="1min")  # fmt: skip
    assert len(pf.orders.records) == n
    ours_pnl = result["metrics"]["end_equity"] - cash
    assert ours_pnl == pytest.approx(float(pf.final_value() - cash), rel=1e-9, abs=1e-9)
    assert result["metrics"]["fees"] == pytest.approx(
        float(pf.orders.records["fees"].sum()), rel=1e-9
    )
