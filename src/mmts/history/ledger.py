"""Reading a ledger: predictions, the inputs they read (rebuilt), outcomes, promotions, alerts.

A reader takes no lock: it reads the parts that are whole now (:mod:`mmts.history.parts`),
so a notebook or the dashboard can query the ledger a live session is writing.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from mmts.core.time import to_ns
from mmts.core.timeframes import timeframe_ns
from mmts.features.inputs import (
    OHLCV_FEATURES,
    ModelInput,
    ModelInputLayout,
    assemble_windows,
    input_hash,
)
from mmts.history.epochs import LedgerError, ledger_folder, load_layout
from mmts.history.frames import FrameIndex, input_series, series_name
from mmts.history.parts import PartTable
from mmts.history.schema import TABLES, TIME


def open_ledger(path: str | os.PathLike[str]) -> Ledger:
    """Open the ledger of a run folder, a live session's ``--out`` folder or a ``ledger/`` folder."""
    return Ledger(ledger_folder(path))


def _time_filter(start: object, end: object) -> ds.Expression | None:
    expr = None
    lo, hi = to_ns(start), to_ns(end)
    if lo is not None:
        expr = ds.field("time") >= pa.scalar(lo, TIME)
    if hi is not None:
        upper = ds.field("time") < pa.scalar(hi, TIME)
        expr = upper if expr is None else expr & upper
    return expr


def _and(expr: ds.Expression | None, more: ds.Expression) -> ds.Expression:
    return more if expr is None else expr & more


