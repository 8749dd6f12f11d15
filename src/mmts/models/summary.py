"""A compact, fixed-length summary of a standardized input (for linear baselines and the DQN)."""

from __future__ import annotations

import numpy as np

from mmts.features.inputs import ModelInput
from mmts.models.summary_nb import block_summary_nb


def summary_features(x: ModelInput) -> np.ndarray:
    """Summarise every block: last available row, mean over available rows, share available.

    ``anchors`` (raw prices, not scale-free) are left out. The ``model_outputs`` block's rows are
    upstream models' slot vectors, so their probabilities and hidden state pass through whole.
    """
    names = [name for name in x.blocks if name != "anchors"]
    rows = [x.blocks[name].reshape(x.blocks[name].shape[0], -1) for name in names]
    out = np.empty(sum(2 * r.shape[1] + 1 for r in rows))
    at = 0
    for name, block in zip(names, rows, strict=True):
        at = block_summary_nb(np.ascontiguousarray(block, np.float32), x.masks[name], out, at)
    return out
