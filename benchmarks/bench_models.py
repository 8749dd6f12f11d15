"""Model inference and training throughput on CPU, on the bundled data.

- one decision, CNN alone and the CNN -> RL chain (the CNN's output fills the RL input's slot):
  p50/p99 of the model call on a ready standardized input, and of input assembly + model.
- batched CNN inference for replay (decisions/s) beside one-at-a-time calls (the reference).
- training throughput: CNN samples/s (input building included) and DQN environment steps/s.

Untrained networks of the default experiment's sizes: latency does not depend on the weights.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mmts.data import open_store
from mmts.features.history import InputHistory
from mmts.features.inputs import ModelInputLayout
from mmts.models.cnn import CnnNet
from mmts.models.experiment import load_experiment
from mmts.models.predictors import RL_UPSTREAM, CnnPredictor, DqnPredictor
from mmts.models.rl.dqn import DuelingQNet
from mmts.models.summary import summary_features


def _pcts(ns: list[int]) -> str:
    p50, p99 = np.percentile(np.array(ns) / 1e6, [50, 99])
    return f"p50 {p50:.2f} ms, p99 {p99:.2f} ms"


def run(root: Path) -> list[dict[str, object]]:
    torch.set_num_threads(1)
    exp = load_experiment(root / "experiments" / "default.toml")
    store = open_store(root / "data")
    start, end = "2024-08-09T00:00:00Z", "2024-08-12T00:00:00Z"
    hist = InputHistory(store, start, end, exp.features)
    hist_rl = InputHistory(store, start, end, exp.features, RL_UPSTREAM)
    layout = ModelInputLayout(config=exp.features)
    cnn = CnnPredictor(CnnNet(layout.shapes(), exp.cnn.channels, exp.cnn.hidden, 0.0), layout)
    rl_layout = ModelInputLayout(config=exp.features, model_slots=RL_UPSTREAM)
    state_dim = summary_features(hist_rl.at(hist.start)).shape[0] + 3
    rl = DqnPredictor(DuelingQNet(state_dim, exp.rl.hidden), rl_layout)
    times = np.arange(hist.start, hist.end, 60 * 10**9)[:600]
    xs = [hist.at(int(t)) for t in times]
    for x in xs[:20]:
        cnn.predict(x)  # warm up
    cnn_ns, chain_ns, full_ns = [], [], []
    for t, x in zip(times, xs, strict=True):
        t0 = time.perf_counter_ns()
        cnn.predict(x)
        cnn_ns.append(time.perf_counter_ns() - t0)
        t0 = time.perf_counter_ns()
        out = cnn.predict(x)
        rl.predict(hist_rl.at(int(t), {"cnn": out.to_slot(rl_layout.slot_size)}))
        chain_ns.append(time.perf_counter_ns() - t0)
        t0 = time.perf_counter_ns()
        out = cnn.predict(hist.at(int(t)))
        rl.predict(hist_rl.at(int(t), {"cnn": out.to_slot(rl_layout.slot_size)}))
        full_ns.append(time.perf_counter_ns() - t0)
    t0 = time.perf_counter()
    for lo in range(0, len(xs), 256):
        cnn.predict_batch(xs[lo : lo + 256])
    batched = len(xs) / (time.perf_counter() - t0)
    single = 1e9 / np.mean(cnn_ns)
    rows = [
        {"benchmark": "CNN, one decision (model call, 1 thread)", "mmts": _pcts(cnn_ns),
         "reference": "target p99 < 3 ms", "speedup": "-"},
        {"benchmark": "CNN -> RL chain, one decision (RL input assembly included)",
         "mmts": _pcts(chain_ns), "reference": "target p99 < 3 ms", "speedup": "-"},
        {"benchmark": "CNN -> RL chain incl. both inputs from history", "mmts": _pcts(full_ns),
         "reference": "-", "speedup": "-"},
        {"benchmark": f"CNN batched inference ({len(xs)} decisions, batch 256)",
         "mmts": f"{batched:,.0f} decisions/s", "reference": f"one at a time {single:,.0f}/s",
         "speedup": f"{batched / single:.1f}x"},
    ]  # fmt: skip
    rows += _training(store, exp)
    return rows


def _training(store: object, exp: object) -> list[dict[str, object]]:
    from mmts.models.rl.train import train_rl
    from mmts.models.train import train_cnn

    exp = dataclasses.replace(exp, train=dataclasses.replace(exp.train, epochs=1))  # type: ignore[type-var]
    exp = dataclasses.replace(exp, rl=dataclasses.replace(exp.rl, steps=2000))  # type: ignore[type-var]
    with tempfile.TemporaryDirectory() as tmp:
        cnn = train_cnn(store, exp, progress=False, checkpoint_dir=tmp)
        rl = train_rl(store, exp, progress=False, checkpoint_dir=tmp)
    return [
        {"benchmark": f"CNN training, 1 epoch ({cnn['samples']['train']} samples, inputs built on the fly)",
         "mmts": f"{cnn['train_samples_per_s']:,.0f} samples/s", "reference": "-", "speedup": "-"},
        {"benchmark": "DQN training (2,000 env steps, CNN states precomputed)",
         "mmts": f"{rl['env_steps_per_s']:,.0f} steps/s (incl. state building)", "reference": "-",
         "speedup": "-"},
    ]  # fmt: skip
