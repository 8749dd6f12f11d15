"""What ``mmts backtest`` itself gets: 2.5 months of real 1 m bars, 5-minute decisions, all experts.

The command a user runs, as a subprocess, once with ``--engine event`` (every expert at every
decision in the event loop) and once with ``--engine fast`` (the default: outputs in batches on
both cores first, then the same loop), on ETH/USDT 2021-04-20 .. 2021-07-05 (≈ 21,900
decisions) imported from ../shared/data (freqtrade 1 m JSON + the daily CSV). The two runs must
give the same orders and fills before either is reported. The models are the default
experiment's checkpoints (trained on the bundled 2024 data first when missing; not timed).

Also measured: CNN throughput on real inputs by batch size (one thread), which fixes
``FAST_BATCH``.

Run: ``python benchmarks/bench_backtest_cli.py [--shared ../shared/data]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START, END = "2021-04-20T00:00:00Z", "2021-07-05T00:00:00Z"
SOURCES = ("2021-04_selskas", "2021-04_tooyipjee", "2021-05_C1PR14N055", "2021-06_mohammadmoth")


def _mmts(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mmts.cli", *args], capture_output=True,
                          text=True, check=True, cwd=ROOT)  # fmt: skip


def _store(shared: Path, folder: Path) -> Path:
    more = shared / "klines" / "binance-spot-1m-more"
    paths = [str(more / s) for s in SOURCES]
    paths += [
        str(p) for p in (shared / "klines" / "binance-spot" / "1d").glob("Binance_*USDT_d.csv")
    ]
    _mmts("data", "import", *paths, "--store", str(folder))
    return folder


def _backtest(store: Path, out: Path, engine: str) -> tuple[float, dict[str, object]]:
    t0 = time.perf_counter()
    done = _mmts("backtest", "--store", str(store), "--start", START, "--end", END,
                 "--engine", engine, "--out", str(out / engine), "--no-progress", "--json")  # fmt: skip
    return time.perf_counter() - t0, json.loads(done.stdout)


def _same_orders(a: dict[str, object], b: dict[str, object]) -> None:
    import numpy as np
    import pandas as pd

    for table in ("orders", "fills"):
        x = pd.read_parquet(Path(str(a["run_dir"])) / f"{table}.parquet")
        y = pd.read_parquet(Path(str(b["run_dir"])) / f"{table}.parquet")
        if len(x) != len(y) or not (x["time"] == y["time"]).all():
            raise AssertionError(f"the engines' {table} differ: {len(x)} vs {len(y)}")
        # Batched and one-at-a-time float32 inference differ in the last bits: sizes to 1e-5.
        np.testing.assert_allclose(x["qty"], y["qty"], rtol=1e-5)


def batch_sizes(
    store: Path, sizes: tuple[int, ...] = (1, 8, 16, 32, 64, 128, 256)
) -> dict[int, float]:
    """CNN decisions/s on real inputs per batch size, one torch thread (forward only)."""
    import numpy as np
    import torch

    from mmts.data import open_store
    from mmts.features.history import InputHistory
    from mmts.models.experiment import load_experiment
    from mmts.models.predictors import collate_inputs, load_active_models

    torch.set_num_threads(1)
    exp = load_experiment(ROOT / "experiments" / "default.toml")
    models, _ = load_active_models(ROOT / exp.checkpoints.dir, exp.features)
    cnn = models["cnn"]
    lo = int(np.datetime64("2021-05-01T00:00", "ns").astype(np.int64))
    times = lo + np.arange(512, dtype=np.int64) * exp.decision_step
    history = InputHistory(open_store(store), int(times[0]), int(times[-1]), exp.features)
    xs = [history.at(int(t), {}) for t in times]
    out = {}
    for size in sizes:
        batches = [collate_inputs(xs[k : k + size]) for k in range(0, len(xs), size)]
        cnn.forward_batch(batches[0])  # warm
        t0 = time.perf_counter()
        for b in batches:
            cnn.forward_batch(b)
        out[size] = len(xs) / (time.perf_counter() - t0)
    return out


def run(shared: Path) -> list[dict[str, object]]:
    if not (ROOT / "experiments" / "models" / "cnn" / "index.json").exists():
        _mmts("backtest", "--train-missing", "--no-progress", "--out", tempfile.mkdtemp())
    with tempfile.TemporaryDirectory() as tmp:
        store = _store(shared, Path(tmp) / "store")
        rates = batch_sizes(store)
        # `nox -s bench` pins itself to one core; the command gets what a user's machine has.
        pinned = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
        if pinned is not None:
            os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
        try:
            fast_s, fast = _backtest(store, Path(tmp), "fast")
            event_s, event = _backtest(store, Path(tmp), "event")
        finally:
            if pinned is not None:
                os.sched_setaffinity(0, pinned)
        _same_orders(fast, event)
    m, timing = fast["metrics"], fast["timing"]
    cpu = timing["cpu"]  # type: ignore[index]
    n = m["decisions"]  # type: ignore[index]
    shares = (
        f"in workers (CPU s): history {cpu['history_s']:.1f}, inputs {cpu['inputs_s']:.1f}, "  # type: ignore[index]
        f"experts {cpu['experts_s']:.1f}; walk {cpu['walk_s']:.1f} s; event loop + fills "  # type: ignore[index]
        f"{timing['loop_s']} s"
    )  # type: ignore[index]
    best = max(rates, key=rates.__getitem__)
    return [{
        "benchmark": f"`mmts backtest`, {n:,} decisions (5 min, 2021-04-20..07-05, all experts)",
        "mmts": f"fast engine {fast_s:.1f} s ({timing['workers']} workers; {shares})",  # type: ignore[index]
        "reference": f"event engine {event_s:.1f} s, same orders and fills",
        "speedup": f"{event_s / fast_s:.1f}x",
    }, {
        "benchmark": "CNN forward on real inputs by batch size (1 thread)",
        "mmts": ", ".join(f"{k}: {v:,.0f}/s" for k, v in rates.items()),
        "reference": f"batch 1: {rates[1]:,.0f}/s", "speedup": f"{rates[best] / rates[1]:.1f}x at {best}",
    }]  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path,
                        default=Path(os.environ.get("MMTS_SHARED_DATA", ROOT.parent / "shared" / "data")))  # fmt: skip
    for row in run(parser.parse_args().shared):
        print(row)
