"""The ``mmts`` command line: argparse with lazy subcommand imports.

Each subcommand parses its arguments and calls one library function; heavy modules load only
when their subcommand runs, so ``mmts --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mmts import __version__
from mmts.core.files import json_text


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmts",
        description="Multi-modal crypto trading research: data, features, models, backtests.",
    )
    parser.add_argument("--version", action="version", version=f"mmts {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    data = commands.add_parser("data", help="import, inspect and download market data")
    data_cmds = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    imp = data_cmds.add_parser(
        "import",
        help="import files or folders (format detected from content)",
        description="Import Binance websocket recordings, freqtrade feather, CryptoDataDownload "
        "CSV and Binance public kline CSV/zip files into a store.",
    )
    imp.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    imp.add_argument("--store", default="data", help="store folder (default: data)")
    imp.add_argument("--exchange", help="ccxt exchange id where a file does not say")
    imp.add_argument("--market", help="spot, linear (usdm) or inverse (coinm)")
    imp.add_argument("--symbol", help="unified symbol (ETH/USDT) where a file does not say")
    imp.add_argument(
        "--skip-bad-lines", action="store_true", help="count malformed lines instead of failing"
    )
    imp.add_argument("--json", action="store_true", help="print the summary as JSON")
    imp.set_defaults(handler=_data_import)

    info = data_cmds.add_parser("info", help="list what a store holds")
    info.add_argument("--store", default="data", help="store folder (default: data)")
    info.add_argument("--json", action="store_true", help="print a JSON array")
    info.set_defaults(handler=_data_info)

    dl = data_cmds.add_parser(
        "download",
        help="download historical OHLCV through ccxt (resumes where it stopped)",
        description="Download closed OHLCV bars from Binance or MEXC into a store, page by page. "
        "Interrupted downloads resume at the first missing bar; 429/5xx/timeouts are retried.",
    )
    dl.add_argument("--exchange", required=True, choices=["binance", "mexc"])
    dl.add_argument("--symbol", required=True, help="unified symbol(s), comma-separated")
    dl.add_argument("--timeframe", default="1m", help="timeframe(s), comma-separated (default 1m)")
    dl.add_argument("--start", required=True, help="ISO time (UTC)")
    dl.add_argument("--end", help="ISO time (UTC), exclusive; default now")
    dl.add_argument("--store", default="data", help="store folder (default: data)")
    dl.add_argument("--api-url", help="base URL replacing the exchange's hosts (a local simulator)")
    dl.add_argument("--max-retries", type=int, default=5)
    dl.add_argument("--json", action="store_true", help="print the reports as JSON")
    dl.set_defaults(handler=_data_download)

    features = commands.add_parser("features", help="compute and store features")
    feature_cmds = features.add_subparsers(dest="features_command", metavar="ACTION", required=True)
    build = feature_cmds.add_parser(
        "build",
        help="compute COB rows and pivots and store them beside the data",
        description="Compute per-second COB features (symbols with order-book data) and "
        "Williams pivots (1m/1h/1d bars) and store them as features_* tables.",
    )
    build.add_argument("--store", default="data", help="store folder (default: data)")
    build.add_argument("--symbol", action="append", help="unified symbol (repeatable); default all")
    build.add_argument("--start", help="ISO time (UTC)")
    build.add_argument("--end", help="ISO time (UTC), exclusive")
    build.add_argument("--json", action="store_true", help="print the summary as JSON")
    build.set_defaults(handler=_features_build)

    from mmts.cli import backtest, config, history, live, models, serve, study

    config.add_commands(commands)
    models.add_commands(commands)
    backtest.add_commands(commands)
    live.add_commands(commands)
    history.add_commands(commands)
    serve.add_commands(commands)
    study.add_commands(commands)
    return parser


def _data_import(args: argparse.Namespace) -> int:
    from mmts.data import import_paths, open_store

    summary = import_paths(
        open_store(args.store),
        args.paths,
        exchange=args.exchange,
        market=args.market,
        symbol=args.symbol,
        skip_bad_lines=args.skip_bad_lines,
    )
    report = summary.to_json()
    conflicts = report["conflicts"]
    if args.json:
        print(json_text(report))
        return 1 if conflicts else 0
    for f in report["files"]:
        skipped = ", ".join(f"{k}: {v}" for k, v in f["skipped"].items())
        print(
            f"{f['path']}  [{f['format']}]  {f['records']} records"
            + (f"  skipped {skipped}" if skipped else "")
        )
    for w in report["written"]:
        print(
            f"  {w['exchange']} {w['symbol']:<16} {w['kind']:<8} read {w['rows_read']:>9}  new {w['rows_new']:>9}"
        )
    for inc in report["incidents"]:
        print(f"  ! {inc['symbol']} {inc['kind']} at {inc['path']}:{inc['line']} ({inc['time']})")
    for c in conflicts[:20]:
        print(f"  ! {c['path']}: {c['symbol']} {c['kind']} {c['time']}: stored {c['stored']}, "
              f"this file {c['new']} (kept the stored bar)", file=sys.stderr)  # fmt: skip
    if conflicts:
        more = " (the first 20 above; --json lists all)" if len(conflicts) > 20 else ""
        print(f"mmts: error: {len(conflicts)} bar(s) where two sources disagree were not imported"
              f"{more}; everything else was", file=sys.stderr)  # fmt: skip
        return 1
    return 0


def _data_info(args: argparse.Namespace) -> int:
    from mmts.data import open_store

    entries = open_store(args.store, must_exist=True).info()
    if args.json:
        print(json_text(entries))
        return 0
    if not entries:
        print(f"store {args.store} is empty")
    for e in entries:
        gaps = e["gaps"]
        note = f"  gaps: {len(gaps)}" if isinstance(gaps, list) and gaps else ""
        if e.get("derived_from"):
            note += f"  (derived from {e['derived_from']} on read)"
        print(
            f"{e['exchange']:<8} {e['market']:<7} {e['symbol']:<16} {e['kind']:<8} "
            f"{e['start']} .. {e['end']}  {e['rows']} rows{note}"
        )
    return 0


def _data_download(args: argparse.Namespace) -> int:
    from mmts.data import open_store
    from mmts.data.download import download_ohlcv

    store = open_store(args.store)
    reports = []
    for symbol in args.symbol.split(","):
        for timeframe in args.timeframe.split(","):
            report = download_ohlcv(
                store, args.exchange, symbol.strip(), timeframe.strip(), args.start, args.end,
                api_url=args.api_url, max_retries=args.max_retries, progress=not args.json,
            )  # fmt: skip
            reports.append(report.to_json())
            if not args.json:
                resumed = f" (resumed from {report.resumed_from})" if report.resumed_from else ""
                print(
                    f"{args.exchange} {symbol} {timeframe}: {report.bars_new} new bars in "
                    f"{report.requests} requests, {report.retries} retries{resumed}"
                )
    if args.json:
        print(json_text(reports))
    return 0


def _features_build(args: argparse.Namespace) -> int:
    from mmts.data import open_store
    from mmts.features.build import build_features

    summary = build_features(
        open_store(args.store, must_exist=True), args.symbol, args.start, args.end
    )
    if args.json:
        print(json_text(summary))
        return 0
    for entry in summary:
        extra = (
            f"  ({entry['invalid_rows']} rows without a valid book)"
            if "invalid_rows" in entry
            else ""
        )
        print(
            f"{entry['symbol']:<12} {entry['kind']:<20} {entry['rows']:>7} rows  {entry['start']} .. {entry['end']}{extra}"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    from mmts.core.errors import MmtsError

    try:
        return int(args.handler(args))
    except (MmtsError, FileNotFoundError, ValueError, KeyError) as e:
        print(f"mmts: error: {e}", file=sys.stderr)
        return 2
