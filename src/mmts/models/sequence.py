"""Sequence experts over the same standardized input as the CNN: an LSTM and a Transformer.

Both read every series block of the input — each bar timeframe of the primary and reference
symbols, and the order book (``cob`` with ``imbalance``) — as a sequence of rows with its mask:

- a per-series linear projection of ``[row * mask, mask]`` brings every series to one width
  and adds a learned series embedding, so one encoder serves series of any feature count;
- :class:`LstmNet` runs one LSTM over the last ``steps`` rows of each series and keeps its
  state at the last *available* row (a series with no row says so through its flag);
- :class:`TransformerNet` cuts the last ``steps`` rows of each series into patches of
  ``patch`` rows (a token each: the mean of its available rows, plus a position embedding), drops patches without an available row from attention through
  the key padding mask, and reads a class token after ``layers`` encoder layers.

The encoding, the latest pivots and the upstream model outputs meet in the same small MLP as
the CNN's: its last hidden layer is the hidden state other models consume, and the head gives
SELL/HOLD/BUY logits. ``forward(batch) -> (logits, hidden)``, like :class:`~mmts.models.cnn.CnnNet`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mmts.models.cnn import OHLCV_PREFIXES

#: The sequence model types and their networks' names.
SEQUENCE_KINDS = ("lstm", "transformer")


def series_names(shapes: dict[str, tuple[int, ...]]) -> list[str]:
    """Return the input's series blocks in a fixed order: bar blocks, then the book."""
    return [name for name in shapes if name.startswith(OHLCV_PREFIXES)] + ["book"]


