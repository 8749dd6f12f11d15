"""The CNN: one convolutional branch per bar timeframe and one for the order book, masks in.

Each branch sees its block with missing rows zeroed and the mask as an extra channel, and pools
over available rows only, so history without 1 s bars or an order book trains and predicts
(the branch then says "nothing here" through its availability flag). Branch summaries, the
latest pivots and upstream model outputs meet in a small MLP whose last hidden layer is the
hidden state other models (the RL agent) consume.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

#: Blocks read as time series by a convolutional branch; ``cob`` and ``imbalance`` share one.
OHLCV_PREFIXES = ("ohlcv_", "ref_ohlcv_")


class SeriesBranches(nn.Module):
    """``k`` Conv1d stacks, one per series, run as one grouped convolution (same maths, 3 calls).

    Each series is ``[batch, time, features]`` with a row mask; each branch returns
    ``[mean over available steps, last step, available flag]`` (``2 * channels + 1`` values).
    """

    def __init__(self, k: int, features: int, channels: int) -> None:
        super().__init__()
        self.k, self.channels = k, channels
        width = k * channels
        self.convs = nn.Sequential(
            nn.Conv1d(k * (features + 1), width, kernel_size=5, stride=2, padding=2, groups=k),
            nn.GELU(),
            nn.Conv1d(width, width, kernel_size=5, stride=2, padding=2, groups=k),
            nn.GELU(),
            nn.Conv1d(width, width, kernel_size=5, stride=2, padding=2, groups=k),
            nn.GELU(),
        )
        self.out_features = k * (2 * channels + 1)

    def forward(self, xs: list[torch.Tensor], masks: list[torch.Tensor]) -> torch.Tensor:
        """Return the ``k`` branch summaries concatenated: ``[batch, k * (2 * channels + 1)]``."""
        ms = [m.to(x.dtype).unsqueeze(-1) for x, m in zip(xs, masks, strict=True)]  # [B, T, 1]
        inputs = torch.cat([torch.cat([x * m, m], -1) for x, m in zip(xs, ms, strict=True)], -1)
        h = self.convs(inputs.transpose(1, 2))  # [B, k * C, T']
        b, _, steps = h.shape
        h = h.reshape(b, self.k, self.channels, steps)
        m = torch.cat(ms, -1).transpose(1, 2)  # [B, k, T]
        # Downsample the masks the way the convolutions do (any available row in the span).
        mt = window_max(m, steps).unsqueeze(2)  # [B, k, 1, T']
        mean = (h * mt).sum(-1) / mt.sum(-1).clamp(min=1.0)
        last = h[..., -1] * mt[..., -1]
        available = (m.sum(-1, keepdim=True) > 0).to(h.dtype)  # [B, k, 1]
        return torch.cat([mean, last, available], -1).flatten(1)


@functools.cache
def _windows(length: int, steps: int) -> torch.Tensor:
    """Row indices of adaptive max pooling's windows, ``[steps, widest]`` (short ones repeat)."""
    starts = [(i * length) // steps for i in range(steps)]
    ends = [-(-((i + 1) * length) // steps) for i in range(steps)]
    widest = max(e - s for s, e in zip(starts, ends, strict=True))
    return torch.tensor([[min(s + j, e - 1) for j in range(widest)]
                         for s, e in zip(starts, ends, strict=True)])  # fmt: skip


def window_max(x: torch.Tensor, steps: int) -> torch.Tensor:
    """``adaptive_max_pool1d(x, steps)`` exactly, from a gather and a max.

    ONNX has no adaptive pooling whose output size does not divide the input length; a gather
    over the same windows exports, and gives the same values (tested).
    """
    return x[..., _windows(x.shape[-1], steps)].amax(-1)


class CnnNet(nn.Module):
    """The network: branches → MLP → hidden state → SELL/HOLD/BUY logits."""

    def __init__(self, shapes: dict[str, tuple[int, ...]], channels: int, hidden: int,
                 dropout: float) -> None:  # fmt: skip
        super().__init__()
        #: What rebuilds this network (a checkpoint's hyper-parameters).
        self.hyper = {"shapes": {k: list(v) for k, v in shapes.items()}, "channels": channels,
                      "hidden": hidden, "dropout": dropout}  # fmt: skip
        self.series = [name for name in shapes if name.startswith(OHLCV_PREFIXES)]
        features = {shapes[name][1] for name in self.series}
        if len(features) != 1:
            raise ValueError(f"bar blocks must share their feature count; got {features}")
        self.bars = SeriesBranches(len(self.series), features.pop(), channels)
        self.book = SeriesBranches(1, shapes["cob"][1] + shapes["imbalance"][1], channels)
        n_piv = shapes["pivots"][0] * (shapes["pivots"][1] + 1)
        n_out = shapes["model_outputs"][0] * (shapes["model_outputs"][1] + 1)
        width = self.bars.out_features + self.book.out_features
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
        parts = [
            self.bars([batch[n] for n in self.series], [batch[f"mask_{n}"] for n in self.series])
        ]
        book = torch.cat([batch["cob"], batch["imbalance"]], dim=-1)
        parts.append(self.book([book], [batch["mask_cob"] & batch["mask_imbalance"]]))
        for name in ("pivots", "model_outputs"):
            m = batch[f"mask_{name}"].to(batch[name].dtype).unsqueeze(-1)
            parts.append(torch.cat([batch[name] * m, m], dim=-1).flatten(1))
        hidden = self.trunk(torch.cat(parts, dim=-1))
        return self.head(hidden), hidden
