"""Which folds a study runs: every stored decision of the experiment, cut walk-forward by count.

Each fold is keyed by a hash of what decides its result: the experiment's tables (but not
``[study]``'s analysis keys, which only summarise), its spans, and the stored partitions its
inputs and labels read. A rerun finds a finished fold by that key and skips it; changed
settings or data give another key, so a stale result is never reused.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmts.core.time import iso
from mmts.core.timeframes import timeframe_ns
from mmts.data.store import Store
from mmts.models.dataset import decision_span, label_decisions
from mmts.models.experiment import Experiment
from mmts.models.splits import Segments, StudyConfig, study_folds

#: ``[study]`` keys that only change how results are summarised, not any fold's result.
SUMMARY_KEYS = ("bootstrap", "block", "confidence", "trend")


@dataclass(frozen=True)
class Fold:
    """One planned fold: its number, spans and key."""

    index: int
    segments: Segments
    key: str

    @property
    def name(self) -> str:
        """The fold's folder name: number and key."""
        return f"{self.index:02d}-{self.key}"


def decision_times(store: Store, exp: Experiment, study: StudyConfig) -> np.ndarray:
    """Return every decision time the store's history of the primary symbol offers.

    The experiment's decision grid wherever its bars exist, within ``[study] start``/``end``.
    """
    lo, hi = decision_span(store, exp, study.start, study.end)
    return label_decisions(store, exp, lo, hi).times


def purge_ns(exp: Experiment, study: StudyConfig) -> int:
    """Return the purge gap: ``[study] purge`` decision bars, at least the label horizon."""
    bars = study.purge if study.purge is not None else exp.labels.horizon
    if bars < exp.labels.horizon:
        raise ValueError(
            f"[study] purge: expected at least the label horizon ({exp.labels.horizon} bars; "
            f"a shorter gap lets a training label see the validation data), got {bars}"
        )
    return bars * timeframe_ns(exp.data.decision_timeframe)


def lookback_ns(exp: Experiment) -> int:
    """Return how far back a decision's input reads: ``frames`` bars of the slowest timeframe."""
    return exp.features.frames * max(timeframe_ns(tf) for tf in exp.features.timeframes)


def plan_folds(store: Store, exp: Experiment, tables: dict[str, Any], study: StudyConfig
               ) -> list[Fold]:  # fmt: skip
    """Cut the stored history into ``study.folds`` folds and key each one."""
    from mmts.backtest.run import data_hash

    times = decision_times(store, exp, study)
    splits = study_folds(times, purge_ns(exp, study), n_folds=study.folds, scheme=study.scheme,
                         val_fraction=study.val_fraction, initial_blocks=study.initial_blocks)  # fmt: skip
    fold_tables = result_tables(tables)
    folds = []
    for k, split in enumerate(splits):
        seg = Segments.of(times, split)
        within = (seg.start - lookback_ns(exp), seg.end + 2 * exp.horizon_ns)
        data = data_hash(store, exp, seg.start, seg.end, within=within)
        text = json.dumps({"tables": fold_tables, "segments": seg.to_dict(), "data": data},
                          sort_keys=True, default=str)  # fmt: skip
        folds.append(Fold(k, seg, hashlib.sha256(text.encode()).hexdigest()[:12]))
    return folds


def result_tables(tables: dict[str, Any]) -> dict[str, Any]:
    """Return the tables that decide a fold's result.

    All but ``[study]``'s summary keys, and no checkpoint or run folder (each fold has its own).
    """
    out = copy.deepcopy(tables)
    study = out.get("study", {})
    for key in SUMMARY_KEYS:
        study.pop(key, None)
    out.get("checkpoints", {}).pop("dir", None)
    out.get("backtest", {}).pop("out", None)
    return out


def describe(fold: Fold) -> dict[str, str]:
    """Return the fold's spans as ISO times (``train_start`` .. ``test_end``; ends exclusive)."""
    out = {}
    for part in ("train", "val", "test"):
        lo, hi = getattr(fold.segments, part)
        out[f"{part}_start"], out[f"{part}_end"] = iso(lo), iso(hi)
    return out


def finished(folder: Path, fold: Fold) -> dict[str, Any] | None:
    """Return the result of ``fold`` saved under ``folder`` by an earlier run, if it finished."""
    path = folder / fold.name / "result.json"
    if not path.exists():
        return None
    try:
        result = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    ok = result.get("status") == "ok" and result.get("key") == fold.key
    return result if ok and (folder / fold.name / "returns.parquet").exists() else None
