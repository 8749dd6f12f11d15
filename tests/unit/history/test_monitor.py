"""Monitoring: rolling scores, drift, data flow and risk raise alerts once, resolve them once;
alerts reach the ledger and a webhook (a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from mmts.history import LedgerWriter, open_ledger
from mmts.history.config import AlertsConfig
from mmts.history.monitor import Monitor, psi
from mmts.history.outcomes import PendingDecision

STEP = 10**9


def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(1)
    reference = rng.normal(size=5000)
    assert psi(reference, rng.normal(size=5000)) < 0.02
    assert psi(reference, rng.normal(loc=1.0, size=5000)) > 0.25
    # The oracle: the textbook sum over the reference's decile bins.
    current = rng.normal(loc=0.3, size=5000)
    edges = np.quantile(reference, np.linspace(0, 1, 11)[1:-1])
    r = np.histogram(reference, np.concatenate([[-np.inf], edges, [np.inf]]))[0] / 5000
    c = np.histogram(current, np.concatenate([[-np.inf], edges, [np.inf]]))[0] / 5000
    assert psi(reference, current) == pytest.approx(((c - r) * np.log(c / r)).sum(), rel=1e-9)


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _outcome(monitor: Monitor, when: int, correct: bool, brier: float, p: float) -> None:
    pending = PendingDecision(when, 100.0, names=["cnn"], roles=["active"], input_ids=["0:0"],
                              actions=[2], probabilities=[(0.0, 1 - p, p)], weights=[1.0])  # fmt: skip
    rows = {"model": ["cnn", "mixture"], "role": ["active", "active"], "correct": [correct, correct],
            "brier": [brier, None], "resolved_at": [when + 60 * STEP] * 2}  # fmt: skip
    monitor.on_outcomes(pending, rows)


def test_alerts_go_to_the_ledger_and_a_local_webhook_once_each(tmp_path: Path) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Hook.received = []
    try:
        cfg = AlertsConfig(webhook_url=f"http://127.0.0.1:{server.server_port}/alerts", window=10,
                           min_accuracy=0.4, stale_feed_s=30.0)  # fmt: skip
        writer = LedgerWriter(tmp_path, background=False)
        monitor = Monitor(cfg, writer, decision_every_ns=STEP, max_drawdown=0.1)
        for k in range(10):  # a model right 2 times in 10, confident all the same
            _outcome(monitor, k * STEP, correct=k < 2, brier=1.2, p=0.9)
        for k in range(10, 13):  # still bad: no second alert
            _outcome(monitor, k * STEP, correct=False, brier=1.2, p=0.9)
        monitor.on_decision(100 * STEP, None, (), 0.02)
        monitor.on_decision(200 * STEP, None, (), 0.085)  # 100 s gap; 85 % of the drawdown limit
        monitor.on_decision(
            201 * STEP,
            None,
            ("max_drawdown: drawdown 10.10% >= 10.00%; new entries halted",),
            0.101,
        )
        monitor.on_decision(202 * STEP, None, (), 0.05)
        for k in range(13, 33):  # the model recovers
            _outcome(monitor, k * STEP, correct=True, brier=0.1, p=0.9)
        monitor.close()
        writer.close()
    finally:
        server.shutdown()
    alerts = open_ledger(tmp_path).alerts()
    raised = alerts[alerts["severity"] != "resolved"]
    assert sorted(raised["kind"]) == sorted(["accuracy", "brier", "calibration", "stale_feed",
                                             "drawdown", "risk"])  # fmt: skip
    accuracy = raised[raised["kind"] == "accuracy"].iloc[0]
    assert accuracy["reason"] == "cnn: rolling accuracy 20.0% over 10 outcomes (alert below 40%)"
    assert accuracy["value"] == pytest.approx(0.2) and accuracy["threshold"] == 0.4
    assert (
        "100 s since the previous decision"
        in raised[raised["kind"] == "stale_feed"].iloc[0]["reason"]
    )
    assert (
        "drawdown 8.50% is 85% of the 10.00% limit"
        in raised[raised["kind"] == "drawdown"].iloc[0]["reason"]
    )
    resolved = alerts[alerts["severity"] == "resolved"]
    assert {"accuracy", "stale_feed", "drawdown", "risk"} <= set(resolved["kind"])
    assert len(_Hook.received) == len(alerts)  # every alert also went to the webhook
    assert _Hook.received[0]["kind"] == alerts["kind"].iloc[0]


@pytest.mark.slow
def test_a_backtest_without_a_book_alerts_that_the_book_blocks_are_masked(
    experiment: str, tmp_path: Path, run_rules: Any
) -> None:
    """Bars-only history: the COB blocks are always masked, and the ledger says so."""
    result = run_rules(experiment, tmp_path / "runs")
    alerts = open_ledger(result["run_dir"]).alerts()
    masked = alerts[alerts["kind"] == "masked_input"]
    assert {"cob", "imbalance", "ohlcv_1s", "ref_ohlcv_1s"} <= set(masked["subject"])
    assert "100% of block cob's rows masked" in masked[masked["subject"] == "cob"].iloc[0]["reason"]


def test_drift_is_measured_against_the_reference_it_is_given_and_named(tmp_path: Path) -> None:
    cfg = AlertsConfig(window=200, max_psi=0.25)
    writer = LedgerWriter(tmp_path, background=False)
    monitor = Monitor(cfg, writer, decision_every_ns=STEP)
    rng = np.random.default_rng(2)
    monitor.set_reference([{"ohlcv_1m": (float(v), 0.0)} for v in rng.normal(size=800)],
                          "cnn's training period 2024-07-27 .. 2024-08-13")  # fmt: skip
    for k in range(300):  # same distribution as the reference: no alert, from the first window on
        monitor.on_decision(k * STEP, {"ohlcv_1m": (float(rng.normal()), 0.0)}, (), 0.0)
    for k in range(300, 500):  # shifted by one standard deviation
        monitor.on_decision(k * STEP, {"ohlcv_1m": (float(rng.normal(1.0)), 0.0)}, (), 0.0)
    writer.close()
    drift = open_ledger(tmp_path).alerts()
    drift = drift[drift["kind"] == "input_drift"]
    assert len(drift) == 1 and drift.iloc[0]["time"].value > 300 * STEP
    assert "against cnn's training period 2024-07-27 .. 2024-08-13" in drift.iloc[0]["reason"]


def test_the_runtime_takes_its_drift_reference_from_the_training_period_in_the_store(
    experiment: str, sample_store_path: Path, tmp_path: Path
) -> None:
    from mmts.core.time import to_ns
    from mmts.data import open_store
    from mmts.history.monitor import reference_summaries
    from mmts.models.experiment import load_experiment
    from mmts.runtime.config import load_trading
    from mmts.runtime.setup import new_runtime
    from mmts.testing.experts import untrained_experts

    exp, trading = load_experiment(experiment), load_trading(experiment)
    store = open_store(sample_store_path)
    start = to_ns("2024-08-20T00:00:00Z") or 0
    experts = untrained_experts(exp, store, start, seed=1, rules=("ma_cross",))
    writer = LedgerWriter(tmp_path / "a", background=False)
    runtime = new_runtime(exp, trading, experts, start=start, ledger=writer, store=store)
    assert runtime.monitor.reference is None  # nobody says what it trained on: the first decisions
    assert runtime.monitor.reference_source == "the first 200 decisions"
    span = ("2024-08-01T00:00:00Z", "2024-08-03T00:00:00Z")
    experts["rl"].trained_on = span
    runtime = new_runtime(exp, trading, experts, start=start, ledger=writer, store=store)
    assert runtime.monitor.reference_source == "rl's training period 2024-08-01 .. 2024-08-03"
    lo, hi = to_ns(span[0]) or 0, to_ns(span[1]) or 0
    want = reference_summaries(store, exp.features, lo, hi, exp.decision_step, 800)
    assert len(want) == 577  # 2 days of 5-minute decisions, both ends in (fewer than asked)
    np.testing.assert_array_equal(runtime.monitor.reference["ohlcv_1m"],
                                  [s["ohlcv_1m"][0] for s in want])  # fmt: skip
    assert np.isfinite(runtime.monitor.reference["ohlcv_1m"]).all()
    writer.close()
