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

from mmts.core.performance import YEAR_NS, max_drawdown, sharpe_ratio
from mmts.core.stores import MarketData
from mmts.core.time import iso
from mmts.execution.costs import position_returns
from mmts.features.history import InputHistory
from mmts.features.inputs import ModelInput
from mmts.models.dataset import Decisions, label_decisions, stretches
from mmts.models.experiment import Experiment
from mmts.models.expert import check_experts, dependency_order
from mmts.models.labels import UNKNOWN
from mmts.models.metrics import calibration_error, calibration_table, macro_f1
from mmts.models.output import Action, InputUnavailable, ModelOutput
from mmts.models.splits import Segments
from mmts.models.summary import summary_features


def signal_returns(actions: np.ndarray, prices: np.ndarray, times: np.ndarray,
                   exp: Experiment) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Per-step net returns and turnover of trading per-decision actions (class indices).

    Each action's position (BUY +1, SELL -1, HOLD 0) is held to the next decision, with the
    cost model (``position_returns``); at a hole in the history (``dataset.stretches``) the
    position is closed and the next stretch starts flat.
    """
    positions = np.asarray(actions, np.float64) - 1.0
    parts = [position_returns(positions[s], prices[s], exp.costs) for s in stretches(times, exp)]
    if not parts:
        return np.empty(0), np.empty(0)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def trading_metrics(actions: np.ndarray, labels: np.ndarray, prices: np.ndarray,
                    times: np.ndarray, exp: Experiment) -> dict[str, Any]:  # fmt: skip
    """Classification and trading metrics of per-decision actions (class indices)."""
    known = labels != UNKNOWN
    matrix = np.zeros((3, 3))
    np.add.at(matrix, (labels[known], actions[known]), 1)
    returns, turnover = signal_returns(actions, prices, times, exp)
    return {
        "accuracy": float((actions[known] == labels[known]).mean()) if known.any() else None,
        "f1_macro": macro_f1(matrix),
        "net_return": float(np.prod(1.0 + returns) - 1.0) if returns.size else 0.0,
        "sharpe": sharpe_ratio(returns, YEAR_NS / exp.decision_step),
        "max_drawdown": max_drawdown(np.concatenate([[1.0], np.cumprod(1.0 + returns)])),
        "trades": int((turnover > 0).sum()),
        "decisions": int(actions.shape[0]),
    }


def _inputs(history: InputHistory, times: np.ndarray) -> list[ModelInput]:
    return [history.at(int(t)) for t in times]


def evaluate(store: MarketData, exp: Experiment, start: object, end: object,
             models: dict[str, Any], *, batch: int = 256,
             train_store: MarketData | None = None, segments: Segments | None = None,
             keep_returns: bool = False) -> dict[str, Any]:  # fmt: skip
    """Evaluate ``models`` (name → predictor; rules too) and the baselines.

    ``store`` holds the evaluated period; the logistic baseline is fitted on the experiment's
    training segment in ``train_store`` (default: the experiment's own ``store``), so a store
    of newly imported later months evaluates models trained on the bundled data; ``segments``
    (a study fold) names that training segment instead of the ``[data]`` split.
    ``keep_returns``: also return every model's and baseline's per-step net returns under
    ``"returns"`` (arrays, for bootstrap intervals; not JSON).

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
                fresh[name] = _predict(model, found[name].batch, xs_up)
            else:
                fresh[name] = _predict(model, found[name].batch, xs)
            predictions[name].extend(fresh[name])
    labels, prices, times = period.labels, period.prices, period.times
    known = labels != UNKNOWN
    returns: dict[str, np.ndarray] = {}

    def scored(name: str, actions: np.ndarray, confidence: np.ndarray | None) -> dict[str, Any]:
        metrics = trading_metrics(actions, labels, prices, times, exp)
        if confidence is not None:
            table = calibration_table(confidence[known], actions[known] == labels[known])
            metrics["calibration"] = table
            metrics["calibration_error"] = calibration_error(table)
        returns[name] = signal_returns(actions, prices, times, exp)[0]
        return metrics

    for name, outputs in predictions.items():
        actions = np.array([int(o.action) for o in outputs])
        out["models"][name] = scored(name, actions, np.array([o.confidence for o in outputs]))
        out["models"][name]["abstained"] = sum(bool(o.metadata.get("abstained")) for o in outputs)
    n = times.shape[0]
    out["baselines"]["buy_and_hold"] = scored("buy_and_hold", np.full(n, int(Action.BUY)), None)
    out["baselines"]["flat"] = scored("flat", np.full(n, int(Action.HOLD)), None)
    if train_store is None:
        from mmts.data import open_store

        train_store = open_store(exp.store, must_exist=True)
    try:
        train = prepare(train_store, exp, segments=segments).train
    except ValueError as e:
        raise ValueError(
            f"the logistic baseline is fitted on the experiment's training segment, which is "
            f"missing: {e}"
        ) from e
    train_times = train.decisions.times[train.index]
    overlap = (train_times >= times[0]) & (train_times <= times[-1])
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
        proba = logistic.predict_proba(np.stack(summaries))
        classes = np.asarray(logistic.classes_, np.int64)
        actions = classes[np.argmax(proba, axis=1)]
        confidence = proba.max(axis=1)
    else:
        actions, confidence = np.full(n, int(y_train[0])), np.ones(n)
    out["baselines"]["logistic"] = scored("logistic", actions, confidence)
    if keep_returns:
        out["returns"] = returns
    return out


def _predict(model: Any, batch: bool, xs: list[ModelInput]) -> list[ModelOutput]:
    """Predict decisions in time order: in one batch where the expert can, else one by one.

    An expert that cannot decide on an input (``InputUnavailable``: a rule without an order
    book) abstains there: it holds (stays flat), with no confidence either way.
    """
    if batch:
        return list(model.predict_batch(xs))
    out = []
    for x in xs:
        try:
            out.append(model.predict(x))
        except InputUnavailable:
            out.append(ModelOutput(
                model_name=model.name, model_type=model.model_type,
                model_version=str(getattr(model, "version", "rule")), symbol=x.layout.config.primary_symbol,
                at=int(x.at), action=Action.HOLD, probabilities=np.full(3, 1.0 / 3.0),
                confidence=1.0 / 3.0, metadata={"abstained": True},
            ))  # fmt: skip
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
