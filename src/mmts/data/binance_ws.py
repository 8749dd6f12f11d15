"""Read raw Binance websocket recordings (``<local ts> <json>`` lines, gzip or plain).

One file may hold several streams and symbols; :func:`read_recording` splits it into one
:class:`Recording` per symbol with trades, depth (diffs and snapshots) and best bid/ask as
``mmts.core.schema`` records. The heavy lifting is ``binance_ws_nb.parse_lines_nb``.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmts.core.enums import FLAG_SNAPSHOT
from mmts.core.errors import DataFormatError
from mmts.core.schema import NO_ID, NO_TS, bbo_dt, book_dt, trade_dt
from mmts.core.symbols import Market, binance_symbol, normalize_market
from mmts.core.time import iso
from mmts.data import binance_ws_nb as nb

_KEY_NAMES = (
    "stream", "data", "lastUpdateId", "bids", "asks", "E", "T", "U", "u", "pu", "b", "a", "B",
    "A", "t", "p", "q", "m", "ps", "X", "M", "e", "symbol", "depth", "trade", "bookTicker",
    "_PERP",
)  # fmt: skip
_KEYS = tuple(np.frombuffer(k.encode(), np.uint8).copy() for k in _KEY_NAMES)
_KEY_BYTES = np.concatenate(_KEYS)
_KEY_OFFSETS = np.concatenate([[0], np.cumsum([k.size for k in _KEYS])]).astype(np.int64)


def _key_table() -> np.ndarray:
    table = np.full(nb.KEY_TABLE_SIZE, -1, np.int64)
    for index, key in enumerate(_KEYS[: nb.N_JSON_KEYS]):
        slot = int(nb.key_slot_nb(int(key[0]), int(key[-1]), key.size))
        if table[slot] >= 0:
            raise AssertionError(f"key slot collision: {_KEY_NAMES[index]!r}")
        table[slot] = index
    return table


_KEY_TABLE = _key_table()
_PERP_LOWER = np.frombuffer(b"_perp", np.uint8).copy()

#: Largest accepted gap between a message's exchange time and its receive time.
MAX_CLOCK_SKEW_NS = 3600 * 10**9

_ERROR_TEXT = {
    nb.ERR_MALFORMED: "malformed message (expected '<integer timestamp> <JSON object>')",
    nb.ERR_NUMBER: "a number is not a plain decimal of at most 17 significant digits",
    nb.ERR_MISSING_FIELD: "a field Binance always sends is missing",
}


@dataclass
class Recording:
    """One symbol's data from one recording file."""

    path: str
    exchange: str
    market: Market
    symbol: str
    trades: np.ndarray
    book: np.ndarray
    bbo: np.ndarray
    #: 1-based source line of every book row's message (for error locations).
    book_lines: np.ndarray
    first_local_ts: int
    last_local_ts: int


@dataclass
class RecordingSummary:
    """What a read found and what it skipped."""

    path: str
    lines: int = 0
    messages: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


def read_bytes(path: str | Path) -> bytes:
    """Return the file's bytes, decompressed when it is gzip."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise DataFormatError(
                f"gzip stream is corrupt or truncated ({e})", path=str(path)
            ) from e
    return raw


def looks_like_recording(head: bytes) -> bool:
    """Return True when ``head`` (the first bytes, decompressed) is a ws recording."""
    line = head.split(b"\n", 1)[0].strip()
    ts, _, rest = line.partition(b" ")
    return ts.isdigit() and rest.lstrip().startswith(b"{")


def timestamp_scale(ts: int, path: str, line: int) -> int:
    """Return the factor that turns a recording's local timestamps (ns, us or ms) into ns."""
    digits = len(str(abs(ts)))
    if digits >= 18:
        return 1
    if 15 <= digits <= 17:
        return 1_000
    if 12 <= digits <= 14:
        return 1_000_000
    raise DataFormatError(
        f"local timestamp {ts} is not in ns, us or ms since the epoch", path=path, line=line
    )


