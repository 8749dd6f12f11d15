"""``mmts study``: a walk-forward study of an experiment over all stored history."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mmts.core.files import json_text


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
    study.add_argument("--experiment", help="experiment TOML (default: experiments/default.toml)")
    study.add_argument("--store", help="store folder (default: the experiment's)")
    study.add_argument("--folds", type=int, help="number of folds (default: [study] folds)")
    study.add_argument("--engine", choices=["serial", "process", "ray"], default="serial",
                       help="run folds one by one, in a pool of processes, or on Ray")  # fmt: skip
    study.add_argument("--workers", type=int, help="parallel folds (default: one per core)")
    study.add_argument("--ray-address", help="a running Ray cluster (with --engine ray)")
    study.add_argument("--out", default="studies", help="parent of the study folder (studies)")
    study.add_argument("--json", action="store_true", help='print {"study_dir", "summary"}')
    study.set_defaults(handler=_study)


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
