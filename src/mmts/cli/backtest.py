"""``mmts backtest``: run the experiment's experts over a period and write a run folder."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mmts.core.files import json_text
from mmts.core.performance import format_metric


def add_commands(commands: Any) -> None:
    """Register ``mmts backtest``."""
    bt = commands.add_parser(
        "backtest",
        help="replay a period through the runtime and write a run folder with a report",
        description="Replay [--start, --end] (default: the experiment's test segment, never "
        "seen in training) through features, experts, mixture, risk and the simulated venue.",
    )
    bt.add_argument("--experiment", help="experiment TOML (default: experiments/default.toml)")
    bt.add_argument("--store", help="store folder (default: the experiment's)")
    bt.add_argument("--start", help="ISO time (UTC)")
    bt.add_argument("--end", help="ISO time (UTC)")
    bt.add_argument("--out", help="folder for run folders (default: [backtest] out, 'runs')")
    bt.add_argument("--checkpoints", help="checkpoint folder (default: the experiment's)")
    bt.add_argument("--train-missing", action="store_true",
                    help="train the CNN/RL experts first when they have no checkpoint this "
                    "experiment can use (none, or one of another input layout or settings)")  # fmt: skip
    bt.add_argument("--engine", choices=["auto", "event", "fast"], default="auto",
                    help="fast: the experts' outputs in batches on every core first, then the "
                    "same event loop (same orders and fills); event: every expert at every "
                    "decision; auto (default): fast whenever the experts allow it")  # fmt: skip
    bt.add_argument("--workers", type=int, help="fast engine processes (default: one per core)")
    bt.add_argument("--no-progress", action="store_true", help="hide progress bars")
    bt.add_argument("--json", action="store_true", help='print {"run_dir": ..., "metrics": {...}}')
    bt.set_defaults(handler=_backtest)


def _backtest(args: argparse.Namespace) -> int:
    from mmts.backtest.config import load_trading
    from mmts.backtest.run import run_backtest
    from mmts.data import open_store
    from mmts.models.checkpoints import CheckpointStore
    from mmts.models.experiment import load_experiment
    from mmts.models.prepare import prepare

    exp = load_experiment(args.experiment)
    trading = load_trading(args.experiment)
    store = open_store(args.store or exp.store, must_exist=True)
    checkpoints = args.checkpoints or exp.checkpoints.dir
    if args.train_missing:
        from mmts.models.predictors import checkpoint_problem
        from mmts.models.registry import model_kind, training_order

        index = CheckpointStore(checkpoints, exp.checkpoints.keep)
        retrained: list[str] = []
        for name in training_order(trading.backtest.experts):
            kind = model_kind(name)
            # The RL agent reads the CNN's output: a new CNN needs a new agent.
            why = checkpoint_problem(index, name, exp)
            if why is None and any(up in retrained for up in kind.upstream):
                why = f"the {', '.join(kind.upstream)} it reads was retrained"
            if why is None or kind.train is None:
                continue
            print(f"training {name}: {why}", file=sys.stderr)
            summary = kind.train(store, exp, progress=not args.no_progress,
                                 checkpoint_dir=checkpoints)  # fmt: skip
            retrained.append(name)
            print(f"trained {name}: {summary['best']}")
    start, end = args.start, args.end
    if start is None or end is None:
        test = prepare(store, exp).ranges()["test"]
        start, end = start or test[0], end or test[1]
    result = run_backtest(store, exp, trading, start, end, out=args.out, checkpoint_dir=checkpoints,
                          progress=not args.no_progress, engine=args.engine, workers=args.workers)  # fmt: skip
    if result["engine_note"]:
        print(f"engine: event loop ({result['engine_note']})", file=sys.stderr)
    if args.json:
        print(
            json_text({k: result[k] for k in ("run_dir", "metrics", "engine", "timing", "seconds")})
        )
        return 0
    m, bh = result["metrics"], result["metrics"]["buy_and_hold"]
    print(
        f"run {result['run_dir']} ({result['seconds']} s, {result['engine']} engine, "
        f"{m['events']} events, {m['decisions']} decisions)"
    )
    print(f"{'':<14}{'return':>9}{'sharpe':>8}{'max_dd':>8}{'trades':>7}{'fees':>9}")
    for name, row in (("strategy", m), ("buy-and-hold", bh)):
        trades = f"{m['trades']:>7}{m['fees']:>9.2f}" if row is m else ""
        print(f"{name:<14}{format_metric(row['total_return'], '.4f'):>9}"
              f"{format_metric(row['sharpe'], '.2f'):>8}"
              f"{format_metric(row['max_drawdown'], '.4f'):>8}{trades}")  # fmt: skip
    print(f"report: {result['run_dir']}/report.html")
    return 0
