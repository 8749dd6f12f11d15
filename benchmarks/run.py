"""Run every benchmark on one core and print a table: ``nox -s bench`` (or ``python benchmarks/run.py``).

Each benchmark checks that mmts and its plain reference produce the same result before timing,
and reports both from the same run. Numbers are never asserted in the test suite.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_backtest
import bench_backtest_cli
import bench_cob
import bench_import
import bench_ledger
import bench_live
import bench_model_input
import bench_models
import bench_online
import bench_scale
import bench_signals
from table import print_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path,
                        default=Path(os.environ.get("MMTS_SHARED_DATA", HERE.parent.parent / "shared" / "data")))  # fmt: skip
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="skip the synthetic-day scale run")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    import pyarrow as pa

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    rows = bench_import.run(args.shared, args.repeat)
    rows += bench_cob.run(HERE.parent / "data", args.repeat)
    rows += bench_model_input.run(HERE.parent / "data")
    rows += bench_models.run(HERE.parent)
    rows += bench_signals.run()
    rows += bench_backtest.run(HERE.parent)
    rows += bench_backtest_cli.run(args.shared)
    rows += bench_live.run(HERE.parent, args.shared, 30.0 if args.quick else 90.0)
    rows += bench_ledger.run(HERE.parent)
    rows += bench_online.run(HERE.parent, args.shared, 30.0 if args.quick else 60.0)
    if not args.quick:
        rows += bench_scale.run()
    print(
        f"# mmts benchmarks — {platform.processor() or platform.machine()}, Python {platform.python_version()}, 1 core"
    )
    print_table(rows)


if __name__ == "__main__":
    main()
