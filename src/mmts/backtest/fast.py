"""The backtest's fast path: expert outputs in batch from history, then the same decision loop.

:func:`batch_outputs` builds every decision's input with ``InputHistory`` (bit-identical to the
step driver) and runs experts without upstream models in batches; experts with upstream models
(the DQN) run in time order on the same inputs with those outputs in their slots. The runtime then replays only the
bars the venue fills against, taking the outputs from this table instead of running the models
— so mixture, risk, orders and fills are the very same code. On bar-only history the orders
equal the event loop's (tested).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mmts.config import FeatureConfig
from mmts.features.history import InputHistory
from mmts.features.inputs import with_model_outputs
from mmts.models.output import ModelOutput

Outputs = tuple[dict[str, ModelOutput | None], dict[str, str]]


def batch_outputs(store: Any, features: FeatureConfig, experts: dict[str, Any], times: np.ndarray,
                  batch: int = 256) -> dict[int, Outputs]:  # fmt: skip
    """Return ``{t: (outputs, failures)}`` for every decision time (the runtime's ``outputs_at``)."""
    slots = tuple(sorted({u for e in experts.values() for u in getattr(e, "upstream", ())}))
    lo, hi = int(times[0]), int(times[-1])
    history = InputHistory(store, lo, hi, features, slots)
    order = sorted(experts, key=lambda n: len(getattr(experts[n], "upstream", ())))
    table: dict[int, Outputs] = {int(t): ({}, {}) for t in times}
    slot = history.layout.slot_size
    for k in range(0, times.shape[0], batch):
        chunk = [int(t) for t in times[k : k + batch]]
        base = [history.at(t, {}) for t in chunk]
        for name in order:
            expert = experts[name]
            upstream = tuple(getattr(expert, "upstream", ()))
            if not upstream and hasattr(expert, "predict_batch") and not hasattr(expert, "reset"):
                try:
                    for t, out in zip(chunk, expert.predict_batch(base), strict=True):
                        table[t][0][name] = out
                    continue
                except Exception as e:  # noqa: BLE001 - fall back to one at a time, like the loop
                    del e
            if upstream and hasattr(expert, "predict_sequence"):
                ready = [all(table[t][0].get(u) is not None for u in upstream) for t in chunk]
                if all(ready):
                    xs = [with_model_outputs(x, {u: table[t][0][u].to_slot(slot) for u in upstream})  # type: ignore[union-attr]
                          for t, x in zip(chunk, base, strict=True)]  # fmt: skip
                    for t, out in zip(chunk, expert.predict_sequence(xs), strict=True):
                        table[t][0][name] = out
                    continue
            for t, x in zip(chunk, base, strict=True):
                outputs, failures = table[t]
                try:
                    if upstream:
                        missing = [u for u in upstream if outputs.get(u) is None]
                        if missing:
                            raise RuntimeError(f"upstream {missing} produced no output")
                        x = with_model_outputs(x, {u: outputs[u].to_slot(slot) for u in upstream})  # type: ignore[union-attr]
                    outputs[name] = expert.predict(x)
                except Exception as e:  # noqa: BLE001 - an expert failing must not stop trading
                    failures[name] = f"{type(e).__name__}: {e}"
                    outputs[name] = None
    return table