class SeriesProjection(nn.Module):
    """``[row * mask, mask]`` of every series, projected to ``width`` plus a series embedding."""

    def __init__(self, shapes: dict[str, tuple[int, ...]], width: int) -> None:
        super().__init__()
        self.names = series_names(shapes)
        features = {n: shapes[n][1] for n in self.names if n != "book"}
        features["book"] = shapes["cob"][1] + shapes["imbalance"][1]
        self.project = nn.ModuleList(nn.Linear(features[n] + 1, width) for n in self.names)
        self.embed = nn.Parameter(torch.zeros(len(self.names), width))
        nn.init.normal_(self.embed, std=0.02)

    def series(self, batch: dict[str, torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Return ``(rows [B, T, F], mask [B, T])`` of every series, in :attr:`names` order."""
        out = []
        for name in self.names:
            if name == "book":
                rows = torch.cat([batch["cob"], batch["imbalance"]], dim=-1)
                mask = batch["mask_cob"] & batch["mask_imbalance"]
            else:
                rows, mask = batch[name], batch[f"mask_{name}"]
            out.append((rows, mask))
        return out

    def forward(self, i: int, rows: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Return series ``i`` projected: ``[B, T, width]`` (masked rows carry only the flag)."""
        m = mask.to(rows.dtype).unsqueeze(-1)
        projected: torch.Tensor = self.project[i](torch.cat([rows * m, m], dim=-1))
        return projected + self.embed[i]


def flat_blocks(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Return the pivots and upstream outputs with their masks, flattened: ``[B, n]``."""
    parts = []
    for name in ("pivots", "model_outputs"):
        m = batch[f"mask_{name}"].to(batch[name].dtype).unsqueeze(-1)
        parts.append(torch.cat([batch[name] * m, m], dim=-1).flatten(1))
    return torch.cat(parts, dim=-1)


def flat_width(shapes: dict[str, tuple[int, ...]]) -> int:
    """Return the width :func:`flat_blocks` gives for ``shapes``."""
    return sum(shapes[n][0] * (shapes[n][1] + 1) for n in ("pivots", "model_outputs"))


class Trunk(nn.Module):
    """The MLP every expert ends in: encoding → hidden state → SELL/HOLD/BUY logits."""

    def __init__(self, width: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(width, 2 * hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(2 * hidden, hidden), nn.GELU())  # fmt: skip
        self.head = nn.Linear(hidden, 3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(logits [B, 3], hidden [B, hidden])``."""
        hidden = self.mlp(x)
        return self.head(hidden), hidden


class LstmNet(nn.Module):
    """One LSTM over the last ``steps`` rows of every series; its state at the last available row."""

    def __init__(self, shapes: dict[str, tuple[int, ...]], width: int = 32, layers: int = 1,
                 steps: int = 60, hidden: int = 32, dropout: float = 0.1) -> None:  # fmt: skip
        super().__init__()
        self.hyper = {"kind": "lstm", "shapes": {k: list(v) for k, v in shapes.items()},
                      "width": width, "layers": layers, "steps": steps, "hidden": hidden,
                      "dropout": dropout}  # fmt: skip
        self.steps = steps
        self.inputs = SeriesProjection(shapes, width)
        self.lstm = nn.LSTM(width, width, num_layers=layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)  # fmt: skip
        k = len(self.inputs.names)
        self.trunk = Trunk(k * (width + 1) + flat_width(shapes), hidden, dropout)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(logits [B, 3], hidden [B, hidden])``."""
        encoded = []
        for i, (rows, mask) in enumerate(self.inputs.series(batch)):
            rows, mask = rows[:, -self.steps :], mask[:, -self.steps :]
            out, _ = self.lstm(self.inputs(i, rows, mask))  # [B, T, width]
            # The output at the last available row (row 0 when none: the flag says so).
            steps = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
            last = torch.where(mask, steps, torch.zeros_like(steps)).amax(dim=1)
            picked = out[torch.arange(out.shape[0]), last]
            available = mask.any(dim=1, keepdim=True).to(out.dtype)
            encoded.append(torch.cat([picked * available, available], dim=-1))
        result: tuple[torch.Tensor, torch.Tensor] = self.trunk(
            torch.cat([*encoded, flat_blocks(batch)], dim=-1)
        )
        return result


class TransformerNet(nn.Module):
    """A small Transformer encoder over patches of every series' last rows, via a class token."""

    def __init__(self, shapes: dict[str, tuple[int, ...]], width: int = 32, layers: int = 2,
                 heads: int = 4, steps: int = 120, patch: int = 10, hidden: int = 32,
                 dropout: float = 0.1) -> None:  # fmt: skip
        super().__init__()
        self.hyper = {"kind": "transformer", "shapes": {k: list(v) for k, v in shapes.items()},
                      "width": width, "layers": layers, "heads": heads, "steps": steps,
                      "patch": patch, "hidden": hidden, "dropout": dropout}  # fmt: skip
        if width % heads:
            raise ValueError(f"width ({width}) must be a multiple of heads ({heads})")
        self.steps, self.patch = steps, patch
        self.inputs = SeriesProjection(shapes, width)
        self.position = nn.Parameter(torch.zeros(-(-steps // patch), width))
        nn.init.normal_(self.position, std=0.02)
        self.cls = nn.Parameter(torch.zeros(1, 1, width))
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width,
                                           dropout=dropout, batch_first=True, norm_first=True)  # fmt: skip
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.trunk = Trunk(width + flat_width(shapes), hidden, dropout)

    def tokens(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Return patch tokens ``[B, N, width]`` and which of them hold no available row."""
        tokens, empty = [], []
        for i, (rows, mask) in enumerate(self.inputs.series(batch)):
            rows, mask = rows[:, -self.steps :], mask[:, -self.steps :]
            b, t = mask.shape
            pad = -t % self.patch  # pad at the start: the newest rows end the last patch
            x = self.inputs(i, rows, mask)
            if pad:
                x = torch.cat([x.new_zeros(b, pad, x.shape[-1]), x], dim=1)
                mask = torch.cat([mask.new_zeros(b, pad), mask], dim=1)
            n = x.shape[1] // self.patch
            per_patch = mask.reshape(b, n, self.patch).to(x.dtype)
            # A patch is the mean of its available rows.
            summed = (x.reshape(b, n, self.patch, -1) * per_patch.unsqueeze(-1)).sum(2)
            count = per_patch.sum(-1, keepdim=True)
            tokens.append(summed / count.clamp(min=1.0) + self.position[-n:])
            empty.append(count.squeeze(-1) == 0)
        return torch.cat(tokens, dim=1), torch.cat(empty, dim=1)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(logits [B, 3], hidden [B, hidden])``."""
        tokens, empty = self.tokens(batch)
        b = tokens.shape[0]
        x = torch.cat([self.cls.expand(b, -1, -1), tokens], dim=1)
        padding = torch.cat([empty.new_zeros(b, 1), empty], dim=1)  # the class token attends
        encoded = self.encoder(x, src_key_padding_mask=padding)
        out: tuple[torch.Tensor, torch.Tensor] = self.trunk(
            torch.cat([encoded[:, 0], flat_blocks(batch)], dim=-1)
        )
        return out


def build_sequence_net(hyper: dict[str, Any]) -> nn.Module:
    """Rebuild a network from its ``hyper`` (what a checkpoint records)."""
    args = {k: v for k, v in hyper.items() if k not in ("kind", "shapes")}
    shapes = {k: tuple(v) for k, v in hyper["shapes"].items()}
    if hyper["kind"] == "lstm":
        return LstmNet(shapes, **args)
    if hyper["kind"] == "transformer":
        return TransformerNet(shapes, **args)
    raise ValueError(f"unknown sequence network {hyper['kind']!r}; known: {SEQUENCE_KINDS}")
