"""Trained networks behind the common ``predict(x) -> ModelOutput`` interface."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmts.features.inputs import ModelInput, ModelInputLayout
from mmts.models.checkpoints import (
    CheckpointStore,
    IncompatibleCheckpoint,
    check_layout,
    check_trained_like,
)
from mmts.models.cnn import CnnNet
from mmts.models.dataset import input_tensors
from mmts.models.output import Action, ModelOutput


def state_hash(module: torch.nn.Module) -> str:
    """Hash of a module's weights (same seed, data and config → same hash)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def collate_inputs(xs: list[ModelInput]) -> dict[str, torch.Tensor]:
    """Stack inputs into one batch of tensors."""
    items = [input_tensors(x) for x in xs]
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


class OnnxNet:
    """A network exported to ONNX and loaded into an ONNX Runtime session (one thread)."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.input_names = [i.name for i in session.get_inputs()]


def onnx_session(net: torch.nn.Module, batch: dict[str, torch.Tensor]) -> OnnxNet:
    """Export ``net`` (fed ``batch``, a dict of tensors) to ONNX in memory; open a session.

    Inputs the network does not read are dropped by the exporter; the session says which it
    wants. One intra- and inter-op thread, as everywhere else one decision runs.
    """
    import io

    import onnxruntime as ort

    names = list(batch)

    class Positional(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, *tensors: torch.Tensor) -> Any:
            return self.net(dict(zip(names, tensors, strict=True)))

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter warns about shape-dependent code
        torch.onnx.export(
            Positional().eval(), tuple(batch[n] for n in names),
            buffer,  # type: ignore[arg-type]  # the TorchScript exporter writes to a file object
            input_names=names, output_names=["logits", "hidden"], dynamo=False,
        )  # fmt: skip
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
    return OnnxNet(session)


class CnnPredictor:
    """A trained CNN: ``predict(x)`` for one decision, ``predict_batch`` for replay."""

    model_type = "cnn"
    learns_from = "labels"

    def __init__(self, net: CnnNet, layout: ModelInputLayout, name: str = "cnn",
                 version: str = "untrained", symbol: str | None = None) -> None:  # fmt: skip
        self.net = net.eval()
        self.layout = layout
        self.name = name
        self.version = version
        self.symbol = symbol or layout.config.primary_symbol
        self._shapes = layout.shapes()
        self._single: Any = None  # ONNX Runtime session for one decision (built on first use)
        #: The span of data its checkpoint trained on (the monitor's drift reference), if known.
        self.trained_on: tuple[str, str] | None = None

    def with_net(self, net: CnnNet, version: str) -> CnnPredictor:
        """Return this expert around ``net`` (a fine-tuned copy), named ``version``."""
        return CnnPredictor(net, self.layout, name=self.name, version=version, symbol=self.symbol)

    def hyper_parameters(self) -> dict[str, Any]:
        """Return the sizes :func:`load_cnn` rebuilds the network from."""
        return dict(self.net.hyper)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the traced copy (it is rebuilt on first use)."""
        state = dict(self.__dict__)
        state["_single"] = None
        return state

    def warm(self) -> None:
        """Build the one-decision ONNX session now, so the first live decision does not.

        The network has no value-dependent branch, so an all-zero input of the layout's shapes
        exports the same graph (a model loaded off the decision loop is warmed there too).
        """
        if self._single is None:
            shapes = self.layout.shapes()
            x = ModelInput(at=0, layout=self.layout,
                           blocks={n: np.zeros(s, np.float32) for n, s in shapes.items()},
                           masks={n: np.ones(s[0], np.bool_) for n, s in shapes.items()})  # fmt: skip
            self._single = onnx_session(self.net, collate_inputs([x]))

    def _check(self, x: ModelInput) -> None:
        if x.layout.version != self.layout.version or x.layout.shapes() != self._shapes:
            raise ValueError(
                f"{self.name}: input layout {x.layout.version} {x.layout.shapes()} does not match "
                f"the model's {self.layout.version} {self._shapes}"
            )

    @torch.inference_mode()
    def forward_batch(self, batch: dict[str, torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(probabilities [B, 3], hidden [B, H])`` for a collated batch."""
        logits, hidden = self.net(batch)
        return torch.softmax(logits, -1).numpy().astype(np.float64), hidden.numpy()

    def predict_batch(self, xs: list[ModelInput]) -> list[ModelOutput]:
        """Predict many decisions in one forward pass."""
        for x in xs:
            self._check(x)
        probs, hidden = self.forward_batch(collate_inputs(xs))
        return [self._output(x.at, p, h) for x, p, h in zip(xs, probs, hidden, strict=True)]

    @torch.inference_mode()
    def predict(self, x: ModelInput) -> ModelOutput:
        """Predict one decision with ONNX Runtime (the live path; see :func:`onnx_session`).

        Measured on the benchmark VM, one thread, the default CNN: p50 0.73 / p99 0.85 ms per
        decision against 1.14 / 1.83 ms for the traced, frozen torch network; outputs equal to
        1e-5 (tested). Batches (replay) stay with torch, faster there.
        """
        self._check(x)
        batch = collate_inputs([x])
        if self._single is None:
            self._single = onnx_session(self.net, batch)  # see warm()
        feeds = {name: batch[name].numpy() for name in self._single.input_names}
        logits, hidden = self._single.session.run(None, feeds)
        shifted = np.exp(logits.astype(np.float64) - logits.max(-1, keepdims=True))
        return self._output(x.at, (shifted / shifted.sum(-1, keepdims=True))[0], hidden[0])

    def _output(self, at: int, probs: np.ndarray, hidden: np.ndarray) -> ModelOutput:
        probs = probs / probs.sum()
        action = Action(int(np.argmax(probs)))
        return ModelOutput(
            model_name=self.name, model_type=self.model_type, model_version=self.version,
            symbol=self.symbol, at=int(at), action=action, probabilities=probs,
            confidence=float(probs[int(action)]), hidden=hidden.astype(np.float32),
        )  # fmt: skip


def load_cnn(entry: dict[str, Any], layout: ModelInputLayout) -> CnnPredictor:
    """Load a CNN checkpoint entry (see ``checkpoints``) without importing lightning."""
    check_layout(entry, layout)
    blob = torch.load(Path(entry["path"]), map_location="cpu", weights_only=False)
    hp = blob["hyper_parameters"]
    with torch.random.fork_rng(devices=[]):  # loading never moves the caller's random stream
        net = CnnNet({k: tuple(v) for k, v in hp["shapes"].items()}, hp["channels"], hp["hidden"],
                     hp["dropout"])  # fmt: skip
    state = {
        k.removeprefix("net."): v for k, v in blob["state_dict"].items() if k.startswith("net.")
    }
    net.load_state_dict(state)
    model = CnnPredictor(net, layout, name=entry.get("model", "cnn"), version=entry["id"])
    model.trained_on = trained_on(entry)
    return model


def trained_on(entry: dict[str, Any]) -> tuple[str, str] | None:
    """Return the ``(start, end)`` of the data a checkpoint entry was trained on, if it says."""
    span = (entry.get("data") or {}).get("train")
    return (str(span[0]), str(span[1])) if span else None


class SequencePredictor(CnnPredictor):
    """A trained LSTM or Transformer (``mmts.models.sequence``): the CNN's interface and output.

    One decision runs the torch network (no ONNX copy: a recurrent or attention graph gains
    little from it at this size); batches run as the CNN's do.
    """

    def __init__(self, net: Any, layout: ModelInputLayout, name: str | None = None,
                 version: str = "untrained", symbol: str | None = None) -> None:  # fmt: skip
        kind = str(net.hyper["kind"])
        super().__init__(net, layout, name=name or kind, version=version, symbol=symbol)
        self.model_type = kind

    def with_net(self, net: Any, version: str) -> SequencePredictor:
        """Return this expert around ``net`` (a fine-tuned copy), named ``version``."""
        return SequencePredictor(net, self.layout, name=self.name, version=version,
                                 symbol=self.symbol)  # fmt: skip

    def hyper_parameters(self) -> dict[str, Any]:
        """Return what :func:`load_sequence` rebuilds the network from."""
        return {"hyper": dict(self.net.hyper)}

    def warm(self) -> None:
        """Nothing to build ahead: one decision runs the torch network itself."""

    @torch.inference_mode()
    def predict(self, x: ModelInput) -> ModelOutput:
        """Predict one decision."""
        return self.predict_batch([x])[0]


def load_sequence(entry: dict[str, Any], layout: ModelInputLayout) -> SequencePredictor:
    """Load an LSTM or Transformer checkpoint entry without importing lightning."""
    from mmts.models.sequence import build_sequence_net

    check_layout(entry, layout)
    blob = torch.load(Path(entry["path"]), map_location="cpu", weights_only=False)
    with torch.random.fork_rng(devices=[]):  # loading never moves the caller's random stream
        net = build_sequence_net(blob["hyper_parameters"]["hyper"])
    state = {
        k.removeprefix("net."): v for k, v in blob["state_dict"].items() if k.startswith("net.")
    }
    net.load_state_dict(state)
    model = SequencePredictor(net, layout, name=entry.get("model"), version=entry["id"])
    model.trained_on = trained_on(entry)
    return model


#: The RL agent's upstream models: their outputs fill its input's ``model_outputs`` block.
RL_UPSTREAM = ("cnn",)


class DqnPredictor:
    """A trained DQN: greedy target positions, Q-values and a value estimate.

    It reads the standardized input whose ``model_outputs`` slot holds the CNN's output (see
    ``RL_UPSTREAM``) and remembers the position its last action took, which
    is part of its state; :meth:`reset` goes flat. Probabilities are ``softmax(Q / tau)`` with
    ``tau`` = 1 (Q is in per-mille of return: one unit is about one fee), confidence the
    probability of the chosen action.
    """

    model_type = "dqn"
    upstream = RL_UPSTREAM
    learns_from = "transitions"

    def __init__(self, net: Any, layout: ModelInputLayout, name: str = "rl",
                 version: str = "untrained") -> None:  # fmt: skip
        self.net = net.eval()
        self.layout = layout
        self.name = name
        self.version = version
        self.symbol = layout.config.primary_symbol
        self.position = 0.0
        #: The span of data its checkpoint trained on (the monitor's drift reference), if known.
        self.trained_on: tuple[str, str] | None = None

    def with_net(self, net: Any, version: str) -> DqnPredictor:
        """Return this expert around ``net`` (a fine-tuned copy), named ``version``, flat."""
        return DqnPredictor(net, self.layout, name=self.name, version=version)

    def hyper_parameters(self) -> dict[str, Any]:
        """Return the sizes :func:`load_dqn` rebuilds the network from."""
        first = self.net.trunk[0]
        return {"state_dim": int(first.in_features) - 3, "hidden": int(first.out_features)}

    def reset(self) -> None:
        """Forget the position (start flat)."""
        self.position = 0.0

    def state(self) -> dict[str, float]:
        """Return what a restarted session needs: the position the agent believes it holds."""
        return {"position": float(self.position)}

    def restore(self, state: dict[str, float]) -> None:
        """Continue from :meth:`state`."""
        self.position = float(state["position"])

    def features(self, x: ModelInput) -> np.ndarray:
        """Return the state the network reads from ``x``, before the position one-hot."""
        from mmts.models.summary import summary_features

        if x.layout.version != self.layout.version or x.layout.shapes() != self.layout.shapes():
            raise ValueError(
                f"{self.name}: input layout does not match (needs slots {self.layout.model_slots})"
            )
        return summary_features(x).astype(np.float32)

    def _output(self, at: int, q: np.ndarray, value: float, before: float) -> ModelOutput:
        q_np = q.astype(np.float64)
        probs = np.exp(q_np - q_np.max())
        probs /= probs.sum()
        action = Action(int(np.argmax(q_np)))
        self.position = float(action.position)
        return ModelOutput(
            model_name=self.name, model_type=self.model_type, model_version=self.version,
            symbol=self.symbol, at=int(at), action=action, probabilities=probs,
            confidence=float(probs[int(action)]), q_values=q_np, value=float(value),
            metadata={"position_before": before},
        )  # fmt: skip

    @torch.inference_mode()
    def predict(self, x: ModelInput) -> ModelOutput:
        """Predict one decision (in time order: the position carries over)."""
        one_hot = np.zeros(3, np.float32)
        one_hot[int(self.position) + 1] = 1.0
        q, value = self.net(torch.from_numpy(np.concatenate([self.features(x), one_hot]))[None])
        return self._output(x.at, q[0].numpy(), float(value[0]), self.position)

    @torch.inference_mode()
    def predict_sequence(self, xs: list[ModelInput]) -> list[ModelOutput]:
        """Predict decisions in time order with one forward pass for all of them.

        The position is part of the state and follows from the previous action, so the network
        scores every decision under each of the three positions at once; the walk through time
        then picks the row of the position actually held.
        """
        q3, v3 = self.scores(xs)
        return self.walk([x.at for x in xs], q3, v3)

    @torch.inference_mode()
    def scores(self, xs: list[ModelInput]) -> tuple[np.ndarray, np.ndarray]:
        """Return Q-values ``[n, 3 positions, 3 actions]`` and values ``[n, 3 positions]``.

        Independent of the position actually held, so any process can compute any slice.
        """
        if not xs:
            return np.zeros((0, 3, 3), np.float32), np.zeros((0, 3), np.float32)
        states = np.stack([self.features(x) for x in xs])
        n = states.shape[0]
        eye = np.eye(3, dtype=np.float32)
        batch = np.concatenate([np.repeat(states, 3, axis=0), np.tile(eye, (n, 1))], axis=1)
        q, value = self.net(torch.from_numpy(batch))
        return q.numpy().reshape(n, 3, 3), value.numpy().reshape(n, 3)

    def walk(self, times: list[int], q3: np.ndarray, v3: np.ndarray) -> list[ModelOutput]:
        """Walk decisions in time order, taking each one's scores under the position held."""
        out = []
        for i, at in enumerate(times):
            held = int(self.position) + 1
            out.append(self._output(int(at), q3[i, held], float(v3[i, held]), self.position))
        return out

    def predict_batch(self, xs: list[ModelInput]) -> list[ModelOutput]:
        """Predict decisions in time order."""
        return self.predict_sequence(xs)


def load_dqn(entry: dict[str, Any], layout: ModelInputLayout) -> DqnPredictor:
    """Load a DQN checkpoint entry without importing lightning."""
    from mmts.models.rl.dqn import DuelingQNet

    check_layout(entry, layout)
    blob = torch.load(Path(entry["path"]), map_location="cpu", weights_only=False)
    hp = blob["hyper_parameters"]
    with torch.random.fork_rng(devices=[]):  # loading never moves the caller's random stream
        net = DuelingQNet(hp["state_dim"] + 3, hp["hidden"])
    state = {
        k.removeprefix("net."): v for k, v in blob["state_dict"].items() if k.startswith("net.")
    }
    net.load_state_dict(state)
    model = DqnPredictor(net, layout, name=entry.get("model", "rl"), version=entry["id"])
    model.trained_on = trained_on(entry)
    return model


#: How a checkpoint of each ``model_type`` is loaded.
LOADERS = {"cnn": load_cnn, "dqn": load_dqn, "lstm": load_sequence, "transformer": load_sequence}


def load_checkpoint(model_type: str, entry: dict[str, Any], layout: ModelInputLayout) -> Any:
    """Load ``entry``, a checkpoint of a ``model_type`` network (see :data:`LOADERS`)."""
    if model_type not in LOADERS:
        raise ValueError(
            f"no checkpoint loader for model type {model_type!r}; known: {sorted(LOADERS)}"
        )
    return LOADERS[model_type](entry, layout)


def checkpoint_problem(index: CheckpointStore, name: str, experiment: Any) -> str | None:
    """Say why ``experiment`` cannot use ``name``'s active checkpoint in ``index`` (None: it can).

    The same checks :func:`load_active_models` makes: the input layout (with the slots of the
    kinds it reads) and the label, feature, decision-grid and cost settings it was trained under.
    """
    from mmts.models.registry import model_kind

    entry = index.active(name)
    if entry is None:
        return "no checkpoint yet"
    slots = model_kind(name).upstream
    try:
        check_layout(entry, ModelInputLayout(config=experiment.features, model_slots=slots))
        check_trained_like(entry, experiment)
    except IncompatibleCheckpoint as e:
        return str(e)
    return None


def load_active_models(root: str | Path, config: Any, keep: int = 5, *, experiment: Any = None,
                       names: tuple[str, ...] | list[str] | None = None
                       ) -> tuple[dict[str, Any], list[str]]:  # fmt: skip
    """Load the active checkpoint of every trained kind under ``root`` (what start-up does).

    ``names``: only these kinds (and what they read); default every registered trained kind.
    Each is loaded by its registered ``load``, with the input slots of the kinds it reads
    (``upstream``; the RL agent reads the CNN), after them, and only when they loaded too.
    Returns ``(models, notes)``: notes on anything off, such as an agent trained on another
    CNN than the active one. A checkpoint whose input layout differs from ``config``'s raises
    ``IncompatibleCheckpoint``, and so does one trained under other label, feature,
    decision-grid or cost settings than ``experiment`` (when given).
    """
    from mmts.models.registry import model_kind, trained_types, training_order

    store = CheckpointStore(root, keep)
    models: dict[str, Any] = {}
    notes: list[str] = []
    wanted = list(names) if names is not None else trained_types()
    for name in training_order(_with_upstream(wanted)):
        kind = model_kind(name)
        if kind.load is None or any(u not in models for u in kind.upstream):
            continue
        read = kind.load

        def run(entry: dict[str, Any], layout: ModelInputLayout, read: Any = read) -> Any:
            if experiment is not None:
                check_trained_like(entry, experiment)
            return read(entry, layout)

        layout = ModelInputLayout(config=config, model_slots=kind.upstream)
        loaded = store.load_active(name, lambda e, layout=layout, run=run: run(e, layout))
        if loaded is None:
            continue
        entry, models[name] = loaded
        for up in kind.upstream:
            trained_on = entry.get("upstream", {}).get(up)
            if trained_on != models[up].version:
                notes.append(f"{name} was trained on {up} {trained_on}, not the active "
                             f"{models[up].version}: retrain {name}")  # fmt: skip
    return models, notes


def _with_upstream(names: list[str]) -> list[str]:
    """Return ``names`` and every kind they read, directly or not."""
    from mmts.models.registry import model_kind

    out: list[str] = []
    todo = list(names)
    while todo:
        name = todo.pop(0)
        if name not in out:
            out.append(name)
            todo.extend(model_kind(name).upstream)
    return out
