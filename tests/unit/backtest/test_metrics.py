"""Every metric's value on hand-computed cases (vectorbt's view of a real run is in test_run)."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest

from mmts.backtest.metrics import closed_trade_pnls, equity_metrics, trade_metrics

DAY = 86_400 * 10**9


def _fills(rows: list[tuple[float, float, float]]) -> pd.DataFrame:
    """Fills from ``(signed qty, price, fee)`` rows, in the runtime's table layout."""
    qty = np.array([r[0] for r in rows], np.float64)
    return pd.DataFrame({"side": np.sign(qty).astype(int), "qty": np.abs(qty), "signed_qty": qty,
                         "price": [r[1] for r in rows], "fee": [r[2] for r in rows]})  # fmt: skip


def _positions(*values: float) -> pd.DataFrame:
    return pd.DataFrame({"position": values})


def test_one_long_round_trip_nets_both_fees() -> None:
    fills = _fills([(1.0, 100.0, 0.10), (-1.0, 110.0, 0.11)])
    m = trade_metrics(fills, _positions(0.0, 1.0, 0.0), 1000.0)
    assert closed_trade_pnls(fills["signed_qty"].to_numpy(), fills["price"].to_numpy(),
                             fills["fee"].to_numpy()) == pytest.approx([9.79])  # fmt: skip
    assert m["trades"] == 2 and m["round_trips"] == 1
    assert m["win_rate"] == 1.0
    assert m["profit_factor"] is None  # no losing trade: undefined, not infinity
    assert m["turnover"] == pytest.approx(0.21)  # (100 + 110) / 1000
    assert m["fees"] == pytest.approx(0.21)
    assert m["exposure"] == pytest.approx(1 / 3)


def test_three_short_round_trips_are_counted() -> None:
    # Short 1 @100 cover @90 (+10); short 1 @100 cover @105 (-5); short 2 @50 cover @48 (+4).
    fills = _fills([(-1, 100, 0), (1, 90, 0), (-1, 100, 0), (1, 105, 0), (-2, 50, 0), (2, 48, 0)])
    m = trade_metrics(fills, _positions(0, -1, 0, -1, 0, -2, 0), 1000.0)
    assert m["round_trips"] == 3
    assert m["win_rate"] == pytest.approx(2 / 3)
    assert m["profit_factor"] == pytest.approx(14 / 5)
    assert m["exposure"] == pytest.approx(3 / 7)


def test_losses_only_and_flat() -> None:
    loss = trade_metrics(_fills([(1, 100, 0), (-1, 95, 0)]), _positions(0, 1, 0), 100.0)
    assert (loss["win_rate"], loss["profit_factor"]) == (0.0, 0.0)
    flat = trade_metrics(_fills([]), _positions(0, 0, 0), 100.0)
    assert flat == {"trades": 0, "round_trips": 0, "win_rate": None, "profit_factor": None,
                    "turnover": 0.0, "fees": 0.0, "exposure": 0.0}  # fmt: skip


def test_a_partial_close_then_a_flip_share_out_the_fees() -> None:
    # Long 2 @100 (fee .2); sell 3 @110 (fee .33): closes the 2 (+20 - .2 entry - .22 of the
    # exit fee) and opens 1 short carrying .11; buy 1 @105 (fee .105): +5 - .11 - .105.
    fills = _fills([(2, 100, 0.2), (-3, 110, 0.33), (1, 105, 0.105)])
    pnls = closed_trade_pnls(fills["signed_qty"].to_numpy(), fills["price"].to_numpy(),
                             fills["fee"].to_numpy())  # fmt: skip
    assert pnls == pytest.approx([19.58, 4.785])
    # The trades' PnL adds up to the account's: realised PnL less every fee paid.
    assert pnls.sum() == pytest.approx(20 + 5 - (0.2 + 0.33 + 0.105))
    # A partial close is a trade of its own (vectorbt's exit trades).
    partial = _fills([(2, 100, 0), (-1, 104, 0), (-1, 98, 0)])
    assert trade_metrics(partial, _positions(2, 1, 0), 100.0)["round_trips"] == 2


def test_the_trade_list_names_each_trade_it_counts() -> None:
    from mmts.backtest.metrics import closed_trades

    fills = _fills([(2, 100, 0.2), (-3, 110, 0.33), (1, 105, 0.105)])
    trades = closed_trades(np.array([10, 20, 30]), fills["signed_qty"].to_numpy(),
                           fills["price"].to_numpy(), fills["fee"].to_numpy())  # fmt: skip
    assert trades["entry_time"].tolist() == [10, 20] and trades["exit_time"].tolist() == [20, 30]
    assert trades["side"].tolist() == [1, -1] and trades["qty"].tolist() == [2.0, 1.0]
    assert trades["entry_price"].tolist() == [100.0, 110.0]
    assert trades["exit_price"].tolist() == [110.0, 105.0]
    assert trades["pnl"].to_numpy() == pytest.approx([19.58, 4.785])
    assert trades["return"].to_numpy() == pytest.approx([19.58 / 200, 4.785 / 110])


def test_a_known_drawdown_and_its_ratios() -> None:
    times = np.arange(3, dtype=np.int64) * DAY
    m = equity_metrics(times, np.array([110.0, 99.0, 121.0]), 100.0)
    returns = [0.1, -0.1, 121 / 99 - 1]
    assert m["total_return"] == pytest.approx(0.21)
    assert m["max_drawdown"] == pytest.approx(0.1)  # 110 -> 99
    assert m["sharpe"] == pytest.approx(
        statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(365)
    )
    downside = math.sqrt((0.1**2) / 3)  # one losing day of three
    assert m["sortino"] == pytest.approx(statistics.mean(returns) / downside * math.sqrt(365))
    # Three days compounded to a year say nothing: left out, not a Calmar of thousands.
    assert m["annual_return"] is None and m["calmar"] is None
    assert m["days"] == pytest.approx(3.0)


def test_annual_figures_from_a_long_enough_window() -> None:
    days = 60
    times = np.arange(days, dtype=np.int64) * DAY
    equity = 100.0 * np.r_[np.full(days // 2, 1.2), np.full(days - days // 2, 1.1)]
    m = equity_metrics(times, equity, 100.0)
    annual = 1.1 ** (365 / days) - 1
    assert m["annual_return"] == pytest.approx(annual)
    assert m["max_drawdown"] == pytest.approx(1 - 1.1 / 1.2)
    assert m["calmar"] == pytest.approx(annual / (1 - 1.1 / 1.2))


def test_a_flat_curve_has_no_ratios() -> None:
    times = np.arange(40, dtype=np.int64) * DAY
    m = equity_metrics(times, np.full(40, 100.0), 100.0)
    assert m["total_return"] == 0.0 and m["max_drawdown"] == 0.0
    assert m["sharpe"] is None and m["sortino"] is None and m["calmar"] is None
    assert m["annual_return"] == 0.0


def test_a_loss_only_curve() -> None:
    times = np.arange(3, dtype=np.int64) * DAY
    m = equity_metrics(times, np.array([90.0, 81.0, 72.9]), 100.0)
    assert m["total_return"] == pytest.approx(-0.271)
    assert m["max_drawdown"] == pytest.approx(0.271)
    assert m["sharpe"] is None  # every day -10 %: no variation
    assert m["sortino"] == pytest.approx(-math.sqrt(365))  # mean -0.1 over downside 0.1
