"""Monitoring: rolling model health, input drift, data flow, learning and risk; alerts.

The same :class:`Monitor` runs in replay and live, fed by the runtime (every decision's inputs
and verdict, every judged outcome). What it watches, per model over the last ``window`` judged
predictions: accuracy, Brier score, calibration (``|mean confidence - accuracy|``) and mean
confidence; per input block, drift as the population stability index (PSI, 10 bins) of the
block's summary (the mean of its available values) against a reference window, and the share
of masked rows; the data flow (a decision gap longer than ``stale_feed_s``, ledger write
errors, which the writer raises itself); risk (drawdown reaching ``drawdown_warning`` of
``[risk] max_drawdown``, halts, the circuit breaker, rejected orders).

An alert is raised when a condition starts and ``resolved`` when it ends, each once: a row
of the ledger's ``alerts`` (time, severity, kind, subject, a reason naming the numbers, the
value and the threshold), a log line, and a POST to ``[alerts] webhook_url`` when one is set
(:class:`Webhook`, off the decision loop). The drift reference is the model's training period
when the caller gives one (:meth:`Monitor.set_reference` with :func:`reference_summaries`,
which the runtime's set-up does), else the run's first ``window`` decisions.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import urllib.request
from collections import deque
from typing import Any

import numpy as np

from mmts.config import FeatureConfig
from mmts.core.stores import MarketData
from mmts.features.history import InputHistory
from mmts.features.inputs import ModelInput
from mmts.history.config import AlertsConfig
from mmts.history.writer import LedgerWriter

log = logging.getLogger(__name__)

#: PSI bins, and the floor of a bin's share (an empty bin would make the index infinite).
PSI_BINS = 10
PSI_FLOOR = 1e-4
#: The risk manager's limits that raise an alert while they hold (``strategy.risk`` reasons).
RISK_ALERTS = {"daily_loss_limit": "critical", "max_drawdown": "critical",
               "circuit_breaker": "critical", "stale_data": "warning", "invalid_input": "critical"}  # fmt: skip
#: Blocks whose summary drift is watched (the model-output slots follow the models).
DRIFT_BLOCKS_SKIPPED = ("model_outputs", "anchors")


#: Per watched block: (the mean of its available rows, the share of its rows masked).
InputSummary = dict[str, tuple[float, float]]


def input_summary(x: ModelInput) -> InputSummary:
    """Return what the monitor watches of an input (cheap: any driver computes it)."""
    out = {}
    for name, block in x.blocks.items():
        if name in DRIFT_BLOCKS_SKIPPED:
            continue
        mask = x.masks[name]
        n = np.count_nonzero(mask)
        mean = float(block[mask].mean()) if n else float("nan")
        out[name] = (mean, 1.0 - n / mask.size if mask.size else 0.0)
    return out


def psi(reference: np.ndarray, current: np.ndarray, bins: int = PSI_BINS) -> float:
    """Return the population stability index of ``current`` against ``reference``.

    Bins are the reference's deciles; ``sum((c - r) * ln(c / r))`` over the bins' shares.
    """
    reference = reference[np.isfinite(reference)]
    current = current[np.isfinite(current)]
    if reference.shape[0] < bins or current.shape[0] < bins:
        return float("nan")
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    r = (
        np.bincount(np.searchsorted(edges, reference), minlength=edges.shape[0] + 1)
        / reference.shape[0]
    )
    c = (
        np.bincount(np.searchsorted(edges, current), minlength=edges.shape[0] + 1)
        / current.shape[0]
    )
    r, c = np.maximum(r, PSI_FLOOR), np.maximum(c, PSI_FLOOR)
    return float(((c - r) * np.log(c / r)).sum())


def reference_summaries(store: MarketData, features: FeatureConfig, start: int, end: int, step_ns: int,
                        n: int) -> list[InputSummary]:  # fmt: skip
    """Return input summaries at up to ``n`` decision times spread evenly over ``[start, end]``.

    The drift reference of a model's training period: the inputs it learned from, as the
    runtime would have built them (``features.history.InputHistory``, the batch driver).
    """
    times = np.unique(np.linspace(start, end, max(2, n)).astype(np.int64) // step_ns * step_ns)
    times = times[(times >= start) & (times <= end)]
    if times.shape[0] == 0:
        return []
    history = InputHistory(store, int(times[0]), int(times[-1]), features)
    return [input_summary(history.at(int(t))) for t in times]


class Webhook:
    """POST alerts as JSON to a URL from a thread of its own (a slow hook never slows trading)."""

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url, self.timeout_s = url, timeout_s
        self.sent = 0
        self.failed = 0
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=1000)
        self._thread = threading.Thread(target=self._run, name="alert webhook", daemon=True)
        self._thread.start()

    def __call__(self, alert: dict[str, Any]) -> None:
        """Queue one alert (dropped, and counted, when 1,000 are already waiting)."""
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self.failed += 1

    def _run(self) -> None:
        while (alert := self._queue.get()) is not None:
            body = json.dumps(alert, allow_nan=False, default=str).encode()
            request = urllib.request.Request(self.url, data=body, method="POST",  # noqa: S310 - the user's own URL
                                             headers={"Content-Type": "application/json"})  # fmt: skip
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as reply:  # noqa: S310
                    reply.read()
                self.sent += 1
            except OSError as e:
                self.failed += 1
                log.warning("alert webhook %s failed: %s", self.url, e)

    def close(self, timeout_s: float = 5.0) -> None:
        """Send what is queued (up to ``timeout_s``), then stop."""
        self._queue.put(None)
        self._thread.join(timeout_s)


class Monitor:
    """Watch one runtime's decisions and outcomes; raise and resolve alerts (module docstring)."""

    def __init__(self, cfg: AlertsConfig, writer: LedgerWriter | None, *,
                 decision_every_ns: int, max_drawdown: float | None = None) -> None:  # fmt: skip
        self.cfg, self.writer = cfg, writer
        self.decision_every_ns, self.max_drawdown = decision_every_ns, max_drawdown
        self.webhook = Webhook(cfg.webhook_url) if cfg.webhook_url else None
        self.scores: dict[tuple[str, str], deque[tuple[float, float, float]]] = {}
        self.reference: dict[str, np.ndarray] | None = None
        self.reference_source = f"the first {cfg.window} decisions"
        self._warming: dict[str, list[float]] = {}
        self.recent: dict[str, deque[float]] = {}
        self.masked: dict[str, deque[float]] = {}
        self.open: dict[tuple[str, str], dict[str, Any]] = {}
        self.last_decision: int | None = None
        self.raised = 0

    # -- alerts --------------------------------------------------------------------------------

    def _set(self, at: int, kind: str, subject: str, bad: bool, severity: str, reason: str,
             value: float, threshold: float) -> None:  # fmt: skip
        """Raise an alert when ``bad`` starts, resolve it when it ends (each once)."""
        key = (kind, subject)
        if bad and key not in self.open:
            self.open[key] = self._emit(at, severity, kind, subject, reason, value, threshold)
        elif not bad and key in self.open:
            del self.open[key]
            self._emit(at, "resolved", kind, subject, f"resolved: {reason}", value, threshold)

    def event(self, at: int, severity: str, kind: str, subject: str, reason: str,
              value: float = float("nan"), threshold: float = float("nan")) -> None:  # fmt: skip
        """Raise a one-off alert (a halt, a rejected order, a failed retrain)."""
        self._emit(at, severity, kind, subject, reason, value, threshold)

    def _emit(self, at: int, severity: str, kind: str, subject: str, reason: str, value: float,
              threshold: float) -> dict[str, Any]:  # fmt: skip
        alert = {"time": at, "severity": severity, "kind": kind, "subject": subject,
                 "reason": reason, "value": value, "threshold": threshold}  # fmt: skip
        level = logging.INFO if severity in ("resolved", "info") else logging.WARNING
        log.log(level, "alert %s %s %s: %s", severity, kind, subject, reason)
        self.raised += 1
        if self.writer is not None:
            self.writer.alert(severity, kind, subject, reason, value, threshold, at=at)
        if self.webhook is not None:
            self.webhook({**alert, "value": None if not np.isfinite(value) else value,
                          "threshold": None if not np.isfinite(threshold) else threshold})  # fmt: skip
        return alert

    # -- what the runtime tells ------------------------------------------------------------------

    def set_reference(self, summaries: list[InputSummary], source: str = "the reference") -> None:
        """Use these input summaries (say, the training period's) as the drift reference.

        ``source`` names them in the alerts ("the training period 2024-07-27 .. 2024-08-13").
        """
        names = {k for s in summaries for k in s}
        self.reference = {n: np.array([s.get(n, (np.nan, 0.0))[0] for s in summaries])
                          for n in names}  # fmt: skip
        self.reference_source = source

    def on_decision(self, at: int, summary: InputSummary | None, reasons: tuple[str, ...],
                    drawdown: float) -> None:  # fmt: skip
        """Take one decision: its input's summary (drift, masks), the risk verdict, the drawdown."""
        cfg = self.cfg
        if self.last_decision is not None:
            gap = (at - self.last_decision) / 1e9
            self._set(at, "stale_feed", "decisions", gap > cfg.stale_feed_s, "warning",
                      f"{gap:.0f} s since the previous decision (limit {cfg.stale_feed_s:g} s)",
                      gap, cfg.stale_feed_s)  # fmt: skip
        self.last_decision = at
        if summary is not None:
            self._inputs(at, summary)
        present = {reason.split(":", 1)[0]: reason for reason in reasons}
        for rule, severity in RISK_ALERTS.items():
            self._set(at, "risk", rule, rule in present, severity,
                      present.get(rule, self.open.get(("risk", rule), {}).get("reason", rule)),
                      float("nan"), float("nan"))  # fmt: skip
        if self.max_drawdown and np.isfinite(drawdown):
            limit = cfg.drawdown_warning * self.max_drawdown
            self._set(at, "drawdown", "portfolio", drawdown >= limit, "warning",
                      f"drawdown {drawdown:.2%} is {drawdown / self.max_drawdown:.0%} of the "
                      f"{self.max_drawdown:.2%} limit (alert at {cfg.drawdown_warning:.0%})",
                      drawdown, limit)  # fmt: skip

    def _inputs(self, at: int, summary: InputSummary) -> None:
        cfg = self.cfg
        summaries = {name: mean for name, (mean, _) in summary.items()}
        for name, (_, share) in summary.items():
            masked = self.masked.setdefault(name, deque(maxlen=cfg.window))
            masked.append(share)
            if len(masked) == cfg.window:
                mean = float(np.mean(masked))
                self._set(at, "masked_input", name, mean > cfg.max_masked, "warning",
                          f"{mean:.0%} of block {name}'s rows masked over the last {cfg.window} "
                          f"decisions (alert above {cfg.max_masked:.0%})", mean, cfg.max_masked)  # fmt: skip
        if self.reference is None:
            for name, value in summaries.items():
                self._warming.setdefault(name, []).append(value)
            if len(next(iter(self._warming.values()), [])) >= cfg.window:
                self.reference = {n: np.array(v) for n, v in self._warming.items()}
            return
        for name, value in summaries.items():
            recent = self.recent.setdefault(name, deque(maxlen=cfg.window))
            recent.append(value)
            if len(recent) == cfg.window and name in self.reference:
                index = psi(self.reference[name], np.array(recent))
                if np.isfinite(index):
                    self._set(at, "input_drift", name, index > cfg.max_psi, "warning",
                              f"PSI {index:.3f} of block {name}'s summary over the last "
                              f"{cfg.window} decisions against {self.reference_source} (alert above "
                              f"{cfg.max_psi:g})", index, cfg.max_psi)  # fmt: skip

    def on_outcomes(self, pending: Any, rows: dict[str, list[Any]]) -> None:
        """Take one judged decision's outcomes (the runtime's ``on_outcomes`` hook)."""
        cfg = self.cfg
        at = int(rows["resolved_at"][0]) if rows["resolved_at"] else pending.when
        for k, model in enumerate(rows["model"]):
            if model == "mixture" or rows["brier"][k] is None:
                continue
            role = rows["role"][k]
            idx = pending.names.index(model) if model in pending.names else -1
            confidence = max(pending.probabilities[idx]) if idx >= 0 else float("nan")
            scores = self.scores.setdefault((model, role), deque(maxlen=cfg.window))
            scores.append((float(bool(rows["correct"][k])), float(rows["brier"][k]), confidence))
            if len(scores) < cfg.window or role != "active":
                continue
            acc, brier, conf = (float(v) for v in np.mean(np.asarray(scores), axis=0))
            gap = abs(conf - acc)
            self._set(at, "accuracy", model, acc < cfg.min_accuracy, "warning",
                      f"{model}: rolling accuracy {acc:.1%} over {cfg.window} outcomes (alert below "
                      f"{cfg.min_accuracy:.0%})", acc, cfg.min_accuracy)  # fmt: skip
            self._set(at, "brier", model, brier > cfg.max_brier, "warning",
                      f"{model}: rolling Brier {brier:.3f} over {cfg.window} outcomes (alert above "
                      f"{cfg.max_brier:g})", brier, cfg.max_brier)  # fmt: skip
            self._set(at, "calibration", model, gap > cfg.max_calibration_gap, "warning",
                      f"{model}: mean confidence {conf:.1%} vs accuracy {acc:.1%} over {cfg.window} "
                      f"outcomes (alert above a {cfg.max_calibration_gap:.0%} gap)", gap,
                      cfg.max_calibration_gap)  # fmt: skip

    def health(self) -> dict[str, Any]:
        """Return the rolling scores per model and the open alerts (JSON-ready)."""
        models = {}
        for (model, role), scores in self.scores.items():
            if scores:
                acc, brier, conf = (float(v) for v in np.mean(np.asarray(scores), axis=0))
                models[f"{model}/{role}"] = {"accuracy": acc, "brier": brier, "confidence": conf,
                                             "outcomes": len(scores)}  # fmt: skip
        return {"models": models, "open_alerts": list(self.open.values())}

    def close(self) -> None:
        """Send the webhook's last alerts."""
        if self.webhook is not None:
            self.webhook.close()


