"""The report's tables on hand-made runs: units, monthly returns, gross vs fees, the trade list."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mmts.backtest import tearsheet
from mmts.backtest.report import report_html

DAY = 86_400 * 10**9


def _equity(
    days: list[int], values: list[float], positions: list[float], prices: list[float]
) -> pd.DataFrame:
    t0 = pd.Timestamp("2024-01-30", tz="UTC").value
    return pd.DataFrame({"time": pd.to_datetime([t0 + d * DAY for d in days], utc=True),
                         "equity": values, "position": positions, "price": prices})  # fmt: skip


def test_monthly_returns_chain_month_ends_from_the_start_equity() -> None:
    eq = _equity([0, 1, 2, 31], [105.0, 110.0, 99.0, 108.9], [0, 0, 0, 0], [1, 1, 1, 1])
    table = tearsheet.monthly_returns(eq, 100.0)
    assert list(table.columns) == list(range(1, 13)) and list(table.index) == [2024]
    assert table.loc[2024, 1] == pytest.approx(0.10)  # Jan 30, 31: 110 / 100
    assert table.loc[2024, 2] == pytest.approx(99.0 / 110.0 - 1)  # Feb 1 is its last: 99
    assert table.loc[2024, 3] == pytest.approx(108.9 / 99.0 - 1)
    assert np.isnan(table.loc[2024, 4])


def test_gross_pnl_is_net_plus_the_fees_booked_by_each_decision() -> None:
    eq = _equity([0, 1, 2], [100.0, 99.0, 103.0], [0, 1, 0], [10, 10, 14])
    fills = pd.DataFrame({"time": pd.to_datetime([eq["time"][0].value + DAY // 2, eq["time"][1].value + 1], utc=True),
                          "signed_qty": [1.0, -1.0], "price": [10.0, 14.0], "fee": [1.0, 0.5], "side": [1, -1]})  # fmt: skip
    pnl = tearsheet.pnl_breakdown(fills, eq, 100.0)
    assert pnl["fees"].tolist() == [0.0, 1.0, 1.5]
    assert pnl["net"].tolist() == [0.0, -1.0, 3.0]
    assert pnl["gross"].tolist() == [0.0, 0.0, 4.5]
    assert tearsheet.exposure(eq).tolist() == [0.0, 10 / 99, 0.0]
    trades = tearsheet.trade_list(fills)
    assert len(trades) == 1 and trades["pnl"].iloc[0] == pytest.approx(4 - 1.5)
    assert trades["exit_time"].iloc[0] == fills["time"].iloc[1]


def test_the_metrics_table_shows_metrics_with_units_and_meanings() -> None:
    metrics = {"total_return": 0.0123, "sharpe": 1.234, "max_drawdown": 0.003, "win_rate": None,
               "trades": 12, "fees": 4.5, "turnover": 2.0, "engine": "fast", "events": 10,
               "start_equity": 10_000.0, "buy_and_hold": {"total_return": -0.02, "sharpe": None}}  # fmt: skip
    rows = {r["key"]: r for r in tearsheet.metric_rows(metrics)}
    assert set(rows) == {
        "total_return",
        "sharpe",
        "max_drawdown",
        "win_rate",
        "trades",
        "fees",
        "turnover",
        "start_equity",
    }  # the engine and events describe the run
    assert (
        rows["total_return"]["strategy"] == "1.23 %"
        and rows["total_return"]["buy_and_hold"] == "-2.00 %"
    )
    assert rows["max_drawdown"]["strategy"] == "0.30 %" and rows["sharpe"]["buy_and_hold"] == "n/a"
    assert rows["win_rate"]["strategy"] == "n/a" and rows["fees"]["strategy"] == "4.50"
    assert rows["turnover"]["strategy"] == "2.00 x" and rows["trades"]["strategy"] == "12"
    assert all(r["definition"] for r in rows.values())


def test_the_report_has_every_section_and_draws_offline() -> None:
    eq = _equity([0, 1, 2], [100.0, 99.0, 103.0], [0, 1, 0], [10, 10, 14])
    fills = pd.DataFrame({"time": pd.to_datetime([eq["time"][0].value + 1, eq["time"][1].value + 1], utc=True),
                          "signed_qty": [1.0, -1.0], "price": [10.0, 14.0], "fee": [1.0, 0.5], "side": [1, -1]})  # fmt: skip
    decisions = pd.DataFrame({"time": eq["time"], "confidence": [0.5, 0.6, 0.7],
                              "expert_weights": [json.dumps({"a": 0.5, "b": 0.5})] * 3})  # fmt: skip
    metrics = {"total_return": 0.03, "max_drawdown": 0.01, "start_equity": 100.0, "decisions": 3,
               "decision_every": "5 x 1m", "engine": "event", "events": 9, "buy_and_hold": {}}  # fmt: skip
    manifest = {
        "models": {"cnn": "default-abc-e01"},
        "git_commit": "f00",
        "experiment": {"seed": 7},
    }
    page = report_html(decisions, fills, eq, metrics, "a run", manifest)
    for heading in ("Metrics", "Equity and drawdown", "Price, fills and exposure", "Gross PnL and fees",
                    "Monthly returns", "Trades", "The mixture", "The run"):  # fmt: skip
        assert f"<h2>{heading}" in page, heading
    assert "bar_ns" not in page and "default-abc-e01" in page and "&quot;seed&quot;: 7" in page
    assert "Gross PnL (before fees) 4.50; fees 1.50 (33 % of gross); net PnL 3.00" in page
    assert page.count("<script") >= 5  # plotly's own, then one per chart
    assert "<script src=" not in page  # plotly.js is inlined: the report works offline
