"""The backtest's fast path: expert outputs in batch from history, then the same decision loop.

:func:`batch_outputs` builds every decision's input with ``InputHistory`` (bit-identical to the
step driver) and runs experts without upstream models in batches. Experts fed by upstream
models (the DQN) see the same inputs with those outputs in their slots; one that can score a
decision under every position it might hold (``scores``/``walk``) is scored in batch and then
walked in time order. With ``workers > 1`` the decisions are split into contiguous slices, each
computed in its own process; only the walk is sequential. The runtime then replays only the bars
the venue fills against, taking the outputs from this table (``outputs_at``) — the mixture,
risk, orders and fills are the very same code. On bar-only history the orders equal the event
loop's (tested).
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from mmts.config import FeatureConfig
from mmts.data.store import Store
from mmts.features.history import InputHistory
from mmts.features.inputs import with_model_outputs
from mmts.history.monitor import input_summary
from mmts.history.writer import LedgerWriter, input_id, is_shadow_key, shadow_key
from mmts.models.expert import check_experts, dependency_order, model_slots
from mmts.models.output import ModelOutput
from mmts.runtime.engine import run_expert

Outputs = tuple[dict[str, ModelOutput | None], dict[str, str]]

#: Decisions per batch: inputs built, and networks run, this many at a time. Small batches stay
#: in cache (measured by ``benchmarks/bench_backtest_cli.py``: 2,969/s at 32, 1,631/s at 64).
FAST_BATCH = 32


Slice = tuple[
    dict[int, Outputs], dict[str, tuple[np.ndarray, np.ndarray]], dict[str, float], dict[int, Any]
]


#: Where a slice writes its inputs: ``(ledger folder, epoch)`` of the run's ledger.
LedgerTarget = tuple[str, int]


def _slice(store: Store, features: FeatureConfig, experts: dict[str, Any], times: np.ndarray,
           batch: int, ledger: LedgerTarget | None = None, worker: int = 0) -> Slice:  # fmt: skip
    """Return a slice's outputs, the scores of walkable upstream-fed experts, and timings.

    Timings: seconds reading history (``history_s``), building inputs (``inputs_s``) and in
    the experts (``experts_s``). With ``ledger``, the slice's inputs (and their frames) are
    written to it as worker ``worker`` of its epoch; the predictions are the runtime's to write.
    """
    clock = time.perf_counter()
    found = check_experts(experts)
    history = InputHistory(store, int(times[0]), int(times[-1]), features, model_slots(found))
    writer = None
    if ledger is not None:
        writer = LedgerWriter(ledger[0], epoch=ledger[1], worker=worker, background=False)
    timing = {"history_s": time.perf_counter() - clock, "inputs_s": 0.0, "experts_s": 0.0}
    order = dependency_order(found)
    table: dict[int, Outputs] = {int(t): ({}, {}) for t in times}
    scores: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    summaries: dict[int, Any] = {}
    for k in range(0, times.shape[0], batch):
        chunk = [int(t) for t in times[k : k + batch]]
        windows, base, read = _batch(history, experts, found, order, chunk, table, scores, timing)
        summaries.update({t: input_summary(x) for t, x in zip(chunk, base, strict=True)})
        if writer is not None:
            for t, w, x in zip(chunk, windows, base, strict=True):
                writer.record(t, features.primary_symbol, history.layout, w,
                              _read_inputs(writer.epoch, t, x, read[t]), [])  # fmt: skip
            writer.flush_if_due()
    if writer is not None:
        writer.close()
    joined = {n: (np.concatenate([q for q, _ in parts]), np.concatenate([v for _, v in parts]))
              for n, parts in scores.items()}  # fmt: skip
    return table, joined, timing, summaries


def _read_inputs(epoch: int, t: int, base: Any, read: dict[str, Any]) -> dict[str, Any]:
    """Return a decision's inputs by ledger id: the base input, and each upstream reader's."""
    inputs = {input_id(epoch, t): base}
    inputs.update({input_id(epoch, t, n): x for n, x in read.items() if not is_shadow_key(n)})
    return inputs


def _batch(history: InputHistory, experts: dict[str, Any], found: dict[str, Any], order: list[str],
           chunk: list[int], table: dict[int, Outputs],
           scores: dict[str, list[tuple[np.ndarray, np.ndarray]]],
           timing: dict[str, float]) -> tuple[list[Any], list[Any], dict[int, dict[str, Any]]]:  # fmt: skip
    """Compute one batch of decisions into ``table`` (walkable experts' scores into ``scores``).

    Returns the batch's windows, base inputs, and per decision the inputs upstream-fed
    experts read.
    """
    clock = time.perf_counter()
    windows = [history.windows(t) for t in chunk]
    base = [history.assemble(w, {}) for w in windows]
    read: dict[int, dict[str, Any]] = {t: {} for t in chunk}  # t -> {reader: input}
    timing["inputs_s"] += time.perf_counter() - clock
    clock = time.perf_counter()
    slot = history.layout.slot_size
    for name in order:
        expert = experts[name]
        upstream = found[name].upstream
        if not upstream and found[name].batch and not found[name].keeps_state:
            try:
                for t, out in zip(chunk, expert.predict_batch(base), strict=True):
                    table[t][0][name] = out
            except Exception as e:  # noqa: BLE001 - the expert leaves the mixture, as in the loop
                for t in chunk:
                    table[t][0][name] = None
                    table[t][1][name] = f"{type(e).__name__}: {e}"
            continue
        if upstream and found[name].walkable:
            if not all(table[t][0].get(u) is not None for t in chunk for u in upstream):
                raise RuntimeError(f"{name}: upstream {upstream} produced no output")
            xs = [with_model_outputs(x, {u: table[t][0][u].to_slot(slot) for u in upstream})  # type: ignore[union-attr]
                  for t, x in zip(chunk, base, strict=True)]  # fmt: skip
            scores.setdefault(name, []).append(expert.scores(xs))
            for t, x in zip(chunk, xs, strict=True):
                read[t][name] = x
            continue
        for t, x in zip(chunk, base, strict=True):
            used = run_expert(name, expert, x, table[t][0], table[t][1], slot, upstream=upstream)
            if upstream and used is not None:
                read[t][name] = used
    timing["experts_s"] += time.perf_counter() - clock
    return windows, base, read


def _pack(table: dict[int, Outputs], times: np.ndarray) -> dict[str, Any]:
    """Turn a slice's outputs into a few arrays per expert (pickling 40k objects is slow).

    Keeps what the mixture reads (action, probabilities, confidence, hidden state); the rest of
    each output is the expert's first one (name, type, version, symbol).
    """
    names = sorted({n for outputs, _ in table.values() for n in outputs})
    packed: dict[str, Any] = {"failures": {t: f for t, (_, f) in table.items() if f}, "experts": {},
                              "names": names}  # fmt: skip
    for name in names:
        outs = [table[int(t)][0].get(name) for t in times]
        ok = np.array([o is not None for o in outs])
        first = next((o for o in outs if o is not None), None)
        if first is None:
            continue

        def col(get: Any, width: int, outs: list[Any] = outs) -> np.ndarray:
            return np.array([get(o) if o is not None else np.zeros(width) for o in outs])

        packed["experts"][name] = {
            "ok": ok,
            "template": first,
            "action": np.array([int(o.action) if o is not None else 1 for o in outs]),
            "probabilities": col(lambda o: o.probabilities, 3),
            "confidence": np.array([o.confidence if o is not None else 0.0 for o in outs]),
            "hidden": col(lambda o: o.hidden, first.hidden.shape[0]),
        }
    return packed


def _unpack(packed: dict[str, Any], times: np.ndarray) -> dict[int, Outputs]:
    import dataclasses

    from mmts.models.output import Action

    table: dict[int, Outputs] = {
        int(t): ({}, dict(packed["failures"].get(int(t), {}))) for t in times
    }
    for name in packed["names"]:  # an expert with no output anywhere in the slice: None each time
        if name not in packed["experts"]:
            for t in times:
                table[int(t)][0][name] = None
    for name, cols in packed["experts"].items():
        template = cols["template"]
        for i, t in enumerate(times):
            if not cols["ok"][i]:
                table[int(t)][0][name] = None
                continue
            probs = cols["probabilities"][i]
            table[int(t)][0][name] = dataclasses.replace(
                template, at=int(t), action=Action(int(cols["action"][i])), probabilities=probs,
                confidence=float(cols["confidence"][i]), hidden=cols["hidden"][i].astype(np.float32),
            )  # fmt: skip
    return table


def _worker(
    args: tuple[str, FeatureConfig, dict[str, Any], np.ndarray, int, LedgerTarget | None, int],
) -> Any:
    import torch

    from mmts.data import open_store

    torch.set_num_threads(1)
    root, features, experts, times, batch, ledger, worker = args
    table, scores, timing, summaries = _slice(
        open_store(root), features, experts, times, batch, ledger, worker
    )
    return _pack(table, times), scores, timing, summaries


def batch_outputs(store: Store, features: FeatureConfig, experts: dict[str, Any], times: np.ndarray,
                  batch: int = FAST_BATCH, workers: int = 1,
                  timing: dict[str, float] | None = None,
                  ledger: LedgerTarget | None = None,
                  summaries: dict[int, Any] | None = None) -> dict[int, Outputs]:  # fmt: skip
    """Return ``{t: (outputs, failures)}`` for every decision time (the runtime's ``outputs_at``).

    ``timing``, when given, receives the seconds spent reading history, building inputs and in
    the experts (summed over workers: CPU seconds), and the walk. ``ledger``: where the
    workers write every decision's inputs; ``summaries`` receives each decision's input summary
    (what the monitor watches, ``history.monitor.input_summary``).
    """
    times = np.asarray(times, np.int64)
    if workers > 1 and times.shape[0] >= 2 * batch:
        slices = [s for s in np.array_split(times, workers) if s.shape[0]]
        jobs = [(str(Path(store.root)), features, experts, s, batch, ledger, k)
                for k, s in enumerate(slices)]  # fmt: skip
        with ProcessPoolExecutor(len(jobs), mp_context=get_context("spawn")) as pool:
            parts = [
                (_unpack(packed, s), sc, tm, sm)
                for (packed, sc, tm, sm), s in zip(pool.map(_worker, jobs), slices, strict=True)
            ]
    else:
        parts = [_slice(store, features, experts, times, batch, ledger)]
    clock = time.perf_counter()
    table: dict[int, Outputs] = {}
    scores: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for part, part_scores, part_timing, part_summaries in parts:
        if summaries is not None:
            summaries.update(part_summaries)
        if timing is not None:
            for key, seconds in part_timing.items():
                timing[key] = timing.get(key, 0.0) + seconds
        table.update(part)
        for name, qv in part_scores.items():
            scores.setdefault(name, []).append(qv)
    order = [int(t) for t in times]
    for name, pieces in scores.items():
        q3 = np.concatenate([q for q, _ in pieces])
        v3 = np.concatenate([v for _, v in pieces])
        for t, out in zip(order, experts[name].walk(order, q3, v3), strict=True):
            table[t][0][name] = out
    if timing is not None:
        timing["walk_s"] = timing.get("walk_s", 0.0) + time.perf_counter() - clock
    return table


class ChunkedOutputs:
    """The fast engine's outputs while the experts change (a backtest of online learning).

    Outputs are computed ``chunk`` decisions at a time, in this process, for the runtime's
    experts and shadows as they are now. When they change at decision ``t`` (a new shadow, a
    promotion, a rollback: :meth:`invalidate`), the rest of the chunk is dropped and computed
    again from ``t``; a walkable expert (the DQN) is first put back in the state it held at
    ``t`` by walking the decisions already taken again on their kept scores. Inputs go to the
    ledger as the runtime takes each decision, so they are the ones its experts read.
    """

    def __init__(self, store: Store, features: FeatureConfig, runtime: Any, times: np.ndarray,
                 *, chunk: int = FAST_BATCH, ledger: LedgerTarget | None = None) -> None:  # fmt: skip
        clock = time.perf_counter()
        self.runtime, self.features, self.chunk = runtime, features, chunk
        found = check_experts(runtime.experts)
        self.history = InputHistory(
            store, int(times[0]), int(times[-1]), features, model_slots(found)
        )
        self.times = [int(t) for t in times]
        self.position = {t: i for i, t in enumerate(self.times)}
        self.writer = (None if ledger is None else
                       LedgerWriter(ledger[0], epoch=ledger[1], worker=0, background=False))  # fmt: skip
        self.table: dict[int, Outputs] = {}
        self.inputs: dict[int, tuple[Any, Any, dict[str, Any]]] = {}
        self.start = 0
        self.walked: dict[str, tuple[Any, Any, np.ndarray, np.ndarray]] = {}
        #: Each decision's input summary (the monitor's view; inputs do not change with models).
        self.summaries: dict[int, Any] = {}
        self.timing = {"history_s": time.perf_counter() - clock, "inputs_s": 0.0, "experts_s": 0.0}

    def _experts(self) -> dict[str, Any]:
        experts = dict(self.runtime.experts)
        experts.update({shadow_key(n): e for n, e in self.runtime.shadows.items()})
        return experts

    def _compute(self, k: int) -> None:
        chunk = self.times[k : k + self.chunk]
        experts = self._experts()
        found = check_experts(experts)
        table: dict[int, Outputs] = {t: ({}, {}) for t in chunk}
        scores: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        windows, base, read = _batch(self.history, experts, found, dependency_order(found), chunk,
                                     table, scores, self.timing)  # fmt: skip
        self.walked = {}
        for name, [(q3, v3)] in scores.items():
            expert = experts[name]
            before = expert.state()
            for t, out in zip(chunk, expert.walk(chunk, q3, v3), strict=True):
                table[t][0][name] = out
            self.walked[name] = (expert, before, q3, v3)
        self.table, self.start = table, k
        self.inputs = {t: (w, x, read[t]) for t, w, x in zip(chunk, windows, base, strict=True)}
        self.summaries.update({t: input_summary(x) for t, x in zip(chunk, base, strict=True)})

    def __call__(self, t: int) -> Outputs:
        """Return the outputs at decision ``t`` (the runtime's ``outputs_at``)."""
        if t not in self.table:
            self._compute(self.position[t])
        if self.writer is not None:
            w, x, read = self.inputs[t]
            self.writer.record(t, self.features.primary_symbol, self.history.layout, w,
                               _read_inputs(self.writer.epoch, t, x, read), [])  # fmt: skip
        return self.table[t]

    def invalidate(self, t: int) -> None:
        """Compute again from decision ``t`` on: the experts changed there."""
        if t not in self.table:
            return
        taken = self.position[t] - self.start
        for expert, before, q3, v3 in self.walked.values():
            expert.restore(before)
            expert.walk(self.times[self.start : self.start + taken], q3[:taken], v3[:taken])
        self.table, self.inputs, self.walked = {}, {}, {}

    def flush(self) -> None:
        """Write the inputs taken so far to the ledger."""
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        """Write what is left to the ledger."""
        if self.writer is not None:
            self.writer.close()
