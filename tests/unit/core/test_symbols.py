from __future__ import annotations

import pytest

from mmts.core.symbols import (
    binance_symbol,
    market_of,
    normalize_market,
    path_to_symbol,
    split_pair,
    symbol_to_path,
)


@pytest.mark.parametrize(
    ("raw", "market", "unified"),
    [
        ("BTCUSDT", "spot", "BTC/USDT"),
        ("ethusdt", "linear", "ETH/USDT:USDT"),
        ("BTCUSD_PERP", "inverse", "BTC/USD:BTC"),
        ("ETHBTC", "spot", "ETH/BTC"),
        ("SOLFDUSD", "spot", "SOL/FDUSD"),
    ],
)
def test_binance_ids_map_to_unified_symbols(raw: str, market: str, unified: str) -> None:
    assert binance_symbol(raw, normalize_market(market)) == unified
    assert market_of(unified) == normalize_market(market)


def test_unknown_quote_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="cannot tell base from quote in 'FOOBAR'"):
        split_pair("FOOBAR")


def test_bad_unified_symbol_names_the_input() -> None:
    with pytest.raises(ValueError, match="was 'ETHUSDT'"):
        market_of("ETHUSDT")


def test_market_aliases() -> None:
    assert normalize_market("USDM") == "linear"
    assert normalize_market("cm") == "inverse"
    with pytest.raises(ValueError, match="was 'margin'"):
        normalize_market("margin")


@pytest.mark.parametrize("symbol", ["BTC/USDT", "ETH/USDT:USDT", "BTC/USD:BTC"])
def test_symbol_folder_names_round_trip(symbol: str) -> None:
    name = symbol_to_path(symbol)
    assert "/" not in name and ":" not in name
    assert path_to_symbol(name) == symbol