def read_recording(
    path: str | Path,
    *,
    market: str | None = None,
    symbol: str | None = None,
    skip_bad_lines: bool = False,
) -> tuple[list[Recording], RecordingSummary]:
    """Parse one recording file into per-symbol records.

    Parameters
    ----------
    path : path of a ``.gz`` or plain text recording.
    market : ``spot``, ``linear`` or ``inverse`` (or an alias); detected from the messages
        when None.
    symbol : unified symbol to use when the file holds one symbol that cannot be named from its
        content.
    skip_bad_lines : count malformed lines in the summary instead of raising.

    Raises
    ------
    DataFormatError
        Naming the file, the line and what was expected.
    """
    path_s = str(path)
    buf = np.frombuffer(read_bytes(path), np.uint8)
    level_capacity = int(np.count_nonzero(buf == ord("["))) + 1
    (
        kind, err, hint, line_start, line_end, local_ts, exch_ts, id_a, id_b, id_c,
        sym_hash, sym_start, sym_end, px_a, qty_a, px_b, qty_b, side, lvl_start, lvl_count,
        lvl_side, lvl_px, lvl_qty,
    ) = nb.parse_lines_nb(buf, _KEYS, _KEY_BYTES, _KEY_OFFSETS, _KEY_TABLE, level_capacity)  # fmt: skip
    n_lines = kind.shape[0]
    summary = RecordingSummary(path=path_s, lines=n_lines)

    def text(row: int) -> str:
        snippet = bytes(buf[line_start[row] : min(line_end[row], line_start[row] + 120)])
        return snippet.decode("utf-8", "replace")

    # Numbers outside the kernel's exact fast path: re-read those lines with Python's parser.
    slow = np.flatnonzero(err == nb.ERR_NUMBER)
    if slow.size:
        extra_levels = _reparse_exact(
            buf, slow, kind, err, hint, local_ts, exch_ts, id_a, id_b, id_c, px_a, qty_a, px_b, qty_b,
            side, lvl_start, lvl_count, lvl_side.shape[0],
        )  # fmt: skip
        if extra_levels[0]:
            lvl_side = np.concatenate([lvl_side, np.array(extra_levels[0], np.int8)])
            lvl_px = np.concatenate([lvl_px, np.array(extra_levels[1], np.float64)])
            lvl_qty = np.concatenate([lvl_qty, np.array(extra_levels[2], np.float64)])

    # Bad lines: raise or skip.
    bad = np.flatnonzero(err != nb.ERR_NONE)
    if bad.size:
        if not skip_bad_lines:
            row = int(bad[0])
            raise DataFormatError(
                f"{_ERROR_TEXT[int(err[row])]}; line starts {text(row)!r}",
                path=path_s,
                line=row + 1,
            )
        for bad_row in bad:
            reason = _ERROR_TEXT[int(err[bad_row])].split(" (")[0]
            summary.skipped[f"bad line ({reason})"] += 1
    good = (err == nb.ERR_NONE) & (kind != nb.MSG_BLANK)
    rows = np.flatnonzero(good)
    if rows.size == 0:
        raise DataFormatError("no messages found", path=path_s)

    # Receive times must never go backwards inside a recording.
    ts_rows = local_ts[rows]
    back = np.flatnonzero(np.diff(ts_rows) < 0)
    if back.size:
        row = int(rows[back[0] + 1])
        raise DataFormatError(
            f"local timestamp {local_ts[row]} is earlier than the previous message's "
            f"{local_ts[rows[back[0]]]} (out of order)",
            path=path_s,
            line=row + 1,
        )
    scale = timestamp_scale(int(ts_rows[0]), path_s, int(rows[0]) + 1)

    # The exchange's time and the receive time of one message must roughly agree: decades apart
    # means a misread unit or a broken clock, and every feature of that stretch would be wrong.
    stamped = rows[exch_ts[rows] > 0]
    skew = np.abs(local_ts[stamped] * scale - exch_ts[stamped])
    far = stamped[skew > MAX_CLOCK_SKEW_NS]
    if far.size:
        if not skip_bad_lines:
            row = int(far[0])
            raise DataFormatError(
                f"exchange time {iso(int(exch_ts[row]))} and receive time "
                f"{iso(int(local_ts[row] * scale))} are {abs(int(local_ts[row] * scale) - int(exch_ts[row])) / 3.6e12:.1f} h "
                f"apart (more than {MAX_CLOCK_SKEW_NS / 3.6e12:g} h: a wrong unit or clock?); "
                f"line starts {text(row)!r}",
                path=path_s,
                line=row + 1,
            )
        summary.skipped["exchange and receive times disagree"] += int(far.size)
        rows = np.setdiff1d(rows, far)

    other = rows[kind[rows] == nb.MSG_OTHER]
    for row in other:
        stream = bytes(buf[sym_start[row] : line_end[row]]).split(b'"', 1)[0].decode()
        summary.skipped[f"unstored stream {stream.split('@', 1)[1]}"] += 1
    rows = rows[kind[rows] != nb.MSG_OTHER]
    summary.messages = int(rows.size)

    # Value checks: NaN, non-positive prices, negative sizes.
    def check_values(mask: np.ndarray, what: str) -> None:
        bad_rows = rows[mask[rows]] if mask.shape[0] == n_lines else mask
        if bad_rows.size:
            row = int(bad_rows[0])
            raise DataFormatError(f"{what}; line starts {text(row)!r}", path=path_s, line=row + 1)

    is_trade = kind == nb.MSG_TRADE
    is_bbo = kind == nb.MSG_BBO
    check_values(
        is_trade & ~((px_a > 0) & np.isfinite(px_a) & (qty_a > 0) & np.isfinite(qty_a)),
        "trade price and quantity must be positive and finite",
    )
    check_values(
        is_bbo
        & ~(
            (px_a > 0) & (px_b > 0) & (qty_a >= 0) & (qty_b >= 0)
            & np.isfinite(px_a + px_b + qty_a + qty_b)
        ),
        "best bid/ask prices must be positive and sizes non-negative",
    )  # fmt: skip
    lvl_bad = np.flatnonzero(
        ~((lvl_px > 0) & np.isfinite(lvl_px) & (lvl_qty >= 0) & np.isfinite(lvl_qty))
    )
    if lvl_bad.size:
        owners = np.searchsorted(lvl_start, lvl_bad[0], side="right") - 1
        while lvl_count[owners] == 0:
            owners -= 1
        check_values(np.array([owners]), "depth price must be positive and size non-negative")

    # Split by symbol.
    names: dict[int, str] = {}
    for h in np.unique(sym_hash[rows]):
        if h == 0:
            continue
        row = int(rows[np.argmax(sym_hash[rows] == h)])
        raw = bytes(buf[sym_start[row] : sym_end[row]]).decode()
        names[int(h)] = raw.upper()
    if 0 in set(sym_hash[rows].tolist()):
        # Spot REST snapshots carry no symbol: they belong to the file's only depth stream.
        depth_syms = {int(h) for h in sym_hash[rows[kind[rows] == nb.MSG_DEPTH]]}
        if len(depth_syms) != 1:
            row = int(rows[np.argmax(sym_hash[rows] == 0)])
            raise DataFormatError(
                f"a depth snapshot names no symbol and the file has {len(depth_syms)} depth "
                "streams; record one symbol per file",
                path=path_s,
                line=row + 1,
            )
        sym_hash = sym_hash.copy()
        sym_hash[rows[sym_hash[rows] == 0]] = depth_syms.pop()
    # Snapshots name 'BTCUSD_PERP' where streams say 'btcusd_perp': merge by name.
    by_name: dict[str, list[int]] = {}
    for h, name in names.items():
        by_name.setdefault(name, []).append(h)

    recordings: list[Recording] = []
    for name, hashes in sorted(by_name.items()):
        mine = rows[np.isin(sym_hash[rows], hashes)]
        hints = int(np.bitwise_or.reduce(hint[mine])) if mine.size else 0
        if market is not None:
            mkt: Market = normalize_market(market)
        elif hints & nb.HINT_COINM:
            mkt = "inverse"
        elif hints & nb.HINT_FUTURES:
            mkt = "linear"
        elif hints & nb.HINT_SPOT:
            mkt = "spot"
        else:
            raise DataFormatError(f"cannot tell the market of {name}; pass --market", path=path_s)
        unified = symbol if symbol is not None else binance_symbol(name, mkt)
        recordings.append(
            _build_recording(
                path_s, mkt, unified, mine, kind, local_ts * scale, exch_ts, id_a, id_b, id_c,
                px_a, qty_a, px_b, qty_b, side, lvl_start, lvl_count, lvl_side, lvl_px, lvl_qty,
            )
        )  # fmt: skip
    if symbol is not None and len(recordings) > 1:
        raise DataFormatError(
            f"--symbol given but the file holds {len(recordings)} symbols "
            f"({', '.join(sorted(by_name))})",
            path=path_s,
        )
    return recordings, summary


