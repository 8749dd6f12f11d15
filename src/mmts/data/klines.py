"""Read OHLCV klines: freqtrade feather/JSON, CryptoDataDownload CSV, Binance public CSV/zip.

Each reader returns ``KlineFile``: the ``bar_dt`` records plus what the file says about its
exchange, symbol and timeframe (callers may override). Every reader validates the same way
(:func:`validate_bars`): finite positive prices, ``low <= open, close <= high``, non-negative
volume, open times aligned to the timeframe, strictly increasing after sorting, and duplicates
only when identical.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mmts.core.errors import DataFormatError
from mmts.core.schema import bar_dt
from mmts.core.symbols import KNOWN_QUOTES, Market, split_pair, unified_symbol
from mmts.core.time import iso
from mmts.core.timeframes import timeframe_ns

#: Exchanges recognised in folder and file names (ccxt ids).
KNOWN_EXCHANGES = (
    "binance", "binanceus", "binanceusdm", "binancecoinm", "mexc", "bybit", "okx", "kraken",
    "coinbase", "kucoin", "bitget", "gate", "gateio", "htx", "bitfinex", "bitstamp",
)  # fmt: skip
_CCXT_EXCHANGE_ALIASES = {"binanceusdm": "binance", "binancecoinm": "binance", "gateio": "gate"}


@dataclass
class KlineFile:
    """Bars read from one file and what the file told about them."""

    path: str
    format: str
    bars: np.ndarray
    timeframe: str
    symbol: str | None
    exchange: str | None
    skipped: dict[str, int] = field(default_factory=dict)


def exchange_from_path(path: Path) -> str | None:
    """Find a known exchange id in the file's name or its folders (nearest first)."""
    for part in [path.stem, *(p.name for p in path.parents)]:
        for token in re.split(r"[-_. ]", part.lower()):
            if token in KNOWN_EXCHANGES:
                return _CCXT_EXCHANGE_ALIASES.get(token, token)
    return None


def validate_bars(bars: np.ndarray, timeframe: str, path: str) -> tuple[np.ndarray, int]:
    """Check bars and return them sorted by time, plus the number of identical duplicates dropped.

    Raises ``DataFormatError`` naming the (0-based, as read) row of the first problem.
    """
    step = timeframe_ns(timeframe)
    prices = np.stack([bars["open"], bars["high"], bars["low"], bars["close"]])
    bad = ~np.all(np.isfinite(prices) & (prices > 0), axis=0)
    bad |= ~np.isfinite(bars["volume"]) | (bars["volume"] < 0)
    bad |= (bars["low"] > np.minimum(bars["open"], bars["close"])) | (
        bars["high"] < np.maximum(bars["open"], bars["close"])
    )
    if np.any(bad):
        row = int(np.argmax(bad))
        raise DataFormatError(
            f"bar at row {row} ({iso(bars['ts'][row])}) is invalid: prices must be finite and "
            f"positive with low <= open, close <= high and volume >= 0; got "
            f"{ {k: float(bars[k][row]) for k in ('open', 'high', 'low', 'close', 'volume')} }",
            path=path,
        )
    misaligned = bars["ts"] % step != 0
    if np.any(misaligned):
        row = int(np.argmax(misaligned))
        raise DataFormatError(
            f"bar at row {row} opens at {iso(bars['ts'][row])}, not on a {timeframe} boundary",
            path=path,
        )
    order = np.argsort(bars["ts"], kind="stable")
    if bars.shape[0] > 1:
        d = np.diff(bars["ts"])
        if not (np.all(d >= 0) or np.all(d <= 0)):
            row = int(np.argmax(d < 0)) + 1 if np.any(d > 0) else 0
            raise DataFormatError(
                f"bar times are out of order at row {row} ({iso(bars['ts'][row])} after "
                f"{iso(bars['ts'][row - 1])})",
                path=path,
            )
    ordered = bars[order]
    dup = np.flatnonzero(np.diff(ordered["ts"]) == 0) + 1
    for dup_row in dup:
        if not _same_bar(ordered[dup_row], ordered[dup_row - 1]):
            raise DataFormatError(
                f"two different bars open at {iso(ordered['ts'][dup_row])}", path=path
            )
    if dup.size:
        ordered = np.delete(ordered, dup)
    return ordered, int(dup.size)


def _same_bar(a: np.void, b: np.void) -> bool:
    return all(a[k] == b[k] for k in ("open", "high", "low", "close", "volume"))


def _records(ts: np.ndarray, frame: pd.DataFrame, names: dict[str, str]) -> np.ndarray:
    out = np.empty(len(frame), bar_dt)
    out["ts"] = ts
    for field_name in ("open", "high", "low", "close", "volume"):
        out[field_name] = pd.to_numeric(frame[names[field_name]], errors="coerce").to_numpy(
            np.float64
        )
    trades_col = names.get("trades")
    out["trades"] = (
        pd.to_numeric(frame[trades_col], errors="coerce").fillna(-1).to_numpy(np.int64)
        if trades_col
        else -1
    )
    return out


