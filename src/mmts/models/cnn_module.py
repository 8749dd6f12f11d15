"""The classifiers as LightningModules: cost-aware class labels, weighted cross-entropy, macro-F1."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import nn

from mmts.features.inputs import ModelInputLayout
from mmts.models.cnn import CnnNet
from mmts.models.metrics import confusion, macro_f1
from mmts.models.sequence import build_sequence_net


class ClassifierModule(L.LightningModule):
    """What every SELL/HOLD/BUY network trains with: weighted cross-entropy, macro-F1, AdamW.

    A subclass sets ``self.net`` (``net(batch) -> (logits, hidden)``) after calling
    :meth:`setup_loss`; its hyper-parameters hold ``learning_rate`` and ``weight_decay``.
    """

    net: torch.nn.Module

    def setup_loss(self, class_weights: list[float] | None) -> None:
        """Weight the classes (inverse frequency) and start an empty validation tally."""
        weights = torch.tensor(class_weights or [1.0, 1.0, 1.0], dtype=torch.float32)
        self.loss = nn.CrossEntropyLoss(weight=weights)
        self._val: list[torch.Tensor] = []

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(logits, hidden)``."""
        return self.net(batch)  # type: ignore[no-any-return]

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """Weighted cross-entropy on one batch."""
        logits, _ = self.net(batch)
        loss = self.loss(logits, batch["label"])
        self.log("train_loss", loss, prog_bar=True, batch_size=logits.shape[0], sync_dist=True)
        return loss  # type: ignore[no-any-return]

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """Log the loss and collect the confusion matrix."""
        logits, _ = self.net(batch)
        loss = self.loss(logits, batch["label"])
        self.log("val_loss", loss, prog_bar=True, batch_size=logits.shape[0], sync_dist=True)
        self._val.append(confusion(logits.argmax(-1), batch["label"]))

    def on_validation_epoch_end(self) -> None:
        """Log macro-F1 and accuracy over the whole validation set."""
        if self._val:
            total = torch.stack(self._val).sum(0)
            if self.trainer.world_size > 1:  # DDP: each process saw a share of the validation set
                total = self.trainer.strategy.reduce(total, reduce_op="sum")
            # the same on every process (the tally is summed): sync_dist only says so
            self.log("val_f1_macro", macro_f1(total), prog_bar=True, sync_dist=True)
            self.log("val_accuracy", total.diag().sum() / total.sum().clamp(min=1), sync_dist=True)
            # how many decisions the tally counted: all of them, from every process
            self.log("val_decisions", total.sum().float(), sync_dist=True)
        self._val.clear()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """AdamW with the configured rate and weight decay."""
        return torch.optim.AdamW(
            self.parameters(), lr=self.hparams["learning_rate"],
            weight_decay=self.hparams["weight_decay"],
        )  # fmt: skip


class CnnModule(ClassifierModule):
    """Train :class:`~mmts.models.cnn.CnnNet` on (input, label) batches."""

    def __init__(self, layout_description: dict[str, Any], shapes: dict[str, list[int]],
                 channels: int, hidden: int, dropout: float, learning_rate: float,
                 weight_decay: float, class_weights: list[float] | None = None) -> None:  # fmt: skip
        super().__init__()
        self.save_hyperparameters()
        self.net = CnnNet({k: tuple(v) for k, v in shapes.items()}, channels, hidden, dropout)
        self.setup_loss(class_weights)


class SequenceModule(ClassifierModule):
    """Train a sequence network (``mmts.models.sequence``) rebuilt from its ``hyper``."""

    def __init__(self, layout_description: dict[str, Any], hyper: dict[str, Any],
                 learning_rate: float, weight_decay: float,
                 class_weights: list[float] | None = None) -> None:  # fmt: skip
        super().__init__()
        self.save_hyperparameters()
        self.net = build_sequence_net(hyper)
        self.setup_loss(class_weights)


def make_cnn_module(layout: ModelInputLayout, channels: int, hidden: int, dropout: float,
                    learning_rate: float, weight_decay: float,
                    class_weights: list[float] | None = None) -> Any:  # fmt: skip
    """Return a :class:`CnnModule` of ``layout``'s shapes."""
    return CnnModule(
        layout_description=layout.describe(), shapes={k: list(v) for k, v in layout.shapes().items()},
        channels=channels, hidden=hidden, dropout=dropout, learning_rate=learning_rate,
        weight_decay=weight_decay, class_weights=class_weights,
    )  # fmt: skip