def _reparse_exact(
    buf: np.ndarray, rows: np.ndarray, kind: np.ndarray, err: np.ndarray, hint: np.ndarray,
    local_ts: np.ndarray,
    exch_ts: np.ndarray, id_a: np.ndarray, id_b: np.ndarray, id_c: np.ndarray, px_a: np.ndarray,
    qty_a: np.ndarray, px_b: np.ndarray, qty_b: np.ndarray, side: np.ndarray,
    lvl_start: np.ndarray, lvl_count: np.ndarray, n_levels: int,
) -> tuple[list[int], list[float], list[float]]:  # fmt: skip
    """Fill the rows the kernel flagged ``ERR_NUMBER`` using ``json`` (correctly rounded floats).

    Rare by construction (Binance sends plain decimals); returns level rows to append.
    """
    out_side: list[int] = []
    out_px: list[float] = []
    out_qty: list[float] = []
    text = buf.tobytes()
    starts = np.flatnonzero(buf == ord("\n")) + 1
    line_starts = np.concatenate([[0], starts])
    for row in rows:
        start = int(line_starts[row])
        end = text.find(b"\n", start)
        line = text[start : end if end >= 0 else len(text)]
        _, _, body = line.partition(b" ")
        try:
            obj = json.loads(body)
            data = obj.get("data", obj)
            k = int(kind[row])

            def levels(key: str, sign: int, payload: dict[str, Any] = data) -> None:
                for px, qty in payload[key]:
                    out_side.append(sign)
                    out_px.append(float(px))
                    out_qty.append(float(qty))

            begin = n_levels + len(out_side)
            if k == nb.MSG_TRADE:
                px_a[row], qty_a[row] = float(data["p"]), float(data["q"])
                id_a[row], exch_ts[row] = int(data["t"]), int(data["T"]) * 1_000_000
                side[row] = -1 if data["m"] is True else 1
                hint[row] |= nb.HINT_FUTURES if "X" in data else nb.HINT_SPOT if "M" in data else 0
            elif k == nb.MSG_BBO:
                px_a[row], qty_a[row] = float(data["b"]), float(data["B"])
                px_b[row], qty_b[row] = float(data["a"]), float(data["A"])
                hint[row] |= nb.HINT_FUTURES if "e" in data else nb.HINT_SPOT
            elif k == nb.MSG_DEPTH:
                hint[row] |= nb.HINT_FUTURES if "pu" in data else nb.HINT_SPOT
                levels("b", 1)
                levels("a", -1)
            elif k == nb.MSG_SNAPSHOT:
                levels("bids", 1)
                levels("asks", -1)
            else:
                continue
            if k in (nb.MSG_DEPTH, nb.MSG_SNAPSHOT):
                lvl_start[row] = begin
                lvl_count[row] = n_levels + len(out_side) - begin
        except (ValueError, KeyError, TypeError):
            continue  # stays an error and is reported with its line
        err[row] = nb.ERR_NONE
    return out_side, out_px, out_qty


