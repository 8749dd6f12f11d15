"""Lightning without its noise: set before Lightning is imported, in every process that trains."""

from __future__ import annotations

import logging
import os
import warnings


def quiet_lightning() -> None:
    """Silence Lightning's known, harmless warnings and its banners (devices, tips).

    The device banner ("GPU available: False") and the advertising tip are informational
    messages of Lightning's rank-zero logger; its warnings still show.
    """
    warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*GPU available but not used.*")
    warnings.filterwarnings("ignore", message=".*`training_step` returned `None`.*")
    warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
    os.environ.setdefault("PYTORCH_LIGHTNING_SUPPRESS_TIPS", "1")
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).setLevel(logging.WARNING)
