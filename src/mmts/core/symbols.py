"""ccxt unified symbols: ``ETH/USDT`` spot, ``ETH/USDT:USDT`` linear perp, ``ETH/USD:ETH`` inverse.

Exchanges name markets their own way (``ETHUSDT``, ``ETHUSD_PERP``); everything in mmts speaks
the unified form and converts once, at the edge.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import quote, unquote

Market = Literal["spot", "linear", "inverse"]
MARKETS: tuple[Market, ...] = ("spot", "linear", "inverse")

#: Aliases accepted wherever a market is named (CLI flags, folder names).
MARKET_ALIASES: dict[str, Market] = {
    "spot": "spot",
    "linear": "linear",
    "usdm": "linear",
    "um": "linear",
    "future": "linear",
    "swap": "linear",
    "inverse": "inverse",
    "coinm": "inverse",
    "cm": "inverse",
    "delivery": "inverse",
}

#: Quote assets tried, longest first, to split an exchange id such as ``ETHUSDT``.
KNOWN_QUOTES = (
    "FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USDP", "USDE", "DAI", "USD", "EUR", "TRY", "BRL",
    "GBP", "JPY", "BTC", "ETH", "BNB", "SOL",
)  # fmt: skip

_UNIFIED_RE = re.compile(r"^([A-Z0-9]+)/([A-Z0-9]+)(?::([A-Z0-9]+))?(?:-([0-9]{6}))?$")


def normalize_market(market: str) -> Market:
    """Return the canonical market name for ``market`` or one of its aliases.

    Examples
    --------
    >>> normalize_market("usdm")
    'linear'
    """
    try:
        return MARKET_ALIASES[market.lower()]
    except KeyError:
        raise ValueError(
            f"market must be one of {sorted(MARKET_ALIASES)}; was {market!r}"
        ) from None


def parse_symbol(symbol: str) -> tuple[str, str, str | None]:
    """Split a unified symbol into ``(base, quote, settle)``; ``settle`` is None on spot."""
    match = _UNIFIED_RE.match(symbol)
    if match is None:
        raise ValueError(
            f"symbol must be a ccxt unified symbol like 'ETH/USDT' or 'ETH/USDT:USDT'; "
            f"was {symbol!r}"
        )
    return match.group(1), match.group(2), match.group(3)


def market_of(symbol: str) -> Market:
    """Return the market a unified symbol trades on.

    Examples
    --------
    >>> market_of("ETH/USDT"), market_of("ETH/USDT:USDT"), market_of("ETH/USD:ETH")
    ('spot', 'linear', 'inverse')
    """
    base, _quote, settle = parse_symbol(symbol)
    if settle is None:
        return "spot"
    return "inverse" if settle == base else "linear"


def split_pair(pair: str) -> tuple[str, str]:
    """Split an exchange pair id such as ``ETHUSDT`` into ``(base, quote)``."""
    pair = pair.upper()
    for quote_asset in KNOWN_QUOTES:
        if pair.endswith(quote_asset) and len(pair) > len(quote_asset):
            return pair[: -len(quote_asset)], quote_asset
    raise ValueError(
        f"cannot tell base from quote in {pair!r}; known quotes are {', '.join(KNOWN_QUOTES)}"
    )


def unified_symbol(base: str, quote_asset: str, market: Market) -> str:
    """Build the unified symbol for ``base``/``quote_asset`` on ``market``.

    Examples
    --------
    >>> unified_symbol("BTC", "USD", "inverse")
    'BTC/USD:BTC'
    """
    if market == "spot":
        return f"{base}/{quote_asset}"
    if market == "linear":
        return f"{base}/{quote_asset}:{quote_asset}"
    return f"{base}/{quote_asset}:{base}"


def binance_symbol(exchange_id: str, market: Market) -> str:
    """Convert a Binance market id (``ETHUSDT``, ``ETHUSD_PERP``) to a unified symbol.

    Examples
    --------
    >>> binance_symbol("BTCUSD_PERP", "inverse")
    'BTC/USD:BTC'
    """
    pair = exchange_id.upper().removesuffix("_PERP")
    base, quote_asset = split_pair(pair)
    return unified_symbol(base, quote_asset, market)


def symbol_to_path(symbol: str) -> str:
    """Return a file-system-safe, reversible folder name for a unified symbol."""
    return quote(symbol, safe="")


def path_to_symbol(name: str) -> str:
    """Invert :func:`symbol_to_path`."""
    return unquote(name)
