"""Features: order-book (COB) buckets and imbalance, multi-timeframe frames, pivots, model input.

Pure computation over arrays; a store is only read through its public methods.
"""

from mmts.features.api import cob
from mmts.features.inputs import (
    LAYOUT_VERSION,
    InvalidModelInput,
    ModelInput,
    ModelInputLayout,
    model_input,
    validate,
)
from mmts.features.pivots import pivots

__all__ = [
    "LAYOUT_VERSION",
    "InvalidModelInput",
    "ModelInput",
    "ModelInputLayout",
    "cob",
    "model_input",
    "pivots",
    "validate",
]
