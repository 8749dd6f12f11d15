"""The feature settings every layer shares, and their strict TOML loader.

Every default is defined once, where its setting is declared (``mmts.core.settings.option``).
``None`` means "off", never "use the default". Unknown keys, wrong types and values out of
range are errors, so a typo in an experiment file fails loudly instead of being ignored.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from mmts.core.settings import SettingsError, build_table, check_settings, option
from mmts.core.timeframes import timeframe_ns

#: Default COB bucket width in USD per symbol (the recorded 1000-level snapshots reach about
#: +-$25 for ETH and +-$205 for BTC, so 20 buckets each side stay inside them).
DEFAULT_BUCKET_USD: dict[str, float] = {"ETH/USDT": 1.0, "BTC/USDT": 10.0}
#: Seconds without a book event after which a book is stale: its COB features are unknown
#: and ``Store.book`` refuses it (the one definition of the rule).
DEFAULT_BOOK_STALE_S = 5.0


def timeframe_problem(value: str | tuple[str, ...]) -> str | None:
    """Say what is wrong with a timeframe (or each of a list), for :func:`option`'s ``check``."""
    for tf in value if isinstance(value, tuple) else (value,):
        try:
            timeframe_ns(tf)
        except ValueError:
            return f"{tf!r} is not a timeframe like '1s', '5m', '1h' or '1d'"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class FeatureConfig:
    """What the feature builders compute (the ``[features]`` table)."""

    TABLE: ClassVar[str] = "features"

    bucket_usd: dict[str, float] = option(
        factory=lambda: dict(DEFAULT_BUCKET_USD),
        gt=0,
        doc="COB bucket width in USD per symbol; symbols not listed use default_bucket_usd",
    )
    default_bucket_usd: float = option(1.0, gt=0, doc="COB bucket width for unlisted symbols (USD)")
    n_buckets: int = option(20, ge=1, doc="COB buckets on each side of the centre bucket")
    imbalance_buckets: int = option(
        5, ge=1, doc="offsets -k..+k summed for the book imbalance (at most n_buckets)"
    )
    imbalance_windows_s: tuple[int, ...] = option(
        (1, 5, 15, 60), ge=1, doc="moving-average windows of the imbalance, in seconds"
    )
    book_stale_s: float = option(
        DEFAULT_BOOK_STALE_S,
        gt=0,
        doc="seconds without a book event after which the book counts as unknown",
    )
    tick: dict[str, float] = option(
        factory=dict,
        gt=0,
        doc="price step per symbol (inferred from the data where absent; the step driver "
        "needs it given so that batch and step agree bit for bit)",
    )
    primary_symbol: str = option("ETH/USDT", doc="the traded symbol (ccxt unified)")
    reference_symbol: str = option("BTC/USDT", doc="the symbol given as context")
    timeframes: tuple[str, ...] = option(
        ("1s", "1m", "1h", "1d"),
        check=timeframe_problem,
        doc="bar timeframes of the primary symbol in the model input",
    )
    frames: int = option(300, ge=2, doc="closed bars per timeframe in the model input")
    pivot_strength: int = option(2, ge=1, doc="bars on each side that make a level-1 swing")
    pivot_levels: int = option(5, ge=1, doc="Williams market-structure levels")

    def __post_init__(self) -> None:
        check_settings(self)
        if self.imbalance_buckets > self.n_buckets:
            raise SettingsError(
                f"[features] imbalance_buckets: expected at most n_buckets ({self.n_buckets}), "
                f"got {self.imbalance_buckets}"
            )

    def tick_size(self, symbol: str) -> float | None:
        """Return the configured price step of ``symbol``, or None to infer it from the data."""
        value = self.tick.get(symbol)
        return None if value is None else float(value)

    def bucket_width(self, symbol: str) -> float:
        """Return the COB bucket width in USD for ``symbol``."""
        return float(self.bucket_usd.get(symbol, self.default_bucket_usd))


def load_feature_config(path: str | Path) -> FeatureConfig:
    """Read the ``[features]`` table of a TOML file (other tables are left to their owners)."""
    with Path(path).open("rb") as handle:
        data = tomllib.load(handle)
    return build_table(FeatureConfig, data.get("features", {}))  # type: ignore[no-any-return]
