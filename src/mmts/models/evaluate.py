"""Honest evaluation: a period the model never saw, beside simple baselines on the same period.

For every model and baseline: accuracy and macro-F1 against the cost-aware labels, and the net
result of trading the signal with the cost model (``mmts.execution.position_returns``): at each
decision take the action's position (BUY +1, SELL -1, HOLD 0) and hold it to the next decision.
Baselines: buy-and-hold (always long), flat (never in the market) and a logistic regression on
the same input blocks, summarised per block (last row and mean over available rows of every
feature, plus the share of rows available), fitted on the experiment's training segment.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mmts.core.performance import YEAR_NS, sharpe_ratio
from mmts.core.stores import MarketData
from mmts.core.time import iso
from mmts.execution.costs import position_returns
from mmts.features.history import InputHistory
from mmts.features.inputs import ModelInput
from mmts.models.dataset import Decisions, label_decisions
from mmts.models.experiment import Experiment
from mmts.models.expert import check_experts, dependency_order
from mmts.models.labels import UNKNOWN
from mmts.models.metrics import calibration_table, macro_f1
from mmts.models.output import Action
from mmts.models.summary import summary_features


def trading_metrics(actions: np.ndarray, labels: np.ndarray, prices: np.ndarray,
                    exp: Experiment) -> dict[str, Any]:  # fmt: skip
    """Classification and trading metrics of per-decision actions (class indices)."""
    known = labels != UNKNOWN
    matrix = np.zeros((3, 3))
    np.add.at(matrix, (labels[known], actions[known]), 1)
    positions = np.asarray(actions, np.float64) - 1.0
    returns, turnover = position_returns(positions, prices, exp.costs)
    return {
        "accuracy": float((actions[known] == labels[known]).mean()) if known.any() else None,
        "f1_macro": macro_f1(matrix),
        "net_return": float(np.prod(1.0 + returns) - 1.0) if returns.size else 0.0,
        "sharpe": sharpe_ratio(returns, YEAR_NS / exp.decision_step),
        "trades": int((turnover > 0).sum()),
        "decisions": int(actions.shape[0]),
    }


def _inputs(history: InputHistory, times: np.ndarray) -> list[ModelInput]:
    return [history.at(int(t)) for t in times]


def evaluate(store: MarketData, exp: Experiment, start: object, end: object,
             models: dict[str, Any], *, batch: int = 256,
             train_store: MarketData | None = None) -> dict[str, Any]:  # fmt: skip
    """Evaluate ``models`` (name → predictor with ``predict_batch``) and the baselines.

    ``store`` holds the evaluated period; the logistic baseline is fitted on the experiment's
    training segment in ``train_store`` (default: the experiment's own ``store``), so a store
    of newly imported later months evaluates models trained on the bundled data.

    A predictor with an ``upstream`` tuple (the DQN reads the CNN) gets inputs whose
    ``model_outputs`` slots hold those models' outputs for the same decision; stateful ones
    (``reset``) start flat.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mmts.models.prepare import prepare

    period = label_decisions(store, exp, start, end)
    if period.times.shape[0] < 2:
        raise ValueError(f"fewer than 2 decisions between {start} and {end}: no bars there")
    history = InputHistory(store, int(period.times[0]), int(period.times[-1]), exp.features)
    out: dict[str, Any] = {"period": _period(period, exp), "models": {}, "baselines": {}}
    summaries: list[np.ndarray] = []
    predictions: dict[str, list[Any]] = {name: [] for name in models}
    chained: dict[tuple[str, ...], InputHistory] = {}
    found = check_experts(models)
    for name, model in models.items():
        if found[name].resettable:
            model.reset()
        upstream = found[name].upstream
        if upstream and upstream not in chained:
            missing = [u for u in upstream if u not in models]
            if missing:
                raise ValueError(f"{model.name} reads the outputs of {missing}: evaluate them too")
            chained[upstream] = InputHistory(store, int(period.times[0]), int(period.times[-1]),
                                             exp.features, upstream)  # fmt: skip
    order = dependency_order(found)
    for lo in range(0, period.times.shape[0], batch):
        times = period.times[lo : lo + batch]
        xs = _inputs(history, times)
        summaries.extend(summary_features(x) for x in xs)
        fresh: dict[str, list[Any]] = {}
        for name in order:
            model = models[name]
            upstream = found[name].upstream
            if upstream:
                slot = chained[upstream].layout.slot_size
                xs_up = [
                    chained[upstream].at(int(t), {u: fresh[u][i].to_slot(slot) for u in upstream})
                    for i, t in enumerate(times)
                ]
                fresh[name] = model.predict_batch(xs_up)
            else:
                fresh[name] = model.predict_batch(xs)
            predictions[name].extend(fresh[name])
    labels = period.labels
    for name, outputs in predictions.items():
        actions = np.array([int(o.action) for o in outputs])
        metrics = trading_metrics(actions, labels, period.prices, exp)
        known = labels != UNKNOWN
        conf = np.array([o.confidence for o in outputs])
        metrics["calibration"] = calibration_table(conf[known], actions[known] == labels[known])
        out["models"][name] = metrics
    n = period.times.shape[0]
    out["baselines"]["buy_and_hold"] = trading_metrics(
        np.full(n, int(Action.BUY)), labels, period.prices, exp
    )
    out["baselines"]["flat"] = trading_metrics(
        np.full(n, int(Action.HOLD)), labels, period.prices, exp
    )
    if train_store is None:
        from mmts.data import open_store

        train_store = open_store(exp.store, must_exist=True)
    try:
        train = prepare(train_store, exp).train
    except ValueError as e:
        raise ValueError(
            f"the logistic baseline is fitted on the experiment's training segment, which is "
            f"missing: {e}"
        ) from e
    train_times = train.decisions.times[train.index]
    overlap = (train_times >= period.times[0]) & (train_times <= period.times[-1])
    if overlap.any():
        out["warnings"] = [
            f"{int(overlap.sum())} training decisions fall inside the evaluated period"
        ]
    x_train = np.stack([summary_features(train.history.at(int(t))) for t in train_times])
    y_train = train.decisions.labels[train.index]
    if np.unique(y_train).shape[0] > 1:
        logistic = make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=1000, class_weight="balanced")
        )
        logistic.fit(x_train, y_train)
        actions = logistic.predict(np.stack(summaries)).astype(np.int64)
    else:
        actions = np.full(n, int(y_train[0]))
    out["baselines"]["logistic"] = trading_metrics(actions, labels, period.prices, exp)
    return out


def _period(period: Decisions, exp: Experiment) -> dict[str, Any]:
    known = period.labels != UNKNOWN
    counts = np.bincount(period.labels[known], minlength=3)
    return {
        "start": iso(int(period.times[0])),
        "end": iso(int(period.times[-1])),
        "decisions": int(period.times.shape[0]),
        "labelled": int(known.sum()),
        "label_counts": {a.name: int(counts[int(a)]) for a in Action},
        "decision_every": f"{exp.data.decision_every} x {exp.data.decision_timeframe}",
        "horizon_bars": exp.labels.horizon,
        "costs": exp.costs.resolved(),
    }
