"""``mmts study``: a walk-forward study of an experiment over all stored history."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mmts.core.files import json_text
from mmts.study.executors import ENGINES


def add_commands(commands: Any) -> None:
    """Register ``mmts study``."""
    study = commands.add_parser(
        "study",
        help="walk-forward study over all stored history: every fold trained and tested",
        description="Cut the store's history into walk-forward folds ([study] table), train "
        "every expert of the experiment on each fold's training segment, select on its "
        "validation segment, and test the experts, the mixture and the baselines (flat, "
        "buy-and-hold, logistic regression) on its test segment, net of costs. Writes "
        "folds.parquet, summary.json and report.html; a rerun skips finished folds.",
    )
    study.add_argument("--folds", type=int, help="number of folds (default: [study] folds)")
    _add_run_arguments(study, "studies")
    study.add_argument("--json", action="store_true", help='print {"study_dir", "summary"}')
    study.set_defaults(handler=_study)

    sweep = commands.add_parser(
        "sweep",
        help="many walk-forward studies: a grid or Optuna search over experiment keys",
        description="Run one walk-forward study (as `mmts study`) per trial, each with the "
        "trial's values of the space file's [space] keys set in the experiment; the objective is "
        "[sweep] metric of [sweep] model, averaged over the trial's folds. Writes trials.parquet "
        "(one row per trial and model: parameters, aggregate and per-fold metrics), sweep.json "
        "and report.html; a rerun resumes, skipping every finished fold.",
    )
    sweep.add_argument("--space", required=True, help="space file: [sweep] and [space] tables")
    sweep.add_argument("--trials", type=int, help="trials to run (default: [sweep] trials)")
    _add_run_arguments(sweep, "sweeps")
    sweep.add_argument("--json", action="store_true", help='print {"sweep_dir", "best"}')
    sweep.set_defaults(handler=_sweep)


def _add_run_arguments(parser: argparse.ArgumentParser, out: str) -> None:
    """Add the arguments a study and a sweep share: what, on which data, where, on what engine."""
    parser.add_argument("--experiment", help="experiment TOML (default: experiments/default.toml)")
    parser.add_argument("--store", help="store folder (default: the experiment's)")
    parser.add_argument("--engine", choices=ENGINES, default="serial",
                        help="run folds one by one, in a pool of processes, or on Ray")  # fmt: skip
    parser.add_argument("--workers", type=int, help="parallel folds (default: one per core)")
    parser.add_argument("--ray-address", help="a running Ray cluster (with --engine ray)")
    parser.add_argument("--out", default=out, help=f"parent of the result folder ({out})")


def _study(args: argparse.Namespace) -> int:
    from mmts.study.run import run_study

    if args.folds is not None and args.folds < 1:
        raise ValueError(f"--folds: expected at least 1, got {args.folds}")
    result = run_study(args.experiment, store=args.store, folds=args.folds, engine=args.engine,
                       workers=args.workers, ray_address=args.ray_address, out=args.out,
                       progress=not args.json)  # fmt: skip
    summary = result["summary"]
    if args.json:
        print(json_text(result))
    else:
        print(f"study: {summary['finished']} of {summary['folds']} folds finished; "
              f"{result['study_dir']}/report.html")  # fmt: skip
        for line in summary["answer"]:
            print(f"  {line}")
        for failed in summary["failed"]:
            print(f"  fold {failed['fold']} failed: {failed['error']}", file=sys.stderr)
    return 1 if summary["failed"] else 0


def _sweep(args: argparse.Namespace) -> int:
    from mmts.study.sweep import run_sweep

    if args.trials is not None and args.trials < 1:
        raise ValueError(f"--trials: expected at least 1, got {args.trials}")
    result = run_sweep(args.experiment, args.space, store=args.store, trials=args.trials,
                       engine=args.engine, workers=args.workers, ray_address=args.ray_address,
                       out=args.out, progress=not args.json)  # fmt: skip
    best = result["best"]
    if args.json:
        print(json_text(result))
    elif best is None:
        print(f"sweep: no trial finished; {result['sweep_dir']}/report.html", file=sys.stderr)
    else:
        print(f"sweep: best trial {best['trial']} {json_text(best['parameters'], indent=None)}: "
              f"{best['metric']} of {best['model']} = {best['objective']:.6g}; "
              f"{result['sweep_dir']}/report.html")  # fmt: skip
    failed = json.loads((Path(result["sweep_dir"]) / "sweep.json").read_text())["failed"]
    for trial in failed:
        print(f"  trial {trial['trial']} failed: {trial['error']}", file=sys.stderr)
    return 0 if best is not None and not failed else 1