def _epoch_to_ns(values: np.ndarray) -> np.ndarray:
    """Convert epoch times in s, ms, us or ns (decided per value by magnitude) to ns."""
    v = values.astype(np.int64)
    scale = np.where(
        v >= 10**17, 1, np.where(v >= 10**14, 10**3, np.where(v >= 10**11, 10**6, 10**9))
    )
    return v * scale


# -- freqtrade feather ------------------------------------------------------------------------

_FREQTRADE_NAME = re.compile(
    r"^(?P<base>[A-Z0-9]+)_(?P<quote>[A-Z0-9]+)(?:_(?P<settle>[A-Z0-9]+))?-(?P<tf>[0-9]+[smhdw])"
    r"(?:-(?P<kind>futures|mark|index|funding_rate))?$"
)


def _freqtrade_name(path: Path, stem: str) -> tuple[str, str]:
    """Return ``(unified symbol, timeframe)`` from a freqtrade data file's name."""
    match = _FREQTRADE_NAME.match(stem)
    if match is None:
        raise DataFormatError(
            "freqtrade file names look like 'ETH_USDT-1m.feather', 'ETH_USDT-1m.json' or "
            "'ETH_USDT_USDT-1h-futures.feather'",
            path=str(path),
        )
    base, quote_asset, settle = match.group("base"), match.group("quote"), match.group("settle")
    market: Market = "spot"
    if settle is not None or match.group("kind") == "futures":
        settle = settle or quote_asset
        market = "inverse" if settle == base else "linear"
    return unified_symbol(base, quote_asset, market), match.group("tf")


def read_freqtrade_feather(path: Path) -> KlineFile:
    """Read a freqtrade ``<BASE>_<QUOTE>[_<SETTLE>]-<tf>[-futures].feather`` file."""
    symbol, timeframe = _freqtrade_name(path, path.stem)
    try:
        frame = pd.read_feather(path)
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise DataFormatError(f"cannot read feather file: {e}", path=str(path)) from e
    required = ["date", "open", "high", "low", "close", "volume"]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataFormatError(
            f"missing columns {missing}; has {list(frame.columns)}", path=str(path)
        )
    dates = pd.DatetimeIndex(frame["date"])
    if dates.tz is None:
        dates = dates.tz_localize("UTC")
    ts = dates.tz_convert("UTC").tz_localize(None).as_unit("ns").asi8
    bars = _records(ts, frame, {k: k for k in required[1:]})
    return KlineFile(path=str(path), format="freqtrade-feather", bars=bars, timeframe=timeframe,
                     symbol=symbol, exchange=exchange_from_path(path))  # fmt: skip


def looks_like_freqtrade_json(head: bytes) -> bool:
    """Return True for freqtrade's JSON candles: ``[[open ms, open, high, low, close, volume]``."""
    return re.match(rb"^\s*\[\s*\[\s*-?[0-9]", head) is not None


def read_freqtrade_json(path: Path) -> KlineFile:
    """Read freqtrade's JSON candle file ``<BASE>_<QUOTE>-<tf>.json[.gz]``, oldest first.

    Each row is ``[open time (ms), open, high, low, close, volume]``.
    """
    stem = path.name.removesuffix(".gz").removesuffix(".json")
    symbol, timeframe = _freqtrade_name(path, stem)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    try:
        rows = json.loads(raw)
    except ValueError as e:
        raise DataFormatError(f"not valid JSON: {e}", path=str(path)) from e
    if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) == 6 for r in rows):
        if isinstance(rows, list) and rows:
            bad = next(i for i, r in enumerate(rows) if not (isinstance(r, list) and len(r) == 6))
            what = f"candle {bad} is {str(rows[bad])[:80]}"
        else:
            what = f"the file holds {str(rows)[:80]}"
        raise DataFormatError(
            f"{what}; expected [open time ms, open, high, low, close, volume]", path=str(path)
        )
    frame = pd.DataFrame(rows, columns=["ts", "open", "high", "low", "close", "volume"])
    ts = _epoch_to_ns(pd.to_numeric(frame["ts"], errors="coerce").fillna(-1).to_numpy())
    bars = _records(ts, frame, {k: k for k in ("open", "high", "low", "close", "volume")})
    return KlineFile(path=str(path), format="freqtrade-json", bars=bars, timeframe=timeframe,
                     symbol=symbol, exchange=exchange_from_path(path))  # fmt: skip


# -- CryptoDataDownload CSV -------------------------------------------------------------------

_CDD_TIMEFRAMES = {"d": "1d", "1h": "1h", "minute": "1m", "1m": "1m", "m": "1m", "h": "1h"}


