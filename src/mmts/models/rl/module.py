"""Double + dueling DQN as a LightningModule, stepping the trading environment itself.

Each training step takes one epsilon-greedy action in the environment, stores the transition in
the prioritized replay and, after ``warmup_steps``, learns from a sampled batch: the target is
``r + gamma * (1 - done) * Q_target(s', argmax_a Q_online(s', a))`` (double DQN), the loss a
Huber loss weighted by the importance weights; the target network copies the online one every
``target_sync_steps``. Validation runs the greedy policy over the whole validation segment and
logs its net return (the checkpoint metric). Rewards are learned in per-mille
(``reward_scale`` 1000): a linear rescale of Q that leaves the greedy policy unchanged and keeps
the Huber loss in its quadratic range.
"""

from __future__ import annotations

import copy
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn

from mmts.models.rl.dqn import REWARD_SCALE, DuelingQNet
from mmts.models.rl.env import TradingEnv
from mmts.models.rl.replay import PrioritizedReplay

#: Environment steps per Lightning batch. Each step still learns from its own sampled batch and
#: optimizer step; grouping them only spreads Lightning's per-batch bookkeeping (about 3 ms, twice
#: the step's own work) over many steps. The weights are the same for any value.
STEPS_PER_BATCH = 50


class _Steps(torch.utils.data.IterableDataset):  # type: ignore[type-arg]
    """Yields the number of environment steps of each Lightning batch, ``n`` steps in all."""

    def __init__(self, n: int, per_batch: int = 1) -> None:
        self.n, self.per_batch = n, per_batch

    def __iter__(self) -> Any:
        return iter(min(self.per_batch, self.n - k) for k in range(0, self.n, self.per_batch))


def greedy_run(net: DuelingQNet, env: TradingEnv) -> dict[str, float]:
    """Run the greedy policy over the whole of ``env``'s data; return net return and trades."""
    obs, _ = env.reset(options={"start": 0})
    rewards, trades, done = [], 0, False
    with torch.no_grad():
        while not done:
            q, _ = net(torch.from_numpy(obs)[None])
            before = env.position
            obs, reward, _, done, _ = env.step(int(q.argmax(-1)))
            trades += int(env.position != before)
            rewards.append(reward)
    r = np.asarray(rewards)
    return {"return": float(np.prod(1.0 + r) - 1.0), "trades": float(trades)}


