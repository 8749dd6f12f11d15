"""Scale: a synthetic day of one symbol's depth at 100 ms (~17 M level updates).

Reports events/s of book sync + COB in one pass (one core) and memory for that day, per symbol (BTC- and
ETH-like prices) in a fresh subprocess: the day's depth rows as a replay reads them (the
replay's fields only, ``core.schema.REPLAY_FIELDS``), the extra
memory the batch pipeline allocates on top of them at its peak (numpy allocations traced with
tracemalloc), and the process's peak RSS (which also counts generating the synthetic day).
Synthetic data: for scale only.
"""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = r"""
import gc, json, resource, sys, time, tracemalloc
from mmts.features.cob import cob_from_rows, whole_seconds
from mmts.testing.synthetic import day_of_depth
mid, width = float(sys.argv[1]), float(sys.argv[2])
import numpy as np
from mmts.core.schema import REPLAY_FIELDS
full = day_of_depth(seed=1, mid=mid)
# As the product reads a stored day for a replay (Store.book_events(fields=REPLAY_FIELDS)).
rows = np.empty(full.shape[0], [(n, full.dtype.fields[n][0]) for n in REPLAY_FIELDS])
for name in REPLAY_FIELDS:
    rows[name] = full[name]
del full
times = whole_seconds(int(rows["local_ts"].min()), int(rows["local_ts"].max()))
gc.collect()
tracemalloc.start()
t0 = time.perf_counter()
_bid, _ask, mid_px, _imb, _ma = cob_from_rows(rows, times, width)
elapsed = time.perf_counter() - t0
extra_mb = tracemalloc.get_traced_memory()[1] / 2**20
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"events": int(rows.shape[0]), "seconds": elapsed, "peak_mb": peak_mb,
                  "input_mb": rows.nbytes / 2**20, "extra_mb": extra_mb,
                  "valid": float((mid_px == mid_px).mean())}))
"""


def run() -> list[dict[str, object]]:
    results = {}
    for name, mid, width in [("BTC-like", 61700.0, 10.0), ("ETH-like", 2680.0, 1.0)]:
        out = subprocess.run([sys.executable, "-c", CHILD, str(mid), str(width)],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        results[name] = json.loads(out.strip().splitlines()[-1])
    rows = []
    for name, r in results.items():
        assert r["valid"] > 0.99, f"{name}: the synthetic book must stay valid ({r['valid']:.3f})"
        rows.append({
            "benchmark": f"synthetic day, {name} ({r['events'] / 1e6:.1f} M events, sync + COB)",
            "mmts": f"{r['events'] / r['seconds'] / 1e6:.2f} M events/s",
            "reference": f"rows {r['input_mb']:.0f} MB + pipeline {r['extra_mb']:.0f} MB "
                         f"(process peak {r['peak_mb']:.0f} MB)",
            "speedup": "-",
        })  # fmt: skip
    total = sum(r["input_mb"] + r["extra_mb"] for r in results.values())
    rows.append({"benchmark": "peak memory, a day of BTC+ETH book at 100 ms (rows + pipeline)",
                 "mmts": f"{total:.0f} MB", "reference": "-", "speedup": "-"})  # fmt: skip
    return rows
