"""Rebuild the bundled sample store in data/ from the shared real recordings.

Run through ``nox -s sample`` (or directly: ``python scripts/build_sample.py --shared ../shared/data
--out data``). Everything goes through mmts' own importer, so the sample is exactly what a user
gets by importing the same files.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from mmts.data import import_paths, open_store

#: Files imported, relative to the shared data folder.
SOURCES = [
    "binance-ws/spot/btcusdt_20240808.gz",
    "binance-ws/spot/btcusdt_20240809.gz",
    "binance-ws/spot/ethusdt_20240808.gz",
    "binance-ws/spot/ethusdt_20240809.gz",
    "klines/binance-spot/1m-2024-07/BTC_USDT-1m.feather",
    "klines/binance-spot/1m-2024-07/ETH_USDT-1m.feather",
    "klines/binance-spot/5m-1h-2024/BTC_USDT-1h.feather",
    "klines/binance-spot/5m-1h-2024/ETH_USDT-1h.feather",
    "klines/binance-spot/1d/Binance_BTCUSDT_d.csv",
    "klines/binance-spot/1d/Binance_ETHUSDT_d.csv",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--out", type=Path, default=Path("data"))
    args = parser.parse_args()
    missing = [s for s in SOURCES if not (args.shared / s).exists()]
    if missing:
        raise SystemExit(f"missing source files under {args.shared}: {missing}")
    # Replace the store's series, keep README.md.
    for child in args.out.glob("*"):
        if child.is_dir():
            shutil.rmtree(child)
    store = open_store(args.out)
    summary = import_paths(store, [args.shared / s for s in SOURCES])
    for w in summary.to_json()["written"]:
        print(f"{w['exchange']} {w['symbol']:<10} {w['kind']:<8} {w['rows_new']:>8} rows")
    (args.out / ".lock").unlink(missing_ok=True)
    size = sum(p.stat().st_size for p in args.out.rglob("*.parquet"))
    print(f"sample: {size / 1e6:.1f} MB in {args.out}")


if __name__ == "__main__":
    main()
