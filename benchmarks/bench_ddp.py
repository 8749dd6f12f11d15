"""DDP on this machine's two cores: training samples/s with one and two CPU processes.

``python benchmarks/bench_ddp.py`` (uses every core it may: not part of the one-core
``run.py``). For the CNN, LSTM and Transformer of the default experiment on the bundled data,
each trained through the product's own path (``train_classifier``, as ``mmts train`` does) with
``[train] devices = 1`` and ``devices = 2, strategy = "ddp"``, at 1 and 3 epochs of the same
samples. Before any number is reported the two runs' per-epoch losses must agree within the
tested margin. Reported: end to end (what ``mmts train`` gets, process start-up included) and
the steady rate (the 2 extra epochs' samples over their extra time).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any

from table import print_table

HERE = Path(__file__).resolve().parent
#: As tests/unit/models/test_ddp.py: the last epoch's validation loss of one and two processes
#: agrees within this (relative); earlier epochs are reported beside another seed's.
MARGIN = 0.03


def _train(kind: str, devices: int, epochs: int, samples: int, root: Path, seed: int | None = None
           ) -> tuple[float, dict[str, Any]]:  # fmt: skip
    from mmts.data import open_store
    from mmts.models.experiment import load_experiment
    from mmts.models.registry import model_kind

    exp = load_experiment(HERE.parent / "experiments" / "default.toml")
    train = dataclasses.replace(exp.train, epochs=epochs, max_train_samples=samples,
                                devices=devices, strategy="ddp" if devices > 1 else "auto")  # fmt: skip
    exp = dataclasses.replace(exp, train=train, seed=exp.seed if seed is None else seed + exp.seed,
                              checkpoints=dataclasses.replace(exp.checkpoints, dir=str(root)))  # fmt: skip
    fit = model_kind(kind).train
    assert fit is not None
    t0 = time.perf_counter()
    summary = fit(open_store(HERE.parent / "data"), exp, progress=False)
    return time.perf_counter() - t0, summary


def _losses(summary: dict[str, Any]) -> list[float]:
    with (Path(summary["logs"]) / "metrics.csv").open() as handle:
        return [float(r["val_loss"]) for r in csv.DictReader(handle) if r.get("val_loss")]


def _gaps(a: list[float], b: list[float]) -> str:
    return " ".join(f"{(y - x) / x:+.1%}" for x, y in zip(a, b, strict=True))


def run(samples: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for kind in ("cnn", "lstm", "transformer"):
        seconds: dict[tuple[int, int], float] = {}
        curves = {}
        for devices in (1, 2):
            for epochs in (1, 3):
                with tempfile.TemporaryDirectory() as tmp:
                    s, summary = _train(kind, devices, epochs, samples, Path(tmp))
                    seconds[devices, epochs] = s
                    if epochs == 3:
                        curves[devices] = _losses(summary)
        with tempfile.TemporaryDirectory() as tmp:  # the reference: one process, another seed
            curves[0] = _losses(_train(kind, 1, 3, samples, Path(tmp), seed=1)[1])
        if abs(curves[1][-1] - curves[2][-1]) / curves[1][-1] >= MARGIN:
            raise SystemExit(f"{kind}: one and two processes disagree: {curves}")
        steady = {d: 2 * samples / (seconds[d, 3] - seconds[d, 1]) for d in (1, 2)}
        whole = {d: 3 * samples / seconds[d, 3] for d in (1, 2)}
        gap = _gaps(curves[1], curves[2])
        seed_gap = _gaps(curves[1], curves[0])
        rows.append({
            "benchmark": f"{kind}: {samples} samples x 3 epochs; val_loss per epoch vs 1 process: "
                         f"{gap} (another seed: {seed_gap})",
            "mmts": f"2 processes: {steady[2]:,.0f} samples/s steady, {whole[2]:,.0f} end to end",
            "reference": f"1 process: {steady[1]:,.0f} steady, {whole[1]:,.0f} end to end",
            "speedup": f"{steady[2] / steady[1]:.2f}x steady, {whole[2] / whole[1]:.2f}x end to end",
        })  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=4000, help="training samples per epoch")
    args = parser.parse_args()
    rows = run(args.samples)
    print_table(rows)


if __name__ == "__main__":
    main()
