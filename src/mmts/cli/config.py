"""``mmts config``: what every experiment key means, and what a given experiment resolves to."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any


def add_commands(commands: Any) -> None:
    """Register ``mmts config reference|show``."""
    cfg = commands.add_parser(
        "config",
        help="the experiment file's tables and keys; what an experiment resolves to",
        description="Every experiment table and key with its type, default and allowed range "
        "(reference), or one experiment with every default filled in and checked (show). "
        "Unknown tables or keys, wrong types and values out of range are errors.",
    )
    actions = cfg.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    ref = actions.add_parser("reference", help="print every table and key (Markdown)")
    ref.set_defaults(handler=_reference)
    show = actions.add_parser("show", help="print an experiment with every default filled in")
    show.add_argument("--experiment", help="experiment TOML (default: experiments/default.toml)")
    show.set_defaults(handler=_show)


def _reference(args: argparse.Namespace) -> int:
    from mmts.runtime.config import reference_markdown

    print(reference_markdown())
    return 0


def _show(args: argparse.Namespace) -> int:
    from mmts.core.settings import toml_value
    from mmts.models.experiment import load_experiment, load_study
    from mmts.runtime.config import load_trading, settings_tables

    exp, trading = load_experiment(args.experiment), load_trading(args.experiment)
    sources = {"experiment": exp, **{f.name: getattr(trading, f.name)
                                     for f in dataclasses.fields(trading)},
               "study": load_study(args.experiment)}  # fmt: skip
    for table, cls in settings_tables().items():
        obj = sources.get(table, getattr(exp, table, None))
        print(f"[{table}]")
        for f in dataclasses.fields(cls):
            value = getattr(obj, f.name)
            if value is None:
                print(f"# {f.name}: not set")
            else:
                print(f"{f.name} = {toml_value(value)}")
        if table == "costs":
            print(f"# in force: maker {exp.costs.maker:g}, taker {exp.costs.taker:g}")
        print()
    return 0
