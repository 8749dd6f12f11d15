"""mmts: multi-modal crypto trading research, backtested honestly and run live on one pipeline.

``import mmts`` is cheap: subpackages load on first use (``mmts.data``) and nothing here
imports torch, lightning, vectorbt or ccxt.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_SUBPACKAGES = (
    "core",
    "config",
    "data",
    "features",
    "execution",
    "models",
    "history",
    "backtest",
    "cli",
)

if TYPE_CHECKING:
    from mmts import backtest, config, core, data, execution, features, history, models


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"mmts.{name}")
    raise AttributeError(f"module 'mmts' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBPACKAGES])


__all__ = [
    "__version__",
    "backtest",
    "config",
    "core",
    "data",
    "execution",
    "features",
    "history",
    "models",
]
