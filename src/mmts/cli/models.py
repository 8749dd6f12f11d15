"""``mmts train``, ``mmts evaluate`` and ``mmts models``: the model commands."""

from __future__ import annotations

import argparse
from typing import Any

from mmts.core.files import json_text
from mmts.core.performance import format_metric


def add_commands(commands: Any) -> None:
    """Register the model commands on the top-level sub-parser collection."""
    train = commands.add_parser("train", help="train a model of the experiment")
    # Any trained kind of the registry; checked when the command runs (the registry imports
    # the feature code, too heavy for `mmts --help`).
    train.add_argument("model", help="cnn, rl (reads the active CNN's output), lstm, transformer, "
                       "or another registered trained kind")  # fmt: skip
    _experiment_args(train)
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    train.add_argument("--json", action="store_true", help="print the summary as JSON")
    train.set_defaults(handler=_train)

    ev = commands.add_parser(
        "evaluate",
        help="evaluate the active checkpoints beside baselines on a period",
        description="Accuracy, macro-F1, calibration and net trading result of every model with "
        "an active checkpoint, beside buy-and-hold, flat and a logistic regression, on "
        "[--start, --end) (default: the experiment's test segment).",
    )
    _experiment_args(ev)
    ev.add_argument("--start", help="ISO time (UTC)")
    ev.add_argument("--end", help="ISO time (UTC), exclusive")
    ev.add_argument("--json", action="store_true", help="print the report as JSON")
    ev.set_defaults(handler=_evaluate)

    models = commands.add_parser("models", help="list, promote and roll back checkpoints")
    actions = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list checkpoints, best first")
    _experiment_args(listing, store=False)
    listing.add_argument("--model", help="only this model")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=_models_list)
    promote = actions.add_parser("promote", help="make a checkpoint the active one")
    _experiment_args(promote, store=False)
    promote.add_argument("model")
    promote.add_argument("checkpoint", help="checkpoint id (see `mmts models list`)")
    promote.set_defaults(handler=_models_promote)
    rollback = actions.add_parser("rollback", help="re-activate the previously active checkpoint")
    _experiment_args(rollback, store=False)
    rollback.add_argument("model")
    rollback.set_defaults(handler=_models_rollback)


def _experiment_args(parser: argparse.ArgumentParser, *, store: bool = True) -> None:
    parser.add_argument("--experiment", help="experiment TOML (default: experiments/default.toml)")
    if store:
        parser.add_argument("--store", help="store folder (default: the experiment's)")
    parser.add_argument("--checkpoints", help="checkpoint folder (default: the experiment's)")


def _load(args: argparse.Namespace) -> Any:
    from mmts.models.experiment import load_experiment

    return load_experiment(args.experiment)


def _checkpoints(args: argparse.Namespace, exp: Any) -> Any:
    from mmts.models.checkpoints import CheckpointStore

    return CheckpointStore(args.checkpoints or exp.checkpoints.dir, exp.checkpoints.keep)


def _train(args: argparse.Namespace) -> int:
    from mmts.data import open_store
    from mmts.models.registry import model_kind, trained_types

    if args.model not in trained_types():
        raise ValueError(f"mmts train: {args.model!r} is not a trained model type; known: "
                         f"{', '.join(trained_types())}")  # fmt: skip
    trainer = model_kind(args.model).train
    if trainer is None:
        raise ValueError(f"model type {args.model!r} registered no train function")
    exp = _load(args)
    store = open_store(args.store or exp.store, must_exist=True)
    summary = trainer(store, exp, progress=not args.no_progress, checkpoint_dir=args.checkpoints)
    if summary.get("rank", 0) != 0:  # another DDP process under torchrun or SLURM: rank 0 reports
        return 0
    if args.json:
        print(json_text(summary))
    else:
        metric = "val_return" if "val_return" in summary else "val_loss"
        print(f"trained {summary['model']}: best {summary['best']} {metric} {summary[metric]:.4f} "
              f"({summary['samples']['train']} train samples, {summary['seconds']} s); "
              f"logs in {summary['logs']}")  # fmt: skip
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from mmts.data import open_store
    from mmts.models.evaluate import evaluate
    from mmts.models.predictors import load_active_models
    from mmts.models.prepare import prepare

    exp = _load(args)
    store = open_store(args.store or exp.store, must_exist=True)
    checkpoints = _checkpoints(args, exp)
    models, notes = load_active_models(checkpoints.root, exp.features, checkpoints.keep,
                                      experiment=exp)  # fmt: skip
    # The experiment's own data: its training segment fits the logistic baseline, and its test
    # segment is the default period; --store may hold other (say, later) data to evaluate on.
    train_store = open_store(exp.store, must_exist=True)
    start, end = args.start, args.end
    if start is None or end is None:
        ranges = prepare(train_store, exp).ranges()["test"]
        start = start or ranges[0]
        end = end or exp.data.end
    report = evaluate(store, exp, start, end, models, train_store=train_store)
    if notes:
        report.setdefault("warnings", []).extend(notes)
    if not models:
        report.setdefault("warnings", []).append("no trained model found: baselines only")
    if args.json:
        print(json_text(report))
        return 0
    print(f"period {report['period']['start']} .. {report['period']['end']}, "
          f"{report['period']['decisions']} decisions, labels {report['period']['label_counts']}")  # fmt: skip
    print(f"{'':<14}{'accuracy':>9}{'f1_macro':>9}{'net_return':>11}{'sharpe':>8}{'trades':>7}")
    for group in ("models", "baselines"):
        for name, m in report[group].items():
            print(f"{name:<14}{format_metric(m['accuracy'], '.3f'):>9}"
                  f"{format_metric(m['f1_macro'], '.3f'):>9}{m['net_return']:>11.4f}"
                  f"{format_metric(m['sharpe'], '.2f'):>8}{m['trades']:>7}")  # fmt: skip
    for warning in report.get("warnings", []):
        print(f"warning: {warning}")
    return 0


def _models_list(args: argparse.Namespace) -> int:
    exp = _load(args)
    entries = _checkpoints(args, exp).list(args.model)
    if args.json:
        keys = ("model", "id", "active", "metric_name", "metric", "epoch", "state_hash",
                "layout_version", "git_commit", "seed", "data", "metrics", "path")  # fmt: skip
        print(json_text([{k: e.get(k) for k in keys} for e in entries]))
        return 0
    if not entries:
        print("no checkpoints yet: run `mmts train cnn`")
    for e in entries:
        mark = "*" if e["active"] else " "
        print(f"{mark} {e['model']:<6} {e['id']:<36} {e['metric_name']} {e['metric']:.4f}  "
              f"layout {e.get('layout_version')}")  # fmt: skip
    return 0


def _models_promote(args: argparse.Namespace) -> int:
    exp = _load(args)
    entry = _checkpoints(args, exp).promote(args.model, args.checkpoint)
    print(f"{args.model}: active checkpoint is now {entry['id']}")
    return 0


def _models_rollback(args: argparse.Namespace) -> int:
    exp = _load(args)
    entry = _checkpoints(args, exp).rollback(args.model)
    print(f"{args.model}: rolled back to {entry['id']}")
    return 0
