"""Backtest runs: the folder, byte-identical reruns, and vectorbt agreeing with the run's fills."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from mmts.backtest import load_run


@pytest.mark.slow
def test_run_folder_and_byte_identical_rerun(experiment: str, tmp_path: Path, run_rules) -> None:
    first = run_rules(experiment, tmp_path / "a")
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
    # No order book in this period: the book rule has no opinion and leaves every decision's
    # mixture (it used to vote HOLD and take half the weight).
    left_out = decisions["left_out"].map(json.loads)
    weights = decisions["expert_weights"].map(json.loads)
    assert all(lo["imbalance"].startswith("no usable input: no order book") for lo in left_out)
    assert all("imbalance" not in w for w in weights)
    assert all(w.get("ma_cross") == 1.0 for w in weights.iloc[200:])  # after its 100-bar warm-up
    second = Path(run_rules(experiment, tmp_path / "b")["run_dir"])
    for name in (
        "orders.parquet",
        "fills.parquet",
        "equity.parquet",
        "decisions.parquet",
        "metrics.json",
    ):
        assert (run / name).read_bytes() == (second / name).read_bytes(), name


@pytest.mark.slow
def test_vectorbt_agrees_with_the_runs_fills_and_metrics(
    busy_experiment: str, tmp_path: Path, run_rules
) -> None:
    import vectorbt as vbt

    result = run_rules(busy_experiment, tmp_path)  # busy: more trades to count
    metrics = result["metrics"]
    run = Path(result["run_dir"])
    loaded = load_run(run)
    fills, equity = loaded.fills, loaded.equity
    assert len(fills) >= 6 and (fills["signed_qty"] < 0).any()  # longs and shorts to count
    assert loaded.metrics == metrics and loaded.manifest["engine"] == metrics["engine"]
    pf = loaded.to_vectorbt()
    assert isinstance(pf, vbt.Portfolio)
    value = pf.value()
    on_grid = value.loc[pd.DatetimeIndex(equity["time"]).tz_localize(None)]
    assert on_grid.to_numpy() == pytest.approx(equity["equity"].to_numpy(), rel=1e-9)
    assert len(value) == len(equity) + (fills["time"] > equity["time"].iloc[-1]).any()
    step = loaded.decision_step
    assert step == pd.Timedelta(5, "min")  # decision_every = 5 x 1 m
    stats = pf.stats()
    assert metrics["total_return"] == pytest.approx(stats["Total Return [%]"] / 100, rel=1e-9)
    assert metrics["max_drawdown"] == pytest.approx(stats["Max Drawdown [%]"] / 100, rel=1e-9)
    assert metrics["sharpe"] == pytest.approx(stats["Sharpe Ratio"], rel=1e-9)
    assert metrics["sortino"] == pytest.approx(stats["Sortino Ratio"], rel=1e-9)
    assert metrics["fees"] == pytest.approx(stats["Total Fees Paid"], rel=1e-9)
    assert metrics["round_trips"] == stats["Total Closed Trades"] > 0
    assert metrics["win_rate"] == pytest.approx(stats["Win Rate [%]"] / 100, rel=1e-9)
    assert metrics["profit_factor"] == pytest.approx(stats["Profit Factor"], rel=1e-9)
    # Two days: annual figures are left out; the formula is vectorbt's where they are shown.
    assert metrics["annual_return"] is None and metrics["calmar"] is None
    from mmts.core.performance import annualized_return

    years = len(equity) * step / pd.Timedelta(days=365)
    assert annualized_return(metrics["total_return"], years) == pytest.approx(
        pf.returns().vbt.returns(freq=step).annualized(), rel=1e-9
    )
    # metrics.json is strict JSON: no Infinity or NaN anywhere.
    json.loads((run / "metrics.json").read_text(), parse_constant=_refuse)


def _refuse(name: str) -> None:
    raise AssertionError(f"metrics.json holds {name}")


def test_the_data_hash_covers_what_a_derived_timeframe_reads(
    sample_store_path: Path, tmp_path: Path
) -> None:
    from mmts.backtest.run import data_hash
    from mmts.core.time import to_ns
    from mmts.data import open_store
    from mmts.models.experiment import experiment_from_dict

    exp = experiment_from_dict({"features": {"timeframes": ["1h"]}})  # served from 1 m bars
    sample = open_store(sample_store_path)
    hashes = []
    for until in ("2024-08-20", "2024-08-21"):
        store = open_store(tmp_path / until)
        rows = sample.read("binance", "ETH/USDT", "bars_1m", None, to_ns(until))
        store.write("binance", "ETH/USDT", "bars_1m", rows)
        hashes.append(data_hash(store, exp, 0, 1))
    assert hashes[0] != hashes[1]  # another day of minutes: other 1 h bars, another hash
