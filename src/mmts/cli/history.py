"""``mmts history`` and ``mmts monitor``: query, archive and restore a ledger; its health."""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

from mmts.core.files import json_text


def add_commands(commands: Any) -> None:
    """Register the ledger commands on the top-level sub-parser collection."""
    history = commands.add_parser("history", help="query, archive and restore an inference ledger")
    actions = history.add_subparsers(dest="history_command", metavar="ACTION", required=True)
    query = actions.add_parser(
        "query",
        help="list predictions (and their outcomes)",
        description="Print the predictions of a ledger: a run folder, a live --out folder or a "
        "ledger/ folder; read while a session writes it.",
    )
    _ledger_arg(query)
    query.add_argument("--model", help="one expert (or 'mixture': the decisions)")
    query.add_argument("--start", help="ISO time (UTC)")
    query.add_argument("--end", help="ISO time (UTC), exclusive")
    query.add_argument("--outcomes", action="store_true", help="join each prediction's outcome")
    query.add_argument("--limit", type=int, default=50, help="rows shown without --json (latest)")
    query.add_argument("--json", action="store_true", help="print every row as JSON")
    query.set_defaults(handler=_query)

    arch = actions.add_parser(
        "archive",
        help="move rows older than a time into compressed day archives",
        description="Move every row older than --before out of the ledger into one zip per UTC "
        "day (a ledger table per Parquet file inside); frames stay while an input needs them.",
    )
    _ledger_arg(arch)
    arch.add_argument("--before", required=True, help="ISO time (UTC): rows before it go")
    arch.add_argument("--archive-dir", help="where the archives go (default: <ledger>/archive)")
    arch.add_argument("--json", action="store_true", help="print the report as JSON")
    arch.set_defaults(handler=_archive)

    rest = actions.add_parser("restore", help="put an archive's rows back into the ledger")
    _ledger_arg(rest)
    rest.add_argument("--archive", required=True, help="an archive file (YYYY-MM-DD.zip)")
    rest.add_argument("--json", action="store_true", help="print the rows restored as JSON")
    rest.set_defaults(handler=_restore)

    monitor = commands.add_parser(
        "monitor",
        help="a ledger's health: rolling model scores, open alerts, data flow, learning",
    )
    _ledger_arg(monitor)
    monitor.add_argument("--window", type=int, default=200, help="judged predictions per score")
    monitor.add_argument("--json", action="store_true", help="print the health as JSON")
    monitor.set_defaults(handler=_monitor)


def _ledger_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ledger", required=True, help="run folder, live --out folder or ledger/")


def _archive(args: argparse.Namespace) -> int:
    from mmts.history.retention import archive

    report = archive(args.ledger, args.before, archive_dir=args.archive_dir)
    if args.json:
        print(json_text({"files": report.files, "rows": report.rows}))
        return 0
    moved = ", ".join(f"{n} {k}" for k, n in report.rows.items() if n) or "nothing"
    print(f"archived {moved} into {len(report.files)} file(s)")
    for path in report.files:
        print(f"  {path}")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from mmts.history.retention import restore

    rows = restore(args.ledger, args.archive)
    if args.json:
        print(json_text(rows))
        return 0
    print("restored " + (", ".join(f"{n} {k}" for k, n in rows.items() if n) or "nothing"))
    return 0


def _monitor(args: argparse.Namespace) -> int:
    from mmts.history import open_ledger
    from mmts.history.monitor import ledger_health

    health = ledger_health(open_ledger(args.ledger), args.window)
    if args.json:
        print(json_text(health, default=_json_value))
        return 0
    flow = health["data_flow"]
    print(f"{health['ledger']}: {flow['decisions']} decisions, last {flow['last_decision']}, "
          f"{flow['ledger_bytes'] / 1e6:.1f} MB, {flow['write_errors']} write errors")  # fmt: skip
    for name, m in health["models"].items():
        print(f"  {name:<18} {m['version']:<28} accuracy {m['accuracy']:6.1%}  brier {m['brier']:.3f}  "
              f"confidence {m['confidence']:6.1%}  follow {m['follow_return_bps']:+7.2f} bps  "
              f"({m['outcomes']} outcomes)")  # fmt: skip
    print(f"open alerts: {len(health['open_alerts'])} (of {health['alerts_total']} rows)")
    for a in health["open_alerts"]:
        print(f"  {a['time']} {a['severity']:<8} {a['kind']}/{a['subject']}: {a['reason']}")
    for e in health["learning"]:
        print(f"  learning {e['time']} {e['model']} {e['event']} {e['from']} -> {e['to']}")
    return 0


def _query(args: argparse.Namespace) -> int:
    from mmts.history import open_ledger

    ledger = open_ledger(args.ledger)
    clock = time.perf_counter()
    rows = ledger.predictions(model=args.model, start=args.start, end=args.end,
                              with_outcomes=args.outcomes)  # fmt: skip
    seconds = time.perf_counter() - clock
    shown = rows.drop(columns=["hidden", "q_values"], errors="ignore")
    if args.json:
        for column in ("time", "resolved_at"):
            if column in shown:
                shown[column] = [_iso(t) for t in shown[column]]
        records = [{k: _json_value(v) for k, v in r.items()} for r in shown.to_dict("records")]
        print(json_text({"ledger": str(ledger.folder), "rows": len(rows), "query_s": round(seconds, 4),
                         "predictions": records}))  # fmt: skip
        return 0
    columns = [
        "time",
        "model",
        "version",
        "role",
        "action",
        "p_sell",
        "p_hold",
        "p_buy",
        "confidence",
    ]
    if args.outcomes:
        columns += ["outcome", "realized_return", "correct"]
    tail = shown[columns].tail(args.limit)
    print(tail.to_string(index=False) if len(tail) else "(no predictions)")
    print(f"{len(rows)} predictions in {ledger.folder} ({seconds * 1000:.0f} ms)"
          + (f"; the latest {len(tail)} shown" if len(rows) > len(tail) else ""))  # fmt: skip
    return 0


def _iso(t: Any) -> str | None:
    import pandas as pd

    return None if t is None or t is pd.NaT else str(t.isoformat())


def _json_value(value: Any) -> Any:
    """Return ``value`` as strict JSON wants it (NaN and pandas' missing values as None)."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value
