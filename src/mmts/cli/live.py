"""``mmts live`` (paper by default) and ``mmts sim-exchange`` (a local Binance to rehearse on)."""

from __future__ import annotations

import argparse
import errno
import logging
import sys
import time
from pathlib import Path
from typing import Any

from mmts.core.errors import MmtsError
from mmts.core.files import json_text

#: Each exchange's public market-data websocket and REST base.
ENDPOINTS = {
    "binance": ("wss://stream.binance.com:9443", "https://api.binance.com"),
    "binanceusdm": ("wss://fstream.binance.com", "https://fapi.binance.com"),
    "mexc": ("wss://wbs-api.mexc.com/ws", "https://api.mexc.com"),
}


def add_commands(commands: Any) -> None:
    """Register ``mmts live`` and ``mmts sim-exchange``."""
    live = commands.add_parser(
        "live",
        help="trade the experiment live: paper (default) or, with --live, real money",
        description="Feed live market data through the backtest's runtime. Paper trading fills "
        "against the live book with the backtest's fill and fee model. Writes decisions.parquet, "
        "fills.parquet and state.json to --out; a restart on the same --out continues from it.",
    )
    live.add_argument("--experiment", help="experiment TOML (default: experiments/default.toml)")
    mode = live.add_mutually_exclusive_group()
    mode.add_argument("--paper", action="store_true", help="paper trading (the default)")
    mode.add_argument("--live", action="store_true",
                      help="real money: orders go to the exchange (keys from MMTS_BINANCE_API_KEY / "
                      "MMTS_BINANCE_API_SECRET)")  # fmt: skip
    live.add_argument("--yes", action="store_true", help="skip the --live confirmation prompt")
    _connection_args(live)
    live.add_argument("--out", help="session folder (default: live/<experiment name>)")
    live.add_argument("--checkpoints", help="checkpoint folder (default: the experiment's)")
    live.add_argument("--stale-after", type=float, default=10.0,
                      help="seconds without market data before the feed counts as stale")  # fmt: skip
    live.add_argument("--save-every", type=float, default=10.0,
                      help="seconds between saves of the tables and state (default 10)")  # fmt: skip
    live.add_argument("--verbose", action="store_true", help="log at INFO level")
    live.set_defaults(handler=_live)

    rec = commands.add_parser(
        "record",
        help="record live order-book, trade and best-bid/ask traffic in the importer's raw format",
        description="Write Binance's diff depth, trades and bookTicker frames as received, plus a "
        "REST depth snapshot after every (re)connect and id gap, to <out>/<symbol>_<YYYYMMDD>.gz "
        "(one message per line: '<receive time ns> <JSON>'). `mmts data import` reads them.",
    )
    rec.add_argument("--symbols", required=True, help="unified symbols, comma-separated")
    rec.add_argument("--out", required=True, help="folder for the daily files")
    _connection_args(rec)
    rec.set_defaults(handler=_record)

    sim = commands.add_parser(
        "sim-exchange",
        help="serve recorded Binance traffic on 127.0.0.1 (websocket + REST) to rehearse on",
        description="Replay raw Binance websocket recordings over a real websocket, in Binance's "
        "stream format, with the REST a live client needs (time, exchangeInfo, depth, klines) on "
        "the same port. Prints its URLs when ready; Ctrl-C stops it.",
    )
    sim.add_argument("--data", nargs="+", required=True, metavar="FILE",
                     help="recordings (<local ts> <JSON> lines, .gz or plain)")  # fmt: skip
    sim.add_argument("--store", help="store whose bars answer klines (default: ./data if present)")
    sim.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    sim.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    sim.add_argument("--speed", type=float, default=1.0, help="replay speed (0: unpaced)")
    sim.add_argument("--exchange", default="binance", choices=["binance", "mexc"],
                     help="serve the recordings in Binance's format or re-encoded as MEXC's")  # fmt: skip
    sim.add_argument("--exit-at-end", action="store_true", help="stop when the replay ends")
    sim.set_defaults(handler=_sim_exchange)


#: Exchanges whose accounts ``--live`` can trade (spot; futures positions are not supported).
LIVE_EXCHANGES = ("binance", "mexc")