def read_cryptodatadownload_csv(path: Path, text: str) -> KlineFile:
    """Read a CryptoDataDownload CSV: a banner line, a header, rows newest first."""
    lines = text.splitlines()
    if len(lines) < 2:
        raise DataFormatError("expected a banner line and a header line", path=str(path))
    frame = pd.read_csv(io.StringIO("\n".join(lines[1:])))
    cols = {c.lower(): c for c in frame.columns}
    volume_cols = [c for c in frame.columns if c.lower().startswith("volume ")]
    needed = ["unix", "open", "high", "low", "close"]
    missing = [c for c in needed if c not in cols]
    if missing or not volume_cols:
        raise DataFormatError(
            f"expected columns Unix, Open, High, Low, Close, 'Volume <BASE>'; has {list(frame.columns)}",
            path=str(path),
            line=2,
        )
    symbol_raw = str(frame[cols["symbol"]].iloc[0]) if "symbol" in cols and len(frame) else ""
    base = volume_cols[0].split(" ", 1)[1].strip().upper()
    pair = symbol_raw.replace("/", "").replace("-", "").upper()
    quote_asset = pair[len(base) :] if pair.startswith(base) and len(pair) > len(base) else None
    if quote_asset is None and pair:
        base, quote_asset = split_pair(pair)
    parts = path.stem.split("_")
    timeframe = _CDD_TIMEFRAMES.get(parts[-1].lower()) if len(parts) >= 3 else None
    if timeframe is None:
        raise DataFormatError(
            "cannot tell the timeframe from the name; expected '<Exchange>_<PAIR>_<d|1h|minute>.csv'",
            path=str(path),
        )
    ts = _epoch_to_ns(pd.to_numeric(frame[cols["unix"]], errors="coerce").fillna(-1).to_numpy())
    names = {"open": cols["open"], "high": cols["high"], "low": cols["low"], "close": cols["close"],
             "volume": volume_cols[0]}  # fmt: skip
    if "tradecount" in cols:
        names["trades"] = cols["tradecount"]
    bars = _records(ts, frame, names)
    return KlineFile(
        path=str(path),
        format="cryptodatadownload-csv",
        bars=bars,
        timeframe=timeframe,
        symbol=unified_symbol(base, quote_asset, "spot") if quote_asset else None,
        exchange=exchange_from_path(path),
    )


# -- Binance public data (data.binance.vision) --------------------------------------------------

_BINANCE_PUBLIC_NAME = re.compile(
    r"^(?P<pair>[A-Z0-9]+)-(?P<tf>[0-9]+[smhdw])-\d{4}-\d{2}(?:-\d{2})?$"
)
BINANCE_PUBLIC_COLUMNS = [
    "open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume", "count",
    "taker_buy_volume", "taker_buy_quote_volume", "ignore",
]  # fmt: skip


def looks_like_binance_public_csv(head: str) -> bool:
    """Return True for a Binance public kline CSV (12 columns, optional header)."""
    first = head.splitlines()[0] if head else ""
    cells = first.split(",")
    if len(cells) != 12:
        return False
    return cells[0].strip() == "open_time" or cells[0].strip().isdigit()


def read_binance_public(path: Path, market: Market | None = None) -> list[KlineFile]:
    """Read a Binance public-data kline ``.csv`` or a ``.zip`` holding such CSVs."""
    if path.suffix.lower() == ".zip":
        out = []
        try:
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    if name.lower().endswith(".csv"):
                        text = archive.read(name).decode()
                        out.append(_read_binance_public_text(path, Path(name).stem, text, market))
        except zipfile.BadZipFile as e:
            raise DataFormatError(f"not a valid zip archive ({e})", path=str(path)) from e
        if not out:
            raise DataFormatError("zip archive holds no .csv file", path=str(path))
        return out
    return [_read_binance_public_text(path, path.stem, path.read_text(), market)]


def _read_binance_public_text(path: Path, stem: str, text: str, market: Market | None) -> KlineFile:
    match = _BINANCE_PUBLIC_NAME.match(stem)
    if match is None:
        raise DataFormatError(
            "Binance public kline files are named like 'BTCUSDT-1m-2024-08-01.csv'", path=str(path)
        )
    has_header = text.startswith("open_time")
    frame = pd.read_csv(
        io.StringIO(text), header=0 if has_header else None, names=BINANCE_PUBLIC_COLUMNS
    )
    ts = _epoch_to_ns(pd.to_numeric(frame["open_time"], errors="coerce").fillna(-1).to_numpy())
    names = {k: k for k in ("open", "high", "low", "close", "volume")}
    names["trades"] = "count"
    bars = _records(ts, frame, names)
    parts = {p.lower() for p in path.parts}
    if market is None:
        market = "linear" if "um" in parts else "inverse" if "cm" in parts else "spot"
    pair = match.group("pair")
    if market == "inverse":
        base, quote_asset = split_pair(pair.removesuffix("_PERP"))
    else:
        base, quote_asset = split_pair(pair)
    return KlineFile(
        path=str(path),
        format="binance-public-klines",
        bars=bars,
        timeframe=match.group("tf"),
        symbol=unified_symbol(base, quote_asset, market),
        exchange=exchange_from_path(path) or "binance",
    )


__all__ = [
    "KNOWN_QUOTES",
    "KlineFile",
    "exchange_from_path",
    "looks_like_binance_public_csv",
    "read_binance_public",
    "read_cryptodatadownload_csv",
    "read_freqtrade_feather",
    "validate_bars",
]