class DqnModule(L.LightningModule):
    """Learn Q-values of target positions from environment interaction."""

    def __init__(self, state_dim: int, hidden: int, learning_rate: float, gamma: float,
                 epsilon_start: float, epsilon_end: float, epsilon_decay_steps: int,
                 target_sync_steps: int, replay_size: int, batch_size: int, warmup_steps: int,
                 priority_alpha: float, priority_beta: float, profit_weight: float,
                 steps_per_epoch: int, seed: int, reward_scale: float = REWARD_SCALE, upstream: dict[str, Any] | None = None,
                 layout_description: dict[str, Any] | None = None) -> None:  # fmt: skip
        super().__init__()
        self.save_hyperparameters()
        self.net = DuelingQNet(state_dim + 3, hidden)
        self.target = copy.deepcopy(self.net)
        self.replay = PrioritizedReplay(replay_size, state_dim + 3, alpha=priority_alpha,
                                        profit_weight=profit_weight)  # fmt: skip
        self.rng = np.random.default_rng(seed)
        self.env: TradingEnv | None = None
        self.val_env: TradingEnv | None = None
        self.obs: np.ndarray | None = None
        self.env_steps = 0
        self.automatic_optimization = False  # several steps, each with its update, per batch

    def attach(self, env: TradingEnv, val_env: TradingEnv, states: np.ndarray) -> None:
        """Give the module its environments; standardise states with the training statistics."""
        self.env, self.val_env = env, val_env
        full = np.concatenate([states, np.tile([0.0, 1.0, 0.0], (states.shape[0], 1))], axis=1)
        shift = full.mean(0)
        scale = full.std(0)
        scale[scale < 1e-8] = 1.0
        shift[-3:], scale[-3:] = 0.0, 1.0  # the position one-hot stays as is
        for net in (self.net, self.target):
            net.shift.copy_(torch.from_numpy(shift.astype(np.float32)))
            net.scale.copy_(torch.from_numpy(scale.astype(np.float32)))
        self.obs, _ = env.reset(seed=int(self.hparams["seed"]))

    def epsilon(self) -> float:
        """Exploration rate now (linear decay)."""
        hp = self.hparams
        frac = min(1.0, self.env_steps / max(hp["epsilon_decay_steps"], 1))
        return float(hp["epsilon_start"] + frac * (hp["epsilon_end"] - hp["epsilon_start"]))

    def _act(self) -> None:
        if self.env is None or self.obs is None:
            raise RuntimeError("call attach() with the environments before training")
        if self.rng.random() < self.epsilon():
            action = int(self.rng.integers(0, 3))
        else:
            with torch.no_grad():
                action = int(self.net(torch.from_numpy(self.obs)[None])[0].argmax(-1))
        nxt, reward, _, done, _ = self.env.step(action)
        self.replay.push(self.obs, action, reward, nxt, done)
        self.obs = self.env.reset()[0] if done else nxt
        self.env_steps += 1

    def train_dataloader(self) -> Any:
        """Return one placeholder batch per environment step."""
        return torch.utils.data.DataLoader(
            _Steps(int(self.hparams["steps_per_epoch"]), STEPS_PER_BATCH), batch_size=None
        )

    def val_dataloader(self) -> Any:
        """Return a single placeholder batch: validation is one greedy run."""
        return torch.utils.data.DataLoader(_Steps(1), batch_size=None)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor | None:
        """``batch`` environment steps, each followed by an optimizer step on its own loss."""
        optimizer = self.optimizers()
        if isinstance(optimizer, list):  # configure_optimizers returns one
            raise TypeError("the DQN has one optimizer")
        losses = []
        for _ in range(int(batch)):
            loss = self._learn()
            if loss is None:
                continue
            optimizer.zero_grad()
            self.manual_backward(loss)
            optimizer.step()
            losses.append(loss.detach())
        if not losses:
            return None
        mean = torch.stack(losses).mean()
        self.log("train_loss", mean, prog_bar=True, batch_size=len(losses))
        self.log("epsilon", self.epsilon(), batch_size=len(losses))
        return mean

    def _learn(self) -> torch.Tensor | None:
        """Act once, then return the loss of a prioritized batch (None during the warm-up)."""
        self._act()
        hp = self.hparams
        if len(self.replay) < max(hp["warmup_steps"], hp["batch_size"]):
            return None
        index, s_np, a, r, s2_np, done, w = self.replay.sample(
            hp["batch_size"], hp["priority_beta"], self.rng
        )
        s, s2 = torch.from_numpy(s_np), torch.from_numpy(s2_np)
        q = self.net(s)[0].gather(1, torch.from_numpy(a)[:, None]).squeeze(1)
        with torch.no_grad():
            best = self.net(s2)[0].argmax(-1, keepdim=True)
            q_next = self.target(s2)[0].gather(1, best).squeeze(1)
            target = (
                hp["reward_scale"] * torch.from_numpy(r)
                + hp["gamma"] * (1.0 - torch.from_numpy(done)) * q_next
            )
        td = target - q
        loss = (
            torch.from_numpy(w) * nn.functional.smooth_l1_loss(q, target, reduction="none")
        ).mean()
        self.replay.update(index, td.detach().numpy())
        if self.env_steps % hp["target_sync_steps"] == 0:
            self.target.load_state_dict(self.net.state_dict())
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        """Greedy policy over the validation segment."""
        if self.val_env is None:
            raise RuntimeError("call attach() with the environments before validating")
        result = greedy_run(self.net, self.val_env)
        self.log("val_return", result["return"], prog_bar=True, batch_size=1)
        self.log("val_trades", result["trades"], batch_size=1)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """Adam on the online network."""
        return torch.optim.Adam(self.net.parameters(), lr=self.hparams["learning_rate"])
