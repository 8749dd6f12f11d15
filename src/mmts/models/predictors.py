"""Trained networks behind the common ``predict(x) -> ModelOutput`` interface."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmts.features.inputs import ModelInput, ModelInputLayout
from mmts.models.checkpoints import check_layout
from mmts.models.cnn import CnnNet
from mmts.models.dataset import input_tensors
from mmts.models.output import Action, ModelOutput


def state_hash(module: torch.nn.Module) -> str:
    """Hash of a module's weights (same seed, data and config → same hash)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def collate_inputs(xs: list[ModelInput]) -> dict[str, torch.Tensor]:
    """Stack inputs into one batch of tensors."""
    items = [input_tensors(x) for x in xs]
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


class CnnPredictor:
    """A trained CNN: ``predict(x)`` for one decision, ``predict_batch`` for replay."""

    model_type = "cnn"

    def __init__(self, net: CnnNet, layout: ModelInputLayout, name: str = "cnn",
                 version: str = "untrained", symbol: str | None = None) -> None:  # fmt: skip
        self.net = net.eval()
        self.layout = layout
        self.name = name
        self.version = version
        self.symbol = symbol or layout.config.primary_symbol
        self._shapes = layout.shapes()

    def _check(self, x: ModelInput) -> None:
        if x.layout.version != self.layout.version or x.layout.shapes() != self._shapes:
            raise ValueError(
                f"{self.name}: input layout {x.layout.version} {x.layout.shapes()} does not match "
                f"the model's {self.layout.version} {self._shapes}"
            )

    @torch.no_grad()
    def forward_batch(self, batch: dict[str, torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(probabilities [B, 3], hidden [B, H])`` for a collated batch."""
        logits, hidden = self.net(batch)
        return torch.softmax(logits, -1).numpy().astype(np.float64), hidden.numpy()

    def predict_batch(self, xs: list[ModelInput]) -> list[ModelOutput]:
        """Predict many decisions in one forward pass."""
        for x in xs:
            self._check(x)
        probs, hidden = self.forward_batch(collate_inputs(xs))
        return [self._output(x.at, p, h) for x, p, h in zip(xs, probs, hidden, strict=True)]

    def predict(self, x: ModelInput) -> ModelOutput:
        """Predict one decision."""
        return self.predict_batch([x])[0]

    def _output(self, at: int, probs: np.ndarray, hidden: np.ndarray) -> ModelOutput:
        probs = probs / probs.sum()
        action = Action(int(np.argmax(probs)))
        return ModelOutput(
            model_name=self.name, model_type=self.model_type, model_version=self.version,
            symbol=self.symbol, at=int(at), action=action, probabilities=probs,
            confidence=float(probs[int(action)]), hidden=hidden.astype(np.float32),
        )  # fmt: skip


def load_cnn(entry: dict[str, Any], layout: ModelInputLayout) -> CnnPredictor:
    """Load a CNN checkpoint entry (see ``checkpoints``) without importing lightning."""
    check_layout(entry, layout)
    blob = torch.load(Path(entry["path"]), map_location="cpu", weights_only=False)
    hp = blob["hyper_parameters"]
    net = CnnNet({k: tuple(v) for k, v in hp["shapes"].items()}, hp["channels"], hp["hidden"],
                 hp["dropout"])  # fmt: skip
    state = {
        k.removeprefix("net."): v for k, v in blob["state_dict"].items() if k.startswith("net.")
    }
    net.load_state_dict(state)
    return CnnPredictor(net, layout, name=entry.get("model", "cnn"), version=entry["id"])