def _connection_args(parser: Any) -> None:
    """Where to connect and for how long (``live`` and ``record``)."""
    parser.add_argument("--exchange", default="binance", choices=list(ENDPOINTS),
                        help="binance (spot), binanceusdm (USD-M futures) or mexc (spot)")  # fmt: skip
    parser.add_argument("--ws-url", help="websocket base (default: the exchange's)")
    parser.add_argument("--rest-url", help="REST base (default: the exchange's)")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")


def _urls(args: argparse.Namespace) -> tuple[str, str]:
    ws_url, rest_url = ENDPOINTS[args.exchange]
    return args.ws_url or ws_url, args.rest_url or rest_url


def _live(args: argparse.Namespace) -> int:
    import asyncio

    if args.live and args.exchange not in LIVE_EXCHANGES:
        raise MmtsError(
            f"--live trades spot accounts only ({', '.join(LIVE_EXCHANGES)}): {args.exchange} "
            "futures positions are not supported yet; run it as --paper"
        )

    from mmts.live.session import LiveConfig, LiveSession
    from mmts.models.experiment import load_experiment
    from mmts.runtime.config import load_trading

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)  # fmt: skip
    exp = load_experiment(args.experiment)
    trading = load_trading(args.experiment)
    if args.live and not args.yes:
        answer = input(
            f"Trade REAL MONEY on {args.exchange} with experiment {exp.name!r}? Type 'yes': "
        )
        if answer.strip().lower() != "yes":
            print("not confirmed; nothing was traded", file=sys.stderr)
            return 1
    out = Path(args.out) if args.out else Path("live") / exp.name
    ws_url, rest_url = _urls(args)
    cfg = LiveConfig(out=out, exchange=args.exchange, ws_url=ws_url, rest_url=rest_url,
                     paper=not args.live, duration_s=args.duration, stale_after_s=args.stale_after,
                     save_every_s=args.save_every)  # fmt: skip
    session = LiveSession(exp, trading, cfg, checkpoint_dir=args.checkpoints)
    summary = asyncio.run(session.run())
    print(json_text(summary))
    if summary["error"]:
        print(f"mmts: error: the session stopped: {summary['error']}", file=sys.stderr)
        return 1
    return 0


def _record(args: argparse.Namespace) -> int:
    import asyncio

    from mmts.live.feed import FeedConfig
    from mmts.live.market import exchange_name
    from mmts.live.recorder import record

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    if args.exchange == "mexc":
        print("mmts record writes Binance's raw format: --exchange mexc is not supported", file=sys.stderr)  # fmt: skip
        return 2
    symbols = tuple(exchange_name(s) for s in args.symbols.split(",") if s.strip())
    ws_url, rest_url = _urls(args)
    cfg = FeedConfig(exchange=args.exchange, ws_url=ws_url, rest_url=rest_url, depth=symbols, trades=symbols,
                     book_ticker=symbols, snapshot_limit=1000)  # fmt: skip
    print(f"recording {', '.join(symbols)} to {args.out}; Ctrl-C stops", file=sys.stderr)
    summary = asyncio.run(record(cfg, Path(args.out), duration_s=args.duration))
    print(json_text(summary))
    return 0


def _sim_exchange(args: argparse.Namespace) -> int:
    from mmts.data import open_store
    from mmts.testing.sim_exchange import SimExchange

    store_path = args.store or ("data" if Path("data").is_dir() else None)
    store = open_store(store_path, must_exist=True) if store_path else None
    sim = SimExchange(
        args.data,
        store=store,
        host=args.host,
        port=args.port,
        speed=args.speed,
        exchange=args.exchange,
    )
    try:
        sim.start()
    except RuntimeError as e:
        if isinstance(e.__cause__, OSError) and e.__cause__.errno == errno.EADDRINUSE:
            raise MmtsError(
                f"port {args.port} on {args.host} is already in use (another simulator?); "
                "choose another with --port"
            ) from e
        raise
    first, last = sim.recorded.stamps[0], sim.recorded.stamps[-1]
    print(f"rest: {sim.url}\nws:   {sim.ws_url}\n"
          f"replaying {len(sim.recorded)} frames of {', '.join(sim.symbols)} "
          f"({(last - first) / 1e9:.0f} s recorded) at speed {args.speed:g}; "
          f"klines from {store_path or 'nowhere'}; Ctrl-C stops", flush=True)  # fmt: skip
    try:
        while not (args.exit_at_end and sim.finished.is_set()):
            if sim.error is not None:
                raise RuntimeError(f"the simulator stopped: {sim.error}")
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0
