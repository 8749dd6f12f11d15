"""A run read back: vectorbt's orders from hand-made fills, and a folder that is not a run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmts.backtest.results import BacktestRun, load_run

M = 60 * 10**9


def _run(fill_rows: list[tuple[int, float, float, float]]) -> BacktestRun:
    times = pd.to_datetime(np.arange(4) * 5 * M, utc=True)
    equity = pd.DataFrame({"time": times, "equity": 100.0, "position": 0.0,
                           "price": [10.0, 11.0, 12.0, 13.0]})  # fmt: skip
    fills = pd.DataFrame({
        "time": pd.to_datetime([t for t, *_ in fill_rows], utc=True),
        "signed_qty": [q for _, q, _, _ in fill_rows], "price": [p for *_, p, _ in fill_rows],
        "fee": [f for *_, f in fill_rows],
    })  # fmt: skip
    manifest = {"experiment": {"data": {"decision_timeframe": "1m", "decision_every": 5}}}
    return BacktestRun(Path(), manifest, {"start_equity": 100.0}, pd.DataFrame(), fills,
                       equity, pd.DataFrame())  # fmt: skip


@pytest.mark.slow  # vectorbt's import alone is ~5 s
def test_fills_become_one_order_per_decision_and_own_rows_where_they_must() -> None:
    run = _run([
        (1 * M, 1.0, 10.0, 0.1), (2 * M, 1.0, 11.0, 0.1),  # one order: 2 at 10.5, fees 0.2
        (6 * M, -2.0, 12.0, 0.2), (7 * M, 3.0, 12.5, 0.3),  # a side change: its own row first
        (16 * M, -1.0, 13.5, 0.1),  # after the last decision: its own row
    ])  # fmt: skip
    orders = run.vectorbt_orders()
    assert list(orders.index.as_unit("ns").asi8) == [0, 5 * M, 6 * M, 10 * M, 15 * M, 16 * M]
    assert orders["size"].fillna(0).tolist() == [0.0, 2.0, -2.0, 3.0, 0.0, -1.0]
    assert orders.loc[pd.Timestamp(5 * M), "price"] == pytest.approx(10.5)
    assert orders.loc[pd.Timestamp(5 * M), "fees"] == pytest.approx(0.2)
    assert orders.loc[pd.Timestamp(6 * M), "close"] == 12.0  # its own price
    assert orders.loc[pd.Timestamp(10 * M), "close"] == 12.0  # the decision price
    assert run.decision_step == pd.Timedelta(5, "min")
    value = run.to_vectorbt().value()
    # cash 100 - 21 - 0.2 + 24 - 0.2 - 37.5 - 0.3 + 13.5 - 0.1; at 10 min: position 3 at 12
    assert value.loc[pd.Timestamp(10 * M)] == pytest.approx(
        100 - 21 - 0.2 + 24 - 0.2 - 37.5 - 0.3 + 36
    )


def test_a_folder_that_is_not_a_run_says_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "fills.parquet").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"not a complete run folder: no orders\.parquet"):
        load_run(tmp_path)
