"""The one way benchmarks print their rows: a plain-text table, one column per key."""

from __future__ import annotations


def print_table(rows: list[dict[str, object]]) -> None:
    """Print ``rows`` (dicts with the same keys) as aligned columns under a header."""
    widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in rows[0]}
    print(" | ".join(k.ljust(w) for k, w in widths.items()))
    print("-|-".join("-" * w for w in widths.values()))
    for r in rows:
        print(" | ".join(str(r[k]).ljust(w) for k, w in widths.items()))
