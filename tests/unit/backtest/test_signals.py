"""run_signals: hand-checked fills, a plain-loop oracle on random targets, vectorbt on real bars."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmts.backtest import run_signals, sma_cross_targets
from mmts.data import open_store


def _bars(opens: list[float], closes: list[float]) -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=len(opens), freq="1min")
    return pd.DataFrame({"open": opens, "close": closes}, index=index)


def test_signal_fills_at_the_next_open_with_fees() -> None:
    bars = _bars([10.0, 11.0, 12.0, 13.0], [10.5, 11.5, 12.5, 13.5])
    result = run_signals(bars, np.array([1.0, np.nan, -1.0, 1.0]), fee_bps=10.0)
    assert result.fills["price"].tolist() == [11.0, 13.0]  # the last target never fills
    assert result.fills["side"].tolist() == [1, -1]
    assert result.fills["qty"].tolist() == [1.0, 2.0]
    fees = 11.0 * 1e-3 + 26.0 * 1e-3
    assert result.fees == pytest.approx(fees)
    # Long 1 from 11 to 13, then short 1 from 13, marked at 13.5.
    assert result.pnl == pytest.approx((13 - 11) + (13 - 13.5) - fees)
    assert result.equity["position"].tolist() == [0.0, 1.0, 1.0, -1.0]


def test_fill_at_close_and_slippage() -> None:
    bars = _bars([10.0, 11.0], [10.0, 12.0])
    result = run_signals(bars, np.array([2.0, 0.0]), slippage_bps=100.0, fill="close")
    assert result.fills["price"].tolist() == [10.1, pytest.approx(11.88)]
    assert result.pnl == pytest.approx(2 * (11.88 - 10.1))


def _oracle(opens: np.ndarray, closes: np.ndarray, target: np.ndarray, fee: float) -> float:
    pos, cash = 0.0, 0.0
    for t in range(1, len(opens)):
        want = target[t - 1]
        if not np.isnan(want) and want != pos:
            qty = want - pos
            cash -= qty * opens[t] + abs(qty) * opens[t] * fee
            pos = want
    return cash + pos * closes[-1]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.floats(1, 100), st.floats(1, 100),
                          st.one_of(st.just(np.nan), st.floats(-3, 3))), min_size=1, max_size=60))  # fmt: skip
def test_pnl_equals_a_plain_loop(rows: list[tuple[float, float, float]]) -> None:
    opens, closes, target = (np.array(c) for c in zip(*rows, strict=True))
    result = run_signals(_bars(list(opens), list(closes)), target, fee_bps=4.0)
    assert result.pnl == pytest.approx(_oracle(opens, closes, target, 4e-4), rel=1e-12, abs=1e-9)


@pytest.mark.slow  # vectorbt's import alone is ~5 s
def test_same_pnl_and_fees_as_vectorbt_on_real_bars(sample_store_path) -> None:
    import vectorbt as vbt  # a hard dependency: a broken install must fail here, not skip

    bars = open_store(sample_store_path).bars("ETH/USDT", "1m")
    bars.index = bars.index.tz_localize(None)  # vectorbt is ~100x slower on tz-aware indexes
    target = sma_cross_targets(bars["close"].to_numpy(), 20, 100)
    ours = run_signals(bars, target, fee_bps=4.0)
    size = np.concatenate([[np.nan], target[:-1]])
    pf = vbt.Portfolio.from_orders(bars["close"], size, size_type="targetamount", price=bars["open"],
                                   fees=4e-4, init_cash=1e9, freq="1min")  # fmt: skip
    assert len(ours.fills) == len(pf.orders.records) > 100
    assert ours.pnl == pytest.approx(float(pf.final_value() - 1e9), rel=1e-9)
    assert ours.fees == pytest.approx(float(pf.orders.records["fees"].sum()), rel=1e-9)


def test_bad_bars_are_named() -> None:
    bars = _bars([10.0, np.nan, 12.0], [10.0, 11.0, 12.0])
    with pytest.raises(ValueError, match="bar 1"):
        run_signals(bars, np.zeros(3))
    with pytest.raises(ValueError, match="shape"):
        run_signals(_bars([1.0, 2.0], [1.0, 2.0]), np.zeros(3))
    backwards = _bars([1.0, 2.0], [1.0, 2.0]).iloc[::-1]
    with pytest.raises(ValueError, match="increasing"):
        run_signals(backwards, np.zeros(2))


def test_equity_starts_from_the_capital_given(sample_store_path) -> None:
    bars = open_store(sample_store_path).bars("ETH/USDT", "1m").iloc[:2000]
    targets = sma_cross_targets(bars["close"], 20, 100)
    pnl_only = run_signals(bars, targets, fee_bps=4.0)
    funded = run_signals(bars, targets, fee_bps=4.0, initial_cash=10_000.0)
    assert pnl_only.equity["equity"].iloc[0] == 0.0 and funded.equity["equity"].iloc[0] == 10_000.0
    np.testing.assert_allclose(
        funded.equity["equity"] - 10_000.0, pnl_only.equity["equity"], atol=1e-9
    )
    assert funded.pnl == pnl_only.pnl and funded.initial_cash == 10_000.0
