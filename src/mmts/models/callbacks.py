"""Lightning callbacks of every training run: progress lines, each process set up alike.

Classes at module level, so that DDP can send them to the processes it spawns.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from mmts.core.progress import Stopwatch, duration, note
from mmts.models.quiet import quiet_lightning


class EpochReport(L.Callback):
    """Say, after every epoch, where training stands (with DDP, only the first process speaks).

    ``cnn: epoch 2/4 done, val_loss 1.0421 (1 min 10 s; about 1 min 10 s left)``.
    """

    def __init__(self, model: str, epochs: int, metric: str) -> None:
        self.model, self.epochs, self.metric = model, epochs, metric
        self.watch = Stopwatch()

    def on_validation_epoch_end(self, trainer: Any, module: Any) -> None:
        """Print the epoch's line."""
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        done, epochs, watch = trainer.current_epoch + 1, self.epochs, self.watch
        value = trainer.callback_metrics.get(self.metric)
        shown = f", {self.metric} {float(value):.4f}" if value is not None else ""
        left = f"; about {duration(watch.left(done, epochs))} left" if done < epochs else ""
        note(f"{self.model}: epoch {done}/{epochs} done{shown} ({duration(watch.elapsed())}{left})")


class ProcessSetup(L.Callback):
    """Set up every process that trains (each DDP rank): one torch thread, known warnings quiet."""

    def setup(self, trainer: Any, module: Any, stage: str) -> None:
        """Run in the process that trains, before it does."""
        quiet_lightning()
        torch.set_num_threads(1)
