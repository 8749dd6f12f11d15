"""Classification metrics on SELL/HOLD/BUY: confusion matrix, macro-F1, calibration."""

from __future__ import annotations

import numpy as np
import torch


def confusion(predicted: torch.Tensor, actual: torch.Tensor, n: int = 3) -> torch.Tensor:
    """Return the ``[actual, predicted]`` count matrix."""
    index = actual.long() * n + predicted.long()
    return torch.bincount(index, minlength=n * n).reshape(n, n)


def macro_f1(matrix: torch.Tensor | np.ndarray) -> float:
    """Mean F1 over classes that occur (in truth or prediction); 0 when none."""
    m = np.asarray(matrix, np.float64)
    tp = np.diag(m)
    support = m.sum(1)
    predicted = m.sum(0)
    present = (support + predicted) > 0
    if not present.any():
        return 0.0
    f1 = np.where(present, 2 * tp / np.maximum(support + predicted, 1e-12), 0.0)
    return float(f1[present].mean())


def calibration_table(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 5
) -> list[dict[str, float]]:
    """Return, per confidence bin, the count, mean confidence and accuracy (empty bins left out)."""
    confidence = np.asarray(confidence, np.float64)
    correct = np.asarray(correct, bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    table = []
    for b in range(bins):
        sel = which == b
        if sel.any():
            table.append({
                "low": float(edges[b]), "high": float(edges[b + 1]), "count": int(sel.sum()),
                "mean_confidence": float(confidence[sel].mean()),
                "accuracy": float(correct[sel].mean()),
            })  # fmt: skip
    return table


def calibration_error(table: list[dict[str, float]]) -> float | None:
    """Return the expected calibration error of a :func:`calibration_table`.

    The mean |confidence - accuracy|,
    weighted by each bin's count; None without any prediction. 0 is perfectly calibrated.
    """
    total = sum(row["count"] for row in table)
    if total == 0:
        return None
    return float(
        sum(row["count"] * abs(row["mean_confidence"] - row["accuracy"]) for row in table) / total
    )
