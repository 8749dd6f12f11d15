"""Raw-recording import throughput (messages/s, one core) against a plain json.loads + pandas import.

Both sides read the same gzip recordings and produce the same columns (checked before timing):
trades, best bid/ask and depth level rows. Two levels are timed:

- parse: file -> columns in memory;
- import: file -> columns -> Parquet store on disk (mmts: the full importer, with book sync check
  and 1 s bars; reference: one zstd Parquet file per kind with ``DataFrame.to_parquet``).
"""

from __future__ import annotations

import gzip
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mmts.data import import_paths, open_store
from mmts.data.binance_ws import read_recording


def reference_parse(path: Path) -> dict[str, pd.DataFrame]:
    """The straightforward version: json.loads per line, Python lists, pandas frames."""
    trades, bbo, book = [], [], []
    scale = None
    with gzip.open(path, "rt") as handle:
        for line in handle:
            ts_text, _, body = line.partition(" ")
            ts = int(ts_text)
            if scale is None:
                scale = 1 if len(ts_text) >= 18 else 1000
            ts *= scale
            msg = json.loads(body)
            stream = msg.get("stream")
            if stream is None:  # REST snapshot
                lid = msg["lastUpdateId"]
                book.extend((ts, lid, 1, float(p), float(q)) for p, q in msg["bids"])
                book.extend((ts, lid, -1, float(p), float(q)) for p, q in msg["asks"])
                continue
            data = msg["data"]
            kind = stream.split("@", 1)[1]
            if kind == "trade":
                trades.append((ts, data["T"] * 10**6, data["t"], float(data["p"]), float(data["q"]),
                               -1 if data["m"] else 1))  # fmt: skip
            elif kind == "bookTicker":
                bbo.append((ts, data["u"], float(data["b"]), float(data["B"]), float(data["a"]),
                            float(data["A"])))  # fmt: skip
            elif kind.startswith("depth"):
                u = data["u"]
                book.extend((ts, u, 1, float(p), float(q)) for p, q in data["b"])
                book.extend((ts, u, -1, float(p), float(q)) for p, q in data["a"])
    return {
        "trades": pd.DataFrame(
            trades, columns=["local_ts", "exch_ts", "trade_id", "price", "qty", "side"]
        ),
        "bbo": pd.DataFrame(
            bbo, columns=["local_ts", "update_id", "bid_px", "bid_qty", "ask_px", "ask_qty"]
        ),
        "book": pd.DataFrame(book, columns=["local_ts", "last_id", "side", "price", "qty"]),
    }


def _messages(path: Path) -> int:
    with gzip.open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def _check_parity(path: Path) -> None:
    ref = reference_parse(path)
    (rec,), _ = read_recording(path)
    for kind, cols in [("trades", ["local_ts", "exch_ts", "trade_id", "price", "qty", "side"]),
                       ("bbo", ["local_ts", "update_id", "bid_px", "bid_qty", "ask_px", "ask_qty"])]:  # fmt: skip
        ours = getattr(rec, kind)
        for col in cols:
            assert np.array_equal(ours[col], ref[kind][col].to_numpy()), (path, kind, col)
    book = rec.book
    # The reference has no rows for empty diffs; mmts keeps a placeholder (side 0).
    book = book[book["side"] != 0]
    for col in ["local_ts", "last_id", "side", "price", "qty"]:
        assert np.array_equal(book[col], ref["book"][col].to_numpy()), (path, "book", col)


def _best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run(shared: Path, repeat: int = 3) -> list[dict[str, object]]:
    """Time both importers on the spot recordings; return result rows."""
    files = sorted((shared / "binance-ws" / "spot").glob("*.gz"))
    n = sum(_messages(f) for f in files)
    for f in files:
        _check_parity(f)
        read_recording(f)  # warm numba's cache

    def ours_parse() -> None:
        for f in files:
            read_recording(f)

    def ref_parse() -> None:
        for f in files:
            reference_parse(f)

    def ours_import() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            import_paths(open_store(tmp), files)

    def ref_import() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            for i, f in enumerate(files):
                for kind, frame in reference_parse(f).items():
                    frame.to_parquet(Path(tmp) / f"{kind}_{i}.parquet", compression="zstd")

    rows = []
    for name, ours, ref in [
        ("parse", ours_parse, ref_parse),
        ("import to store", ours_import, ref_import),
    ]:
        t_ours = _best_of(ours, repeat)
        t_ref = _best_of(ref, max(1, repeat - 1))
        rows.append({
            "benchmark": f"recording {name} ({n:,} msgs, 4 spot files)",
            "mmts": f"{n / t_ours:,.0f} msg/s",
            "reference": f"{n / t_ref:,.0f} msg/s",
            "speedup": f"{t_ref / t_ours:.1f}x",
        })  # fmt: skip
    return rows
