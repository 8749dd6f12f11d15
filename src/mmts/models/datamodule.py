"""The Lightning DataModule: the experiment's decisions, split walk-forward with a purge gap."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from mmts.core.stores import MarketData
from mmts.models.experiment import Experiment
from mmts.models.prepare import Prepared, prepare
from mmts.models.splits import Segments


class DecisionDataModule(L.LightningDataModule):
    """Train / validation / test loaders of one walk-forward fold (``[data] fold``, or a study's).

    Training batches are shuffled with a generator seeded by the experiment's seed, so the same
    seed, data and config give the same batches.
    """

    def __init__(self, store: MarketData, exp: Experiment, model_slots: tuple[str, ...] = (),
                 segments: Segments | None = None) -> None:  # fmt: skip
        super().__init__()
        self.store, self.exp, self.model_slots = store, exp, model_slots
        self.segments = segments
        self.data: Prepared | None = None

    def setup(self, stage: str | None = None) -> None:
        """Label the decisions and split them (once)."""
        if self.data is None:
            self.data = prepare(self.store, self.exp, self.model_slots, self.segments)

    def prepared(self) -> Prepared:
        """Return the prepared data (preparing it on first use)."""
        self.setup()
        if self.data is None:  # for the type checker; setup always sets it
            raise RuntimeError("setup() did not prepare the data")
        return self.data

    def train_dataloader(self) -> Any:
        """Return shuffled training decisions.

        ``[train] batch_size`` is the batch of one optimiser step: with DDP each of the
        processes takes its share (their gradients are averaged), so a step sees as many samples
        as on one process.
        """
        gen = torch.Generator().manual_seed(self.exp.seed)
        processes = self.trainer.world_size if self.trainer is not None else 1
        return torch.utils.data.DataLoader(self.prepared().train,
                                           batch_size=max(1, self.exp.train.batch_size // processes),
                                           shuffle=True, generator=gen)  # fmt: skip

    def val_dataloader(self) -> Any:
        """Return validation decisions in time order."""
        return torch.utils.data.DataLoader(self.prepared().val, batch_size=256)

    def test_dataloader(self) -> Any:
        """Return test decisions in time order (never used for training or model selection)."""
        return torch.utils.data.DataLoader(self.prepared().test, batch_size=256)
