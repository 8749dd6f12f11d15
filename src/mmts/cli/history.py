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
    query.add_argument("--ledger", required=True, help="run folder, live --out folder or ledger/")
    query.add_argument("--model", help="one expert (or 'mixture': the decisions)")
    query.add_argument("--start", help="ISO time (UTC)")
    query.add_argument("--end", help="ISO time (UTC), exclusive")
    query.add_argument("--outcomes", action="store_true", help="join each prediction's outcome")
    query.add_argument("--limit", type=int, default=50, help="rows shown without --json (latest)")
    query.add_argument("--json", action="store_true", help="print every row as JSON")
    query.set_defaults(handler=_query)


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
