"""A compact, fixed-length summary of a standardized input (for linear baselines and the DQN)."""

from __future__ import annotations

import numpy as np

from mmts.features.inputs import ModelInput


def summary_features(x: ModelInput) -> np.ndarray:
    """Summarise every block: last available row, mean over available rows, share available.

    ``anchors`` (raw prices, not scale-free) are left out. The ``model_outputs`` block's rows are
    upstream models' slot vectors, so their probabilities and hidden state pass through whole.
    """
    parts = []
    for name, block in x.blocks.items():
        if name == "anchors":
            continue
        mask = x.masks[name]
        rows = block.reshape(block.shape[0], -1).astype(np.float64)
        avail = mask.astype(np.float64)
        n = avail.sum()
        mean = (rows * avail[:, None]).sum(0) / max(n, 1.0)
        last = rows[np.flatnonzero(mask)[-1]] if n else np.zeros(rows.shape[1])
        parts.extend([last, mean, [n / max(mask.shape[0], 1)]])
    return np.concatenate(parts)
