"""``run_signals`` against vectorbt on the workload users compare engines on.

Deterministic seeded random-walk 1 s bars, N = 864,000; SMA(20)/SMA(100) of close; a cross
above -> target +1 unit, below -> -1 (always in the market after the first cross); the signal on
bar t's close fills at bar t+1's open; taker fee 4 bps; PnL marked at the last close.
Both engines get the same targets (the cross signals are computed once); PnL and fees are
compared to 1e-9 relative before timing. Warm: best of 7 in this process. Fresh: a new Python
process that imports the engine, builds the bars and runs (numba cache / vectorbt imports).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np

N, FAST, SLOW, FEE_BPS, SEED = 864_000, 20, 100, 4.0, 42

FRESH_MMTS = """
import time; t0 = time.perf_counter()
from mmts.backtest.signals import random_walk_bars, run_signals, sma_cross_targets
bars = random_walk_bars({n}, seed={seed})
r = run_signals(bars, sma_cross_targets(bars["close"].to_numpy(), {fast}, {slow}), fee_bps={fee})
print(repr(r.pnl)); print(time.perf_counter() - t0)
"""

FRESH_VBT = """
import time; t0 = time.perf_counter()
import numpy as np, vectorbt as vbt
from mmts.backtest.signals import random_walk_bars
bars = random_walk_bars({n}, seed={seed})
fast = vbt.MA.run(bars["close"], {fast}).ma.to_numpy(); slow = vbt.MA.run(bars["close"], {slow}).ma.to_numpy()
d = fast - slow; prev = np.concatenate([[np.nan], d[:-1]])
target = np.where((prev <= 0) & (d > 0), 1.0, np.where((prev >= 0) & (d < 0), -1.0, np.nan))
size = np.concatenate([[np.nan], target[:-1]])
pf = vbt.Portfolio.from_orders(bars["close"], size, size_type="targetamount", price=bars["open"],
                               fees={fee} / 1e4, init_cash=1e9, freq="1s")
print(repr(float(pf.final_value() - 1e9))); print(time.perf_counter() - t0)
"""


def vectorbt_pnl(bars, target) -> tuple[float, float]:
    """Return vectorbt's (PnL, fees) for the same targets and fill rule."""
    import vectorbt as vbt

    size = np.concatenate([[np.nan], target[:-1]])  # decided at t's close, filled at t+1's open
    pf = vbt.Portfolio.from_orders(bars["close"], size, size_type="targetamount",
                                   price=bars["open"], fees=FEE_BPS / 1e4, init_cash=1e9, freq="1s")  # fmt: skip
    return float(pf.final_value() - 1e9), float(pf.orders.records["fees"].sum())


def _fresh(code: str) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", code.format(n=N, seed=SEED, fast=FAST, slow=SLOW, fee=FEE_BPS)],
                         capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    return float(out[-2]), float(out[-1])


def run() -> list[dict[str, object]]:
    from mmts.backtest.signals import random_walk_bars, run_signals, sma_cross_targets

    bars = random_walk_bars(N, seed=SEED)
    close = bars["close"].to_numpy()
    target = sma_cross_targets(close, FAST, SLOW)
    ours = run_signals(bars, target, fee_bps=FEE_BPS)
    vbt_pnl, vbt_fees = vectorbt_pnl(bars, target)
    assert abs(ours.pnl - vbt_pnl) <= 1e-9 * max(abs(vbt_pnl), 1.0), (ours.pnl, vbt_pnl)
    assert abs(ours.fees - vbt_fees) <= 1e-9 * max(vbt_fees, 1.0), (ours.fees, vbt_fees)

    def mmts_warm() -> None:
        run_signals(bars, sma_cross_targets(close, FAST, SLOW), fee_bps=FEE_BPS)

    def vbt_warm() -> None:
        import vectorbt as vbt

        fast = vbt.MA.run(bars["close"], FAST).ma.to_numpy()
        slow = vbt.MA.run(bars["close"], SLOW).ma.to_numpy()
        d = fast - slow
        prev = np.concatenate([[np.nan], d[:-1]])
        t = np.where((prev <= 0) & (d > 0), 1.0, np.where((prev >= 0) & (d < 0), -1.0, np.nan))
        vectorbt_pnl(bars, t)

    warm = {
        name: min(_timed(fn) for _ in range(3))
        for name, fn in (("mmts", mmts_warm), ("vbt", vbt_warm))
    }
    fresh_pnl, fresh_mmts = _fresh(FRESH_MMTS)
    fresh_vbt_pnl, fresh_vbt = _fresh(FRESH_VBT)
    assert abs(fresh_pnl - ours.pnl) <= 1e-9 * max(abs(ours.pnl), 1.0)
    print(
        json.dumps({"pnl": ours.pnl, "fills": len(ours.fills), "vbt_fresh_pnl": fresh_vbt_pnl}),
        file=sys.stderr,
    )
    return [
        {"benchmark": f"run_signals SMA cross, {N:,} 1 s bars, warm ({len(ours.fills):,} fills, PnL equal to 1e-9)",
         "mmts": f"{warm['mmts']:.4f} s", "reference": f"vectorbt {warm['vbt']:.3f} s",
         "speedup": f"{warm['vbt'] / warm['mmts']:.0f}x"},
        {"benchmark": "run_signals SMA cross, fresh process (imports + data + run)",
         "mmts": f"{fresh_mmts:.2f} s", "reference": f"vectorbt {fresh_vbt:.2f} s",
         "speedup": f"{fresh_vbt / fresh_mmts:.1f}x"},
    ]  # fmt: skip


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    for row in run():
        print(row)
