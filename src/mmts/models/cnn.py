"""The CNN: one convolutional branch per bar timeframe and one for the order book, masks in.

Each branch sees its block with missing rows zeroed and the mask as an extra channel, and pools
over available rows only, so history without 1 s bars or an order book trains and predicts
(the branch then says "nothing here" through its availability flag). Branch summaries, the
latest pivots and upstream model outputs meet in a small MLP whose last hidden layer is the
hidden state other models (the RL agent) consume.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mmts.features.inputs import ModelInputLayout

#: Blocks read as time series by a convolutional branch; ``cob`` and ``imbalance`` share one.
OHLCV_PREFIXES = ("ohlcv_", "ref_ohlcv_")


class SeriesBranch(nn.Module):
    """Conv1d stack over ``[batch, time, features]`` with a row mask; returns a summary vector."""

    def __init__(self, features: int, channels: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv1d(features + 1, channels, kernel_size=5, padding=2),
            nn.GELU(),
            nn.Conv1d(channels, channels, kernel_size=5, stride=2, padding=2),
            nn.GELU(),
            nn.Conv1d(channels, channels, kernel_size=5, stride=2, padding=2),
            nn.GELU(),
        )
        self.out_features = 2 * channels + 1

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Return ``[mean over available steps, last step, available flag]``."""
        m = mask.to(x.dtype).unsqueeze(-1)  # [B, T, 1]
        h = self.convs(torch.cat([x * m, m], dim=-1).transpose(1, 2))  # [B, C, T']
        # Downsample the mask the way the convolutions do (any available row in the span).
        mt = nn.functional.adaptive_max_pool1d(m.transpose(1, 2), h.shape[-1])  # [B, 1, T']
        count = mt.sum(-1).clamp(min=1.0)
        mean = (h * mt).sum(-1) / count
        last = h[..., -1] * mt[..., -1]
        available = (mask.sum(-1, keepdim=True) > 0).to(x.dtype)
        return torch.cat([mean, last, available], dim=-1)


class CnnNet(nn.Module):
    """The network: branches → MLP → hidden state → SELL/HOLD/BUY logits."""

    def __init__(self, shapes: dict[str, tuple[int, ...]], channels: int, hidden: int,
                 dropout: float) -> None:  # fmt: skip
        super().__init__()
        self.series = [name for name in shapes if name.startswith(OHLCV_PREFIXES)]
        branches = {name: SeriesBranch(shapes[name][1], channels) for name in self.series}
        self.branches = nn.ModuleDict(branches)
        self.book = SeriesBranch(shapes["cob"][1] + shapes["imbalance"][1], channels)
        n_piv = shapes["pivots"][0] * (shapes["pivots"][1] + 1)
        n_out = shapes["model_outputs"][0] * (shapes["model_outputs"][1] + 1)
        width = sum(b.out_features for b in branches.values()) + self.book.out_features
        self.trunk = nn.Sequential(
            nn.Linear(width + n_piv + n_out, 2 * hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(2 * hidden, hidden),
            nn.GELU(),
        )
        self.head = nn.Linear(hidden, 3)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(logits [B, 3], hidden [B, hidden])``."""
        parts = [self.branches[n](batch[n], batch[f"mask_{n}"]) for n in self.series]
        book = torch.cat([batch["cob"], batch["imbalance"]], dim=-1)
        parts.append(self.book(book, batch["mask_cob"] & batch["mask_imbalance"]))
        for name in ("pivots", "model_outputs"):
            m = batch[f"mask_{name}"].to(batch[name].dtype).unsqueeze(-1)
            parts.append(torch.cat([batch[name] * m, m], dim=-1).flatten(1))
        hidden = self.trunk(torch.cat(parts, dim=-1))
        return self.head(hidden), hidden


def make_cnn_module(layout: ModelInputLayout, channels: int, hidden: int, dropout: float,
                    learning_rate: float, weight_decay: float,
                    class_weights: list[float] | None = None) -> Any:  # fmt: skip
    """Return a ``CnnModule`` (a LightningModule; lightning is imported here, lazily)."""
    from mmts.models.cnn_module import CnnModule

    return CnnModule(
        layout_description=layout.describe(), shapes={k: list(v) for k, v in layout.shapes().items()},
        channels=channels, hidden=hidden, dropout=dropout, learning_rate=learning_rate,
        weight_decay=weight_decay, class_weights=class_weights,
    )  # fmt: skip