class Ledger:
    """The ledger in ``folder`` (see :func:`open_ledger`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.tables = {
            name: PartTable(self.folder / name, schema) for name, schema in TABLES.items()
        }

    def __repr__(self) -> str:
        return f"Ledger({str(self.folder)!r})"

    def read(self, table: str, filter: ds.Expression | None = None) -> pd.DataFrame:
        """Return the rows of one table matching ``filter`` as a DataFrame."""
        if table not in self.tables:
            raise LedgerError(f"a ledger has no table {table!r}; it has {sorted(self.tables)}")
        frame: pd.DataFrame = self.tables[table].read(filter).to_pandas()
        return frame

    def predictions(self, model: str | None = None, symbol: str | None = None,
                    start: object = None, end: object = None, with_outcomes: bool = False,
                    role: str | None = None) -> pd.DataFrame:  # fmt: skip
        """Return the predictions in ``[start, end)``, oldest first (experts, then the mixture).

        ``model``: one expert's name (or ``"mixture"``, the mixture's decisions).
        """
        expr = _time_filter(start, end)
        if model is not None:
            expr = _and(expr, ds.field("model") == model)
        if symbol is not None:
            expr = _and(expr, ds.field("symbol") == symbol)
        if role is not None:
            expr = _and(expr, ds.field("role") == role)
        frame = self.read("predictions", expr)
        if with_outcomes:
            outcomes = self.outcomes(model=model, start=start, end=end, role=role)
            keys = ["time", "model", "role"]
            frame = frame.merge(outcomes.drop(columns=["input_id"]), on=keys, how="left")
        return frame.sort_values(["time", "model", "role"], kind="stable").reset_index(drop=True)

    def outcomes(self, model: str | None = None, start: object = None, end: object = None,
                 role: str | None = None) -> pd.DataFrame:  # fmt: skip
        """Return the judged predictions made in ``[start, end)`` (``mmts.history.outcomes``)."""
        expr = _time_filter(start, end)
        if model is not None:
            expr = _and(expr, ds.field("model") == model)
        if role is not None:
            expr = _and(expr, ds.field("role") == role)
        frame = self.read("outcomes", expr)
        return frame.sort_values(["time", "model", "role"], kind="stable").reset_index(drop=True)

    def inputs(self, start: object = None, end: object = None) -> pd.DataFrame:
        """Return the input rows (id, time, layout, hash, completeness per block, verdict)."""
        frame = self.read("inputs", _time_filter(start, end))
        return (
            frame.drop_duplicates("input_id")
            .sort_values(["time", "input_id"])
            .reset_index(drop=True)
        )

    def input(self, input_id: str) -> ModelInput:
        """Return the input ``input_id`` exactly as the model read it (checked by its hash)."""
        return self.inputs_for([input_id])[0]

    def inputs_for(self, input_ids: list[str]) -> list[ModelInput]:
        """Return the inputs ``input_ids`` (in that order), rebuilt from frames read once.

        Each is checked against the hash recorded when it was read: a :class:`LedgerError`
        names the input that cannot be rebuilt (frames missing or changed).
        """
        if not input_ids:
            return []
        rows = self.read("inputs", ds.field("input_id").isin(list(set(input_ids))))
        rows = rows.drop_duplicates("input_id").set_index("input_id")
        missing = [i for i in input_ids if i not in rows.index]
        if missing:
            raise LedgerError(f"{self.folder}: no input {missing[0]!r} in this ledger"
                              + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))  # fmt: skip
        built: dict[str, ModelInput] = {}
        for (epoch, key), group in rows.groupby(["epoch", "layout"]):
            layout = load_layout(self.folder, str(key))
            times = group["time"].astype("int64")
            index = self._frames(int(epoch), layout, int(times.min()), int(times.max()))  # type: ignore[call-overload]
            for iid, row in group.iterrows():
                at = int(pd.Timestamp(row["time"]).value)
                x = assemble_windows(layout, index.windows(layout, at), {})
                if row["model_outputs"] is not None:
                    shape = x.blocks["model_outputs"].shape
                    x.blocks["model_outputs"] = (
                        np.frombuffer(row["model_outputs"], np.float32).reshape(shape).copy()
                    )
                    x.masks["model_outputs"] = np.frombuffer(
                        row["model_outputs_mask"], np.bool_
                    ).copy()
                if input_hash(x) != row["hash"]:
                    raise LedgerError(
                        f"{self.folder}: input {iid!r} rebuilt from its frames does not match the "
                        "hash recorded when it was read (frames missing or changed)"
                    )
                built[str(iid)] = x
        return [built[i] for i in input_ids]

    def _frames(self, epoch: int, layout: ModelInputLayout, lo: int, hi: int) -> FrameIndex:
        """Return the frames of ``epoch`` that inputs at times in ``[lo, hi]`` can hold."""
        cfg = layout.config
        span = max((cfg.frames + 1) * timeframe_ns(tf) for tf in [*cfg.timeframes, "1s"])
        names = [series_name(s, tf) for s, tf in input_series(layout)]
        bars = self.read("bar_frames", (ds.field("epoch") == epoch)
                         & ds.field("series").isin(names) & (ds.field("open") >= lo - span)
                         & (ds.field("open") <= hi) & (ds.field("seen_from") <= hi))  # fmt: skip
        cob = self.read("cob_frames", (ds.field("epoch") == epoch)
                        & (ds.field("second") > lo - (cfg.frames + 1) * 10**9)
                        & (ds.field("second") <= hi) & (ds.field("seen_from") <= hi))  # fmt: skip
        return FrameIndex(bars, cob)

    def bars(self, symbol: str, timeframe: str, start: object = None) -> pd.DataFrame:
        """Return the closed bars the inputs held: ``time`` (open), ``open .. volume``, oldest first.

        Every bar a model read is stored once per writer epoch; a bar stored by two epochs
        (a restarted session) counts once. ``start``: bars opening at or after it.
        """
        expr = ds.field("series") == series_name(symbol, timeframe)
        lo = to_ns(start)
        if lo is not None:
            expr = expr & (ds.field("open") >= lo)
        rows = self.tables["bar_frames"].read(expr, columns=["open", "ohlcv"]).to_pandas()
        rows = rows.sort_values("open", kind="stable").drop_duplicates("open")
        values = np.frombuffer(b"".join(rows["ohlcv"]), np.float64).reshape(-1, OHLCV_FEATURES)
        frame = pd.DataFrame(values, columns=["open", "high", "low", "close", "volume"])
        frame.insert(0, "time", pd.to_datetime(rows["open"].to_numpy(np.int64), utc=True))
        return frame

    def book(self, start: object = None) -> pd.DataFrame:
        """Return the order-book rows the inputs held, one per second (oldest first).

        Columns: ``time``, ``imbalance``, its moving averages ``ma`` and the ``bid``/``ask``
        depth buckets (lists).
        """
        lo = to_ns(start)
        expr = None if lo is None else ds.field("second") >= lo
        rows = self.tables["cob_frames"].read(expr).to_pandas()
        rows = rows.sort_values("second", kind="stable").drop_duplicates("second")
        return pd.DataFrame({
            "time": pd.to_datetime(rows["second"].to_numpy(np.int64), utc=True),
            "imbalance": rows["imbalance"].to_numpy(np.float64),
            "ma": [np.frombuffer(b, np.float64).tolist() for b in rows["ma"]],
            "bid": [np.frombuffer(b, np.float64).tolist() for b in rows["bid"]],
            "ask": [np.frombuffer(b, np.float64).tolist() for b in rows["ask"]],
        })  # fmt: skip

    def promotions(self, model: str | None = None) -> pd.DataFrame:
        """Return what the online learner did, oldest first.

        Columns: ``time, model, event, from_version, to_version, why, evidence`` (JSON: the
        numbers compared) and ``checkpoint``.
        """
        expr = None if model is None else ds.field("model") == model
        return (
            self.read("promotions", expr).sort_values("time", kind="stable").reset_index(drop=True)
        )

    def commands(self) -> pd.DataFrame:
        """Return the operator commands and their acknowledgements, oldest first.

        Columns: ``time`` (the market time it held from), ``id, who, command, args`` (JSON),
        ``issued_at`` (wall clock), ``applied_at`` (wall clock), ``result`` (``applied`` or
        ``rejected``) and ``detail``.
        """
        return self.read("commands").sort_values("time", kind="stable").reset_index(drop=True)

    def alerts(self, start: object = None, end: object = None) -> pd.DataFrame:
        """Return the alerts raised in ``[start, end)``, oldest first."""
        return (
            self.read("alerts", _time_filter(start, end)).sort_values("time").reset_index(drop=True)
        )

    def disk_bytes(self) -> int:
        """Return the bytes the ledger's files take on disk."""
        return sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())
