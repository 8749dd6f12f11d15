"""Print line and branch coverage per mmts package from coverage.py's JSON report.

``nox -s coverage`` runs it after the suite: ``python scripts/coverage_by_package.py coverage.json``.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path


def by_package(report: dict) -> dict[str, dict[str, int]]:
    """Sum statements, covered lines, branches and covered branches per ``mmts.<package>``."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for name, entry in report["files"].items():
        parts = Path(name).parts
        inner = parts[parts.index("mmts") + 1 :] if "mmts" in parts else parts
        package = inner[0].removesuffix(".py") if len(inner) > 1 else "(top level)"
        summary = entry["summary"]
        row = totals[package]
        row["statements"] += summary["num_statements"]
        row["covered"] += summary["covered_lines"]
        row["branches"] += summary.get("num_branches", 0)
        row["covered_branches"] += summary.get("covered_branches", 0)
    return {k: dict(v) for k, v in sorted(totals.items())}


def main(path: str) -> int:
    report = json.loads(Path(path).read_text())
    rows = by_package(report)
    print(f"{'package':<14}{'lines':>8}{'line %':>9}{'branches':>10}{'branch %':>10}")
    for package, r in [*rows.items(), ("total", {k: sum(v[k] for v in rows.values())
                                                  for k in ("statements", "covered", "branches",
                                                            "covered_branches")})]:  # fmt: skip
        line = 100 * r["covered"] / r["statements"] if r["statements"] else 100.0
        branch = 100 * r["covered_branches"] / r["branches"] if r["branches"] else 100.0
        flag = "  < 80 %" if package != "total" and min(line, branch) < 80 else ""
        print(
            f"{package:<14}{r['statements']:>8}{line:>8.1f}%{r['branches']:>10}{branch:>9.1f}%{flag}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "coverage.json"))
