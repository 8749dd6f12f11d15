"""Lightning DDP on two CPU processes: the same training as one process, within a stated margin.

``[train] batch_size`` is the optimiser step's batch either way (each of two processes takes
half), so the runs differ only in which samples share a step (DistributedSampler's shuffle) and
the validation set's padding to an even split: what another seed changes. Checked here: every
epoch's train and validation loss within 3 % of one process (benchmarks/bench_ddp.py reports
the gaps beside another seed's).
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from mmts.data import open_store
from mmts.models.checkpoints import CheckpointStore
from mmts.models.experiment import Experiment, load_experiment
from mmts.models.train import train_cnn, train_sequence

pytestmark = pytest.mark.slow

#: The largest relative difference between the per-epoch losses of one and two processes.
MARGIN = 0.03


def _experiment(root: Path, devices: int, epochs: int = 2) -> Experiment:
    exp = load_experiment()
    train = dataclasses.replace(exp.train, epochs=epochs, max_train_samples=2000, devices=devices,
                                strategy="ddp" if devices > 1 else "auto")  # fmt: skip
    return dataclasses.replace(exp, train=train,
                               checkpoints=dataclasses.replace(exp.checkpoints, dir=str(root)))  # fmt: skip


def _curve(summary: dict[str, Any]) -> dict[str, list[float]]:
    """Per-epoch train and validation loss from the run's CSV log."""
    out: dict[str, dict[int, float]] = {"train_loss": {}, "val_loss": {}}
    with (Path(summary["logs"]) / "metrics.csv").open() as handle:
        for row in csv.DictReader(handle):
            for key, by_epoch in out.items():
                if row.get(key):
                    by_epoch[int(row["epoch"])] = float(row[key])
    return {k: [v[e] for e in sorted(v)] for k, v in out.items()}


def _steps(summary: dict[str, Any]) -> int:
    """The optimiser steps the run took, from its CSV log."""
    with (Path(summary["logs"]) / "metrics.csv").open() as handle:
        return max(int(row["step"]) for row in csv.DictReader(handle))


def test_two_ddp_processes_train_the_cnn_as_one_process_does(
    sample_store_path: Path, tmp_path: Path
) -> None:
    store = open_store(sample_store_path)
    one = train_cnn(store, _experiment(tmp_path / "one", 1), progress=False)
    two = train_cnn(store, _experiment(tmp_path / "two", 2), progress=False)
    assert one["samples"] == two["samples"]  # the same decisions, split in two per step
    assert _steps(two) == _steps(one)  # each process takes half of every step's batch
    # the validation metrics tally every decision, each process's share summed (the sampler
    # pads the shares to equal length with at most one repeated decision per process)
    counted = one["metrics"]["val_decisions"], two["metrics"]["val_decisions"]
    assert counted[0] <= counted[1] < counted[0] + 2, counted
    curves = _curve(one), _curve(two)
    for key in ("train_loss", "val_loss"):
        a, b = curves[0][key], curves[1][key]
        assert len(a) == len(b) == 2
        for x, y in zip(a, b, strict=True):
            assert abs(x - y) / x < MARGIN, (key, a, b)
    assert two["checkpoints"] == 2  # both epochs' checkpoints, found and registered
    index = CheckpointStore(tmp_path / "two", 5)
    assert len(index.list("cnn")) == 2
    assert abs(two["metrics"]["val_f1_macro"] - one["metrics"]["val_f1_macro"]) < 0.05
    assert one["state_hash"] != two["state_hash"]  # really another run, not a copy


def test_the_lstm_trains_with_ddp_through_the_same_loop(sample_store_path: Path,
                                                        tmp_path: Path) -> None:  # fmt: skip
    exp = _experiment(tmp_path, 2, epochs=1)
    exp = dataclasses.replace(exp, lstm=dataclasses.replace(exp.lstm, width=8, steps=20))
    summary = train_sequence(open_store(sample_store_path), exp, "lstm", progress=False)
    assert summary["checkpoints"] == 1 and summary["val_loss"] > 0