def ledger_health(ledger: Any, window: int = 200) -> dict[str, Any]:
    """Return a ledger's current health: rolling scores per model, open alerts, data flow.

    ``ledger``: an opened :class:`~mmts.history.ledger.Ledger`. Open alerts are those whose
    latest row (per kind and subject) is not ``resolved``.
    """
    import pandas as pd

    joined = ledger.predictions(with_outcomes=True)
    models = {}
    judged = joined[joined["outcome"].notna() & (joined["model"] != "mixture")]
    for (model, role), rows in judged.groupby(["model", "role"]):
        last = rows.tail(window)
        accuracy = float(last["correct"].astype(bool).mean())
        confidence = float(last["confidence"].mean())
        models[f"{model}/{role}"] = {
            "version": str(last["version"].iloc[-1]), "outcomes": len(last),
            "accuracy": accuracy, "brier": float(last["brier"].mean()),
            "log_loss": float(last["log_loss"].mean()), "confidence": confidence,
            "calibration_gap": abs(confidence - accuracy),
            "follow_return_bps": float(last["follow_return"].mean() * 1e4),
        }  # fmt: skip
    alerts = ledger.alerts()
    open_alerts = []
    if len(alerts):
        latest = alerts.groupby(["kind", "subject"], sort=False).tail(1)
        open_alerts = [{"time": row.time.isoformat(), "severity": row.severity, "kind": row.kind,
                        "subject": row.subject, "reason": row.reason}
                       for row in latest[latest["severity"] != "resolved"].itertuples()]  # fmt: skip
    decisions = joined[joined["model"] == "mixture"]
    last_decision = decisions["time"].max() if len(decisions) else None
    promotions = ledger.promotions()
    return {
        "ledger": str(ledger.folder), "models": models, "open_alerts": open_alerts,
        "alerts_total": len(alerts),
        "data_flow": {
            "decisions": len(decisions),
            "last_decision": None if last_decision is None or pd.isna(last_decision) else last_decision.isoformat(),
            "ledger_bytes": ledger.disk_bytes(),
            "write_errors": int((alerts["kind"] == "ledger_write").sum()) if len(alerts) else 0,
        },
        "learning": [
            {"time": r.time.isoformat(), "model": r.model, "event": r.event,
             "from": r.from_version, "to": r.to_version}
            for r in promotions.tail(10).itertuples()
        ],
    }  # fmt: skip
