"""A finished run, read back from its folder: tables, metrics, manifest, and vectorbt's view.

``load_run(run_dir).to_vectorbt()`` turns the run's fills into a ``vectorbt.Portfolio`` on the
run's decision grid, so vectorbt's analytics and plots apply to an mmts run: its value equals
the run's equity at every decision, and its statistics equal ``metrics.json`` (tested).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmts.core.timeframes import timeframe_ns

#: The tables every run folder holds.
RUN_TABLES = ("orders", "fills", "equity", "decisions")


@dataclass(frozen=True)
class BacktestRun:
    """One run folder's contents (``runs/<time>_<name>/``)."""

    path: Path
    manifest: dict[str, Any]
    metrics: dict[str, Any]
    orders: pd.DataFrame
    fills: pd.DataFrame
    equity: pd.DataFrame
    decisions: pd.DataFrame

    @property
    def decision_step(self) -> pd.Timedelta:
        """The time between two decisions (the experiment's decision grid)."""
        data = self.manifest["experiment"]["data"]
        step = timeframe_ns(data["decision_timeframe"]) * int(data["decision_every"])
        return pd.Timedelta(step, "ns")

    def vectorbt_orders(self) -> pd.DataFrame:
        """Return the run's fills as one order per row of a price grid (what vectorbt takes).

        Rows are the decision times (close: the decision price). Fills are booked on the first
        decision at or after them, netted to one order at their average price with their fees
        summed; fills between two decisions that change side, or after the last decision, get
        a row of their own at the last such fill's time (close: their average price).
        """
        times = pd.DatetimeIndex(self.equity["time"]).as_unit("ns").asi8
        closes = self.equity["price"].to_numpy(np.float64)
        fill_times = pd.DatetimeIndex(self.fills["time"]).as_unit("ns").asi8
        row = np.searchsorted(times, fill_times, side="left")
        side = np.sign(self.fills["signed_qty"].to_numpy())
        # A new group wherever the row or the side changes.
        new = np.ones(len(self.fills), bool)
        new[1:] = (row[1:] != row[:-1]) | (side[1:] != side[:-1])
        group = np.cumsum(new) - 1
        frame = self.fills.assign(group=group, row=row, ts=fill_times,
                                  notional=self.fills["signed_qty"] * self.fills["price"])  # fmt: skip
        groups = frame.groupby("group").agg(row=("row", "first"), ts=("ts", "last"),
                                            size=("signed_qty", "sum"),
                                            notional=("notional", "sum"), fees=("fee", "sum"))  # fmt: skip
        groups["price"] = groups["notional"] / groups["size"]
        last_of_row = ~groups["row"].duplicated(keep="last")
        on_grid = last_of_row & (groups["row"] < times.shape[0])
        grid = pd.DataFrame({"close": closes, "size": np.nan, "price": closes, "fees": 0.0},
                            index=times)  # fmt: skip
        booked = groups[on_grid]
        at = times[booked["row"].to_numpy()]
        grid.loc[at, ["size", "price", "fees"]] = booked[["size", "price", "fees"]].to_numpy()
        extra = groups[~on_grid]
        own = pd.DataFrame({"close": extra["price"].to_numpy(), "size": extra["size"].to_numpy(),
                            "price": extra["price"].to_numpy(), "fees": extra["fees"].to_numpy()},
                           index=extra["ts"].to_numpy())  # fmt: skip
        out = pd.concat([grid, own]).sort_index(kind="stable")
        out.index = pd.DatetimeIndex(out.index.to_numpy().astype("datetime64[ns]"), name="time")
        return out

    def to_vectorbt(self) -> Any:
        """Return a ``vectorbt.Portfolio`` of the run's fills (vectorbt is imported here, lazily).

        The index is naive UTC (vectorbt is much slower on tz-aware indexes); ``freq`` is the
        decision step, so its annualised ratios use the run's own step.
        """
        import vectorbt as vbt

        orders = self.vectorbt_orders()
        return vbt.Portfolio.from_orders(
            orders["close"], orders["size"], price=orders["price"], fixed_fees=orders["fees"],
            init_cash=float(self.metrics["start_equity"]), freq=self.decision_step,
        )  # fmt: skip


def load_run(run_dir: str | Path) -> BacktestRun:
    """Read a run folder written by ``mmts backtest`` (a missing table names itself)."""
    path = Path(run_dir)
    missing = [f"{name}.parquet" for name in RUN_TABLES if not (path / f"{name}.parquet").is_file()]
    missing += [name for name in ("manifest.json", "metrics.json") if not (path / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{path} is not a complete run folder: no {', '.join(missing)}")
    tables = {name: pd.read_parquet(path / f"{name}.parquet") for name in RUN_TABLES}
    return BacktestRun(
        path, json.loads((path / "manifest.json").read_text()),
        json.loads((path / "metrics.json").read_text()), **tables,
    )  # fmt: skip
