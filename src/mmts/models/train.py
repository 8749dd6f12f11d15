"""Training entry points: data → walk-forward split → Lightning fit → best-K checkpoints."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmts.core.progress import duration, note
from mmts.core.stores import MarketData
from mmts.models.checkpoints import CheckpointStore
from mmts.models.experiment import Experiment
from mmts.models.quiet import quiet_lightning
from mmts.models.splits import Segments


def git_commit() -> str:
    """Return the current git commit of the working directory, or ``unknown``."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=True)  # fmt: skip
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def class_weights(counts: np.ndarray) -> list[float]:
    """Inverse-frequency weights normalised to mean 1 (absent classes get weight 0)."""
    counts = np.asarray(counts, np.float64)
    w = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / max((counts > 0).sum(), 1), 0.0)
    return [float(x) for x in w / max(w[w > 0].mean(), 1e-12)]


def interactive() -> bool:
    """Whether this is Jupyter or a Python prompt (where DDP must fork: spawn cannot re-import)."""
    import sys

    return hasattr(sys, "ps1") or bool(sys.flags.interactive) or "ipykernel" in sys.modules


def lightning_strategy(exp: Experiment) -> Any:
    """Return the Trainer's strategy for ``[train] strategy``.

    ``ddp``: Lightning's DDP over ``devices`` CPU processes per node (gloo). Launched here, the
    processes are spawned (forked in Jupyter), so a notebook, a test or ``mmts train`` trains the
    same way; under torchrun or SLURM (several nodes) the cluster starts every process itself.
    """
    if exp.train.strategy != "ddp":
        return "auto"
    from lightning.pytorch.strategies import DDPStrategy

    return DDPStrategy(process_group_backend="gloo",
                       start_method="fork" if interactive() else "spawn")  # fmt: skip


@dataclass
class Run:
    """One training run's folder, Lightning trainer and best-K checkpoint callback."""

    name: str
    folder: Path
    trainer: Any
    checkpoint: Any
    #: Where Lightning writes (and prunes) checkpoints while training: nobody reads it.
    staging: Path


def start_run(exp: Experiment, model: str, root: Path, metric: str, mode: str, epochs: int,
              progress: bool, log_every: int) -> Run:  # fmt: skip
    """Create a run's trainer; nothing a reader may be loading is touched while it trains.

    Logs go to ``<root>/<model>/<name>/`` (same digest and seed → same folder, logs replaced),
    checkpoints to a private staging folder until :func:`register_run` publishes them.
    """
    import uuid

    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    from mmts.models.callbacks import EpochReport, ProcessSetup

    name = f"{exp.name}-{exp.digest()}-s{exp.seed}"
    folder = root / model / name
    for logs in ("logs", "tb"):
        shutil_rmtree(folder / logs)
    staging = root / model / ".staging" / f"{name}-{uuid.uuid4().hex[:8]}"
    checkpoint = ModelCheckpoint(dirpath=staging, filename="epoch{epoch:02d}", monitor=metric,
                                 mode=mode, save_top_k=exp.checkpoints.keep, auto_insert_metric_name=False)  # fmt: skip
    callbacks: list[Any] = [checkpoint, ProcessSetup()]
    if progress:
        callbacks.append(EpochReport(model, epochs, metric))
    trainer = L.Trainer(
        max_epochs=epochs, accelerator="cpu", devices=exp.train.devices, num_nodes=exp.train.nodes,
        strategy=lightning_strategy(exp), deterministic=True,
        logger=[CSVLogger(folder, name="logs", version=""), TensorBoardLogger(folder, name="tb", version="")],
        callbacks=callbacks, enable_progress_bar=progress, enable_model_summary=False,
        log_every_n_steps=log_every, num_sanity_val_steps=0,
    )  # fmt: skip
    return Run(name, folder, trainer, checkpoint, staging)


