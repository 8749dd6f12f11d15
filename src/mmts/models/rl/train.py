"""Train the DQN on the experiment's data, fed by the active CNN checkpoint (cross-model)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from mmts.core.progress import duration, note
from mmts.core.stores import MarketData
from mmts.features.history import InputHistory
from mmts.features.inputs import ModelInputLayout, with_model_outputs
from mmts.models.checkpoints import CheckpointStore
from mmts.models.experiment import Experiment
from mmts.models.splits import Segments
from mmts.models.summary import summary_features


def chain_states(
    cnn: Any, history: InputHistory, times: np.ndarray, batch: int = 256
) -> np.ndarray:
    """Return the DQN state rows at ``times``: the CNN runs first, its output fills the slot.

    Each input is built once: the CNN reads it with its slot empty (masked, as the runtime
    gives it), the DQN with the CNN's output in it.
    """
    slot = history.layout.slot_size
    rows: list[np.ndarray] = []
    for lo in range(0, times.shape[0], batch):
        xs = [history.at(int(t)) for t in times[lo : lo + batch]]
        outputs = cnn.predict_batch(xs)
        rows.extend(
            summary_features(with_model_outputs(x, {"cnn": o.to_slot(slot)}))
            for x, o in zip(xs, outputs, strict=True)
        )
    return np.asarray(rows, np.float32)


def train_rl(store: MarketData, exp: Experiment, *, progress: bool = True,
             checkpoint_dir: str | Path | None = None,
             segments: Segments | None = None) -> dict[str, Any]:  # fmt: skip
    """Train the double + dueling DQN of ``exp``; register its best checkpoints.

    ``segments``: a study fold's train / validation spans instead of the ``[data]`` split.
    """
    from mmts.models.prepare import prepare
    from mmts.models.quiet import quiet_lightning
    from mmts.models.train import register_run, shutil_rmtree, start_run

    quiet_lightning()
    import lightning as L
    import torch

    from mmts.models.predictors import RL_UPSTREAM, load_cnn, load_dqn
    from mmts.models.rl.env import TradingEnv
    from mmts.models.rl.module import DqnModule

    started = time.perf_counter()
    root = Path(checkpoint_dir or exp.checkpoints.dir)
    cnn_entry = CheckpointStore(root, exp.checkpoints.keep).active("cnn")
    if cnn_entry is None:
        raise ValueError(
            f"no CNN checkpoint under {root}: the RL agent reads the CNN's output; run `mmts train cnn` first"
        )
    layout_cnn = ModelInputLayout(config=exp.features)
    cnn = load_cnn({**cnn_entry, "model": "cnn"}, layout_cnn)
    if progress:
        note("rl: building the dataset (the CNN's output at every decision feeds the agent)")
    data = prepare(store, exp, RL_UPSTREAM, segments)
    times, history_rl = data.decisions.times, data.history
    train_idx, val_idx = data.split.train, data.split.val
    states = chain_states(cnn, history_rl, times[np.concatenate([train_idx, val_idx])])
    train_states, val_states = states[: train_idx.shape[0]], states[train_idx.shape[0] :]
    prices = data.decisions.prices
    cfg = exp.rl
    env = TradingEnv(train_states, prices[train_idx], exp.costs, cfg.episode_length)
    val_env = TradingEnv(val_states, prices[val_idx], exp.costs)
    L.seed_everything(exp.seed, workers=True, verbose=False)
    torch.use_deterministic_algorithms(True)
    # One env step and a 64-wide MLP per batch: extra threads only add synchronisation (and
    # spin-wait badly when another process shares the cores).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    module = DqnModule(
        state_dim=train_states.shape[1], hidden=cfg.hidden, learning_rate=cfg.learning_rate,
        gamma=cfg.gamma, epsilon_start=cfg.epsilon_start, epsilon_end=cfg.epsilon_end,
        epsilon_decay_steps=cfg.epsilon_decay_steps, target_sync_steps=cfg.target_sync_steps,
        replay_size=cfg.replay_size, batch_size=cfg.batch_size, warmup_steps=cfg.warmup_steps,
        priority_alpha=cfg.priority_alpha, priority_beta=cfg.priority_beta,
        profit_weight=cfg.profit_weight, steps_per_epoch=cfg.steps_per_epoch, seed=exp.seed,
        upstream={"cnn": cnn_entry["id"]}, layout_description=history_rl.layout.describe(),
    )  # fmt: skip
    module.attach(env, val_env, train_states)
    epochs = max(1, -(-cfg.steps // cfg.steps_per_epoch))
    if progress:
        note(f"rl: {train_idx.shape[0]:,} training, {val_idx.shape[0]:,} validation decisions "
             f"({duration(time.perf_counter() - started)}); training {cfg.steps:,} environment "
             f"steps in {epochs} epochs of {cfg.steps_per_epoch:,}")  # fmt: skip
    run = start_run(exp, "rl", root, "val_return", "max", epochs, progress, 1)  # a batch: 50 steps
    try:
        run.trainer.fit(module)
    except BaseException:
        shutil_rmtree(run.staging)  # a failed run leaves nothing behind
        raise
    finally:
        torch.set_num_threads(threads)
    extra = {
        "upstream": {"cnn": cnn_entry["id"]},
        "samples": {"train": int(train_idx.shape[0]), "val": int(val_idx.shape[0])},
    }
    entries = register_run(run, exp, "rl", root, history_rl.layout, data.ranges(), extra, load_dqn)
    best = max(entries, key=lambda e: e["metric"])
    seconds = time.perf_counter() - started
    return {
        "model": "rl", "run": run.name, "best": best["id"], "val_return": best["metric"],
        "metrics": best["metrics"], "state_hash": best["state_hash"], "checkpoints": len(entries),
        "upstream": best["upstream"], "samples": best["samples"], "data": best["data"],
        "logs": str(run.folder / "logs"), "seconds": round(seconds, 1),
        "env_steps_per_s": round(module.env_steps / seconds, 1),
    }  # fmt: skip