def _exch(values: np.ndarray) -> np.ndarray:
    return np.where(values >= 0, values, NO_TS)


def _build_recording(
    path: str, market: Market, symbol: str, rows: np.ndarray, kind: np.ndarray,
    local_ts: np.ndarray, exch_ts: np.ndarray, id_a: np.ndarray, id_b: np.ndarray,
    id_c: np.ndarray, px_a: np.ndarray, qty_a: np.ndarray, px_b: np.ndarray, qty_b: np.ndarray,
    side: np.ndarray, lvl_start: np.ndarray, lvl_count: np.ndarray, lvl_side: np.ndarray,
    lvl_px: np.ndarray, lvl_qty: np.ndarray,
) -> Recording:  # fmt: skip
    t = rows[kind[rows] == nb.MSG_TRADE]
    trades = np.empty(t.size, trade_dt)
    trades["local_ts"] = local_ts[t]
    trades["exch_ts"] = _exch(exch_ts[t])
    trades["trade_id"] = id_a[t]
    trades["price"] = px_a[t]
    trades["qty"] = qty_a[t]
    trades["side"] = side[t]

    b = rows[kind[rows] == nb.MSG_BBO]
    bbo = np.empty(b.size, bbo_dt)
    bbo["local_ts"] = local_ts[b]
    bbo["exch_ts"] = _exch(exch_ts[b])
    bbo["update_id"] = id_a[b]
    bbo["bid_px"] = px_a[b]
    bbo["bid_qty"] = qty_a[b]
    bbo["ask_px"] = px_b[b]
    bbo["ask_qty"] = qty_b[b]

    d = rows[(kind[rows] == nb.MSG_DEPTH) | (kind[rows] == nb.MSG_SNAPSHOT)]
    counts = lvl_count[d]
    per_msg = np.maximum(counts, 1)  # an empty diff keeps one placeholder row (side 0)
    msg_of_row = np.repeat(d, per_msg)
    n = int(per_msg.sum())
    book = np.zeros(n, book_dt)
    book["local_ts"] = local_ts[msg_of_row]
    book["exch_ts"] = _exch(exch_ts[msg_of_row])
    book["first_id"] = id_a[msg_of_row]
    book["last_id"] = id_b[msg_of_row]
    book["prev_id"] = np.where(id_c[msg_of_row] >= 0, id_c[msg_of_row], NO_ID)
    book["flags"] = np.where(kind[msg_of_row] == nb.MSG_SNAPSHOT, FLAG_SNAPSHOT, 0)
    # Level rows: position of each row inside its message.
    offsets = np.arange(n) - np.repeat(np.cumsum(per_msg) - per_msg, per_msg)
    has_levels = np.repeat(counts > 0, per_msg)
    src = np.repeat(lvl_start[d], per_msg) + offsets
    src_ok = src[has_levels]
    book["side"][has_levels] = lvl_side[src_ok]
    book["price"][has_levels] = lvl_px[src_ok]
    book["qty"][has_levels] = lvl_qty[src_ok]
    all_ts = local_ts[rows]
    return Recording(
        path=path,
        exchange="binance",
        market=market,
        symbol=symbol,
        trades=trades,
        book=book,
        bbo=bbo,
        book_lines=msg_of_row + 1,
        first_local_ts=int(all_ts.min()),
        last_local_ts=int(all_ts.max()),
    )