def register_run(run: Run, exp: Experiment, model: str, root: Path, layout: Any, data_ranges: Any,
                 extra: dict[str, Any], load: Any) -> list[dict[str, Any]]:  # fmt: skip
    """Publish every checkpoint the run kept and register it with its metadata and weights hash.

    A checkpoint becomes visible complete: its file moves (atomically) from staging to
    ``<root>/<model>/checkpoints/<id>.ckpt``, its id carrying the weights' hash (other weights,
    another file), and only then does the index name it.
    """
    from mmts.models.predictors import state_hash

    index = CheckpointStore(root, exp.checkpoints.keep)
    callback = run.checkpoint
    published = root / model / "checkpoints"
    published.mkdir(parents=True, exist_ok=True)
    entries = []
    for path, saved in kept_checkpoints(run.staging):
        epoch, score = int(saved["epoch"]), saved["score"]
        entry = {
            "id": "", "path": str(path), "metric_name": callback.monitor,
            "metric": score, "mode": callback.mode, "epoch": epoch,
            "metrics": _epoch_metrics(run.folder, epoch), "data": data_ranges,
            "experiment": exp.to_dict(), "seed": exp.seed, "git_commit": git_commit(),
            "layout": layout.describe(), "layout_version": layout.version, **extra,
        }  # fmt: skip
        entry["state_hash"] = state_hash(load(entry, layout).net)
        entry["id"] = f"{run.name}-e{epoch:02d}-{entry['state_hash'][:8]}"
        target = published / f"{entry['id']}.ckpt"
        Path(path).replace(target)  # same weights, same name: replacing it changes nothing
        entry["path"] = str(target)
        entries.append(index.add(model, entry))
    shutil_rmtree(run.staging)
    return entries


def kept_checkpoints(staging: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Return the checkpoints a run kept, each with its epoch and monitored score.

    Read from the files themselves (each holds its checkpoint callback's score at saving):
    with DDP the processes that trained, and so the callback that kept them, are gone.
    """
    import torch

    out = []
    for path in sorted(staging.glob("*.ckpt")):
        saved = torch.load(path, map_location="cpu", weights_only=False)
        states = [
            v for k, v in saved.get("callbacks", {}).items() if k.startswith("ModelCheckpoint")
        ]
        if not states or states[0].get("current_score") is None:
            raise RuntimeError(f"checkpoint {path} holds no monitored score")
        out.append((path, {"epoch": saved["epoch"], "score": float(states[0]["current_score"])}))
    return out


def train_cnn(store: MarketData, exp: Experiment, *, progress: bool = True,
              checkpoint_dir: str | Path | None = None,
              segments: Segments | None = None) -> dict[str, Any]:  # fmt: skip
    """Train the CNN of ``exp`` on ``store``; register its best checkpoints; return a summary.

    ``segments``: a study fold's train / validation spans instead of the ``[data]`` split.
    """
    from mmts.models.cnn_module import make_cnn_module
    from mmts.models.predictors import load_cnn

    cfg = exp.cnn

    def module(layout: Any, weights: list[float]) -> Any:
        return make_cnn_module(layout, cfg.channels, cfg.hidden, cfg.dropout, cfg.learning_rate,
                               cfg.weight_decay, weights)  # fmt: skip

    return train_classifier(store, exp, "cnn", module, load_cnn, progress=progress,
                            checkpoint_dir=checkpoint_dir, segments=segments)  # fmt: skip


def train_sequence(store: MarketData, exp: Experiment, kind: str, *, progress: bool = True,
                   checkpoint_dir: str | Path | None = None,
                   segments: Segments | None = None) -> dict[str, Any]:  # fmt: skip
    """Train the experiment's ``lstm`` or ``transformer`` (its ``[lstm]``/``[transformer]``)."""
    import dataclasses

    from mmts.models.cnn_module import SequenceModule
    from mmts.models.predictors import load_sequence
    from mmts.models.sequence import SEQUENCE_KINDS

    if kind not in SEQUENCE_KINDS:
        raise ValueError(f"unknown sequence model {kind!r}; known: {SEQUENCE_KINDS}")
    cfg = getattr(exp, kind)
    sizes = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)
             if f.name not in ("learning_rate", "weight_decay")}  # fmt: skip

    def module(layout: Any, weights: list[float]) -> Any:
        hyper = {"kind": kind, "shapes": {k: list(v) for k, v in layout.shapes().items()}, **sizes}
        return SequenceModule(layout.describe(), hyper, cfg.learning_rate, cfg.weight_decay,
                              weights)  # fmt: skip

    return train_classifier(store, exp, kind, module, load_sequence, progress=progress,
                            checkpoint_dir=checkpoint_dir, segments=segments)  # fmt: skip


