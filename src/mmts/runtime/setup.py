"""Build a runtime from an experiment: the one construction backtest and live share.

Same experiment and trading tables -> same experts, mixture, risk, venue model and portfolio,
whichever driver feeds the events. ``runtime_frames`` turns what a runtime recorded into the
tables both write (``decisions``, ``fills``, ``orders``, ``equity``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmts.core.stores import MarketData
from mmts.core.time import iso, to_ns
from mmts.execution.portfolio import Portfolio
from mmts.execution.venue import SimulatedVenue
from mmts.history.monitor import InputSummary, Monitor, reference_summaries
from mmts.history.writer import LedgerWriter
from mmts.models.experiment import Experiment
from mmts.models.registry import create_model, model_kind
from mmts.runtime.config import TradingConfig
from mmts.runtime.engine import Runtime, RuntimeConfig
from mmts.strategy.moe import MixtureOfExperts

log = logging.getLogger(__name__)


def build_experts(exp: Experiment, trading: TradingConfig, checkpoint_dir: str | Path | None = None
                  ) -> tuple[dict[str, Any], dict[str, str]]:  # fmt: skip
    """Create the configured experts; return them and their versions (checkpoint ids, 'rule')."""
    from mmts.models.predictors import load_active_models

    wanted = trading.backtest.experts
    kinds = {name: model_kind(name) for name in wanted}  # unknown names: an error listing the known
    models: dict[str, Any] = {}
    trained = [name for name, kind in kinds.items() if kind.trained]
    if trained:
        models, _ = load_active_models(
            checkpoint_dir or exp.checkpoints.dir,
            exp.features,
            exp.checkpoints.keep,
            experiment=exp,
            names=trained,
        )
    experts: dict[str, Any] = {}
    versions: dict[str, str] = {}
    for name, kind in kinds.items():
        if not kind.trained:
            experts[name] = create_model(name, name=name)
            versions[name] = str(getattr(experts[name], "version", "rule"))
        elif name in models:
            experts[name] = models[name]
            versions[name] = models[name].version
        else:
            raise FileNotFoundError(
                f"expert {name!r} has no checkpoint: run `mmts train {name}` (or `nox -s backtest`)"
            )
    return experts, versions


def new_runtime(exp: Experiment, trading: TradingConfig, experts: dict[str, Any], *,
                start: int | None, venue: Any = None, portfolio: Portfolio | None = None,
                outputs_at: Any = None, ledger: LedgerWriter | None = None,
                store: MarketData | None = None) -> Runtime:  # fmt: skip
    """Build the runtime of ``exp`` with ``experts``; ``venue`` defaults to the simulated (paper) one.

    ``store``: where the monitor reads the training period's inputs, its drift reference
    (:func:`drift_reference`); without one it measures drift against the first decisions.
    """
    bt = trading.backtest
    if venue is None:
        venue = SimulatedVenue(
            exp.costs, latency_ns=int(bt.latency_ms * 1e6), slippage_bps=bt.slippage_bps
        )
    runtime_cfg = RuntimeConfig(decision_every_ns=exp.decision_step, horizon_ns=exp.horizon_ns, costs=exp.costs,
                                dead_zone=exp.labels.dead_zone, fill_timeframe=bt.fill_timeframe)  # fmt: skip
    runtime = Runtime(runtime_cfg, exp.features, experts, MixtureOfExperts(trading.strategy),
                      trading.risk, venue, portfolio or Portfolio(cash=bt.initial_cash),
                      start=start, outputs_at=outputs_at, ledger=ledger)  # fmt: skip
    if ledger is not None:  # monitoring writes its alerts to the ledger (and a webhook)
        runtime.monitor = Monitor(trading.alerts, ledger, decision_every_ns=exp.decision_step,
                                  max_drawdown=trading.risk.max_drawdown)  # fmt: skip
        runtime.on_outcomes.append(runtime.monitor.on_outcomes)
        if store is not None and trading.alerts.drift_reference == "training":
            found = drift_reference(store, exp, experts, 4 * trading.alerts.window)
            if found is not None:
                runtime.monitor.set_reference(*found)
    return runtime


def drift_reference(store: MarketData, exp: Experiment, experts: dict[str, Any], n: int
                    ) -> tuple[list[InputSummary], str] | None:  # fmt: skip
    """Return the first trained expert's training-period input summaries, and what they are.

    None when no expert says what it trained on (``trained_on``: untrained or rule experts) or
    the store holds none of that period.
    """
    for name, expert in experts.items():
        span = getattr(expert, "trained_on", None)
        if not span:
            continue
        lo, hi = to_ns(span[0]), to_ns(span[1])
        if lo is None or hi is None or hi <= lo:
            continue
        try:
            summaries = reference_summaries(store, exp.features, lo, hi, exp.decision_step, n)
        except (ValueError, KeyError) as e:  # the store does not hold that period
            log.warning("drift reference: %s's training period %s .. %s is not readable (%s); "
                        "measuring drift against the first decisions", name, *span, e)  # fmt: skip
            return None
        if summaries:
            source = f"{name}'s training period {iso(lo)[:10]} .. {iso(hi)[:10]}"
            return summaries, source
    return None


def runtime_frames(
    runtime: Runtime, since: dict[str, int] | None = None
) -> dict[str, pd.DataFrame]:
    """Return the runtime's fills, orders, equity and decisions as tables (times as UTC datetimes).

    ``since``: per table, how many leading rows to leave out (a live session saves what is new).
    """
    since = since or {}
    fill_list = runtime.fills[since.get("fills", 0) :]
    order_list = runtime.orders[since.get("orders", 0) :]
    fills = pd.DataFrame({
        "time": [f.time for f in fill_list], "order_id": [f.order_id for f in fill_list],
        "side": [1 if f.qty > 0 else -1 for f in fill_list],
        "qty": [abs(float(f.qty)) for f in fill_list], "signed_qty": [float(f.qty) for f in fill_list],
        "price": [float(f.price) for f in fill_list], "fee": [float(f.fee) for f in fill_list],
        "liquidity": [f.liquidity for f in fill_list],
    })  # fmt: skip
    orders = pd.DataFrame({
        "time": [o.time for o in order_list], "order_id": [o.id for o in order_list],
        "qty": [float(o.qty) for o in order_list],
        "limit": [np.nan if o.limit is None else float(o.limit) for o in order_list],
    })  # fmt: skip
    equity = pd.DataFrame(runtime.equity[since.get("equity", 0) :], columns=["time", "equity", "position", "price"])  # fmt: skip
    decisions = pd.DataFrame(runtime.decisions[since.get("decisions", 0) :])
    for frame in (fills, orders, equity, decisions):
        if "time" in frame:
            frame["time"] = pd.to_datetime(frame["time"].astype("int64"), utc=True)
    return {"fills": fills, "orders": orders, "equity": equity, "decisions": decisions}
