"""Print a short summary of a store: per symbol, what each timeframe covers and the last prices."""

from __future__ import annotations

import argparse

from mmts.data import open_store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", default="data")
    args = parser.parse_args()
    store = open_store(args.store)
    entries = store.info()
    if not entries:
        raise SystemExit(f"store {args.store} is empty: run `nox -s sample` or `mmts data import`")
    for symbol in sorted({str(e["symbol"]) for e in entries}):
        print(f"\n{symbol}")
        for tf in ("1s", "1m", "1h", "1d"):
            try:
                bars = store.bars(symbol, tf)
            except KeyError:
                continue
            ret = bars["close"].iloc[-1] / bars["close"].iloc[0] - 1
            print(
                f"  {tf:>3}: {len(bars):>6} bars  {bars.index[0]} .. {bars.index[-1]}  "
                f"close {bars['close'].iloc[-1]:.2f}  return {ret:+.2%}"
            )
        book = [e for e in entries if e["symbol"] == symbol and e["kind"] == "book"]
        if book:
            bids, asks = store.book(symbol, book[0]["end"], depth=5)
            mid = (bids["price"].iloc[0] + asks["price"].iloc[0]) / 2
            print(
                f"  book at {book[0]['end']}: mid {mid:.2f}, spread {asks['price'].iloc[0] - bids['price'].iloc[0]:.2f}"
            )


if __name__ == "__main__":
    main()