def train_classifier(store: MarketData, exp: Experiment, model: str, make_module: Any,
                     load: Any, *, progress: bool = True,
                     checkpoint_dir: str | Path | None = None,
                     segments: Segments | None = None) -> dict[str, Any]:  # fmt: skip
    """Train a SELL/HOLD/BUY network on cost-aware labels; register its best checkpoints.

    ``make_module(layout, class_weights)`` builds the LightningModule; ``load(entry, layout)``
    reads a checkpoint back (its weights' hash names it). The CNN, LSTM and Transformer share
    this: the same data, split, batches, epochs, selection on validation loss and registration.
    """
    quiet_lightning()
    import lightning as L
    import torch

    from mmts.models.datamodule import DecisionDataModule

    started = time.perf_counter()
    if progress:
        note(f"{model}: building the dataset (labels and inputs of every {exp.data.decision_every} x "
             f"{exp.data.decision_timeframe} decision, {exp.data.start or 'first bar'} .. "
             f"{exp.data.end or 'last bar'})")  # fmt: skip
    datamodule = DecisionDataModule(store, exp, segments=segments)
    datamodule.setup()
    data = datamodule.prepared()
    if len(data.train) == 0 or len(data.val) == 0:
        raise ValueError(
            f"empty split: {len(data.train)} train, {len(data.val)} validation samples"
        )
    if progress:
        batches = -(-len(data.train) // exp.train.batch_size)
        note(f"{model}: {len(data.train):,} training, {len(data.val):,} validation decisions "
             f"({duration(time.perf_counter() - started)}); training {exp.train.epochs} epochs "
             f"x {batches} batches of {exp.train.batch_size}")  # fmt: skip
    L.seed_everything(exp.seed, workers=True, verbose=False)
    torch.use_deterministic_algorithms(True)
    module = make_module(data.history.layout, class_weights(data.train.class_counts()))
    root = Path(checkpoint_dir or exp.checkpoints.dir)
    run = start_run(exp, model, root, "val_loss", "min", exp.train.epochs, progress, 10)
    try:
        run.trainer.fit(module, datamodule=datamodule)
    except BaseException:
        shutil_rmtree(run.staging)  # a failed run leaves nothing behind
        raise
    if not run.trainer.is_global_zero:  # another DDP process (torchrun, SLURM): rank 0 registers
        return {"model": model, "rank": run.trainer.global_rank}
    samples = {"train": len(data.train), "val": len(data.val), "test": len(data.test)}
    entries = register_run(run, exp, model, root, data.history.layout, data.ranges(),
                           {"samples": samples}, load)  # fmt: skip
    best = min(entries, key=lambda e: e["metric"])
    return {
        "model": model, "run": run.name, "best": best["id"], "val_loss": best["metric"],
        "metrics": best["metrics"], "state_hash": best["state_hash"], "checkpoints": len(entries),
        "samples": best["samples"], "data": best["data"], "logs": str(run.folder / "logs"),
        "seconds": round(time.perf_counter() - started, 1),
        "train_samples_per_s": round(len(data.train) * exp.train.epochs / (time.perf_counter() - started), 1),
    }  # fmt: skip


def shutil_rmtree(path: Path) -> None:
    """Remove a previous run's folder (same experiment digest and seed → same run)."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _epoch_metrics(run_dir: Path, epoch: int) -> dict[str, float]:
    import csv

    path = run_dir / "logs" / "metrics.csv"
    out: dict[str, float] = {}
    if not path.exists():
        return out
    with path.open() as handle:
        for row in csv.DictReader(handle):
            if row.get("epoch") not in (str(epoch),):
                continue
            for k, v in row.items():
                if k not in ("epoch", "step") and v not in ("", None):
                    out[k] = float(v)
    return out
