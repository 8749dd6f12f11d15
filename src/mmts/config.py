"""Frozen configuration dataclasses and a strict TOML loader.

Every default is defined once, here. ``None`` means "off", never "use the default". Unknown keys
are errors, so a typo in an experiment file fails loudly instead of being ignored.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

#: Default COB bucket width in USD per symbol (the recorded 1000-level snapshots reach about
#: +-$25 for ETH and +-$205 for BTC, so 20 buckets each side stay inside them).
DEFAULT_BUCKET_USD: dict[str, float] = {"ETH/USDT": 1.0, "BTC/USDT": 10.0}


@dataclass(frozen=True, slots=True, kw_only=True)
class FeatureConfig:
    """What the feature builders compute.

    Parameters
    ----------
    bucket_usd : COB bucket width in USD per symbol; symbols not listed use ``default_bucket_usd``.
    default_bucket_usd : width for symbols not in ``bucket_usd``, as a fraction-free USD amount.
    n_buckets : buckets on each side of the centre bucket (41 in all for 20).
    imbalance_buckets : offsets ``-k..+k`` summed for the book imbalance.
    imbalance_windows_s : moving-average windows of the imbalance, in seconds.
    book_stale_s : seconds without any book event after which the book is treated as unknown.
    tick : price step per symbol for the book (inferred from the data when a symbol is absent;
        the step driver needs it given, so that batch and step agree bit for bit).
    primary_symbol, reference_symbol : the traded symbol and the one given as context.
    timeframes : bar timeframes of the primary symbol in the model input.
    frames : closed bars per timeframe in the model input.
    pivot_strength : bars on each side that make a level-1 swing high/low.
    pivot_levels : Williams market-structure levels.
    """

    bucket_usd: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_BUCKET_USD))
    default_bucket_usd: float = 1.0
    n_buckets: int = 20
    imbalance_buckets: int = 5
    imbalance_windows_s: tuple[int, ...] = (1, 5, 15, 60)
    book_stale_s: float = 5.0
    tick: dict[str, float] = field(default_factory=dict)
    primary_symbol: str = "ETH/USDT"
    reference_symbol: str = "BTC/USDT"
    timeframes: tuple[str, ...] = ("1s", "1m", "1h", "1d")
    frames: int = 300
    pivot_strength: int = 2
    pivot_levels: int = 5

    def __post_init__(self) -> None:
        if self.n_buckets < 1 or not 1 <= self.imbalance_buckets <= self.n_buckets:
            raise ValueError(
                f"need n_buckets >= 1 and 1 <= imbalance_buckets <= n_buckets; were "
                f"{self.n_buckets} and {self.imbalance_buckets}"
            )
        if any(w <= 0 for w in [*self.bucket_usd.values(), self.default_bucket_usd]):
            raise ValueError(f"bucket widths must be positive; were {self.bucket_usd}")

    def tick_size(self, symbol: str) -> float | None:
        """Return the configured price step of ``symbol``, or None to infer it from the data."""
        value = self.tick.get(symbol)
        return None if value is None else float(value)

    def bucket_width(self, symbol: str) -> float:
        """Return the COB bucket width in USD for ``symbol``."""
        return float(self.bucket_usd.get(symbol, self.default_bucket_usd))


def _build(cls: type[Any], values: dict[str, Any], where: str) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in [{where}]; known keys are {sorted(known)}")
    coerced = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return cls(**coerced)


def load_feature_config(path: str | Path) -> FeatureConfig:
    """Read the ``[features]`` table of a TOML file (other tables are left to their owners)."""
    with Path(path).open("rb") as handle:
        data = tomllib.load(handle)
    return _build(FeatureConfig, data.get("features", {}), "features")  # type: ignore[no-any-return]
