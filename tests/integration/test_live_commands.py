"""Operators steer a running paper session through its commands inbox; every command is acked."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path

import pandas as pd
import pytest

from mmts.data import open_store
from mmts.history import open_ledger
from mmts.live.commands import read_ack, send_command
from mmts.live.journal import read_journal
from mmts.live.session import LiveConfig, LiveSession
from mmts.models.experiment import load_experiment
from mmts.runtime.config import load_trading
from mmts.testing.sim_exchange import SimExchange

pytestmark = [pytest.mark.slow, pytest.mark.network]

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = ROOT / "experiments" / "paper_rules.toml"
#: The bundled raw recordings of 2024-08-08 (data/raw: what the sample store was imported from).
RECORDINGS = [ROOT / "data" / "raw" / "binance-ws" / "spot" / f"{s}usdt_20240808.gz"
              for s in ("eth", "btc")]  # fmt: skip


async def _acked(out: Path, cid: str, timeout_s: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ack = read_ack(out, cid)
        if ack is not None:
            return ack
        await asyncio.sleep(0.05)
    raise AssertionError(f"command {cid} was never acknowledged")


def test_commands_reach_the_running_session_between_decisions_and_are_acked(
    sample_store_path: Path, tmp_path: Path
) -> None:
    store = open_store(sample_store_path)
    exp, trading = load_experiment(EXPERIMENT), load_trading(EXPERIMENT)
    out = tmp_path / "live"
    acks: dict[str, dict] = {}
    with SimExchange(RECORDINGS, store=store, speed=10) as sim:
        cfg = LiveConfig(out=out, ws_url=sim.ws_url, rest_url=sim.url, status_every_s=0.5,
                         duration_s=90)  # fmt: skip
        session = LiveSession(exp, trading, cfg, status_stream=io.StringIO())

        async def operator() -> None:
            while session.runtime is None or len(session.runtime.decisions) < 3:
                await asyncio.sleep(0.05)
            acks["thresholds"] = await _acked(out, send_command(
                out, "thresholds", {"buy": 0.9, "sell": 0.95}, who="test"))  # fmt: skip
            acks["bad"] = await _acked(out, send_command(out, "thresholds", {"buy": 5}))
            acks["unknown"] = await _acked(out, send_command(out, "launch_rockets"))
            (out / "commands" / "inbox" / "00000000000000000001-garbage.json").write_text("{nope")
            acks["garbage"] = await _acked(out, "00000000000000000001-garbage")
            acks["pause"] = await _acked(out, send_command(out, "pause"))
            while len(session.runtime.decisions) < 8:
                await asyncio.sleep(0.05)
            acks["stop"] = await _acked(out, send_command(out, "stop"))

        async def main() -> dict:
            started = time.monotonic()
            task = asyncio.create_task(operator())
            summary = await session.run()
            await task
            summary["seconds"] = time.monotonic() - started
            return summary

        summary = asyncio.run(main())
    assert summary["error"] is None and summary["seconds"] < 60  # stopped by the command
    assert {k: a["result"] for k, a in acks.items()} == {
        "thresholds": "applied", "bad": "rejected", "unknown": "rejected", "garbage": "rejected",
        "pause": "applied", "stop": "applied"}  # fmt: skip
    assert "buy_threshold 0.9, sell_threshold 0.95" in acks["thresholds"]["detail"]
    assert (
        "buy_threshold" in acks["bad"]["detail"] and "launch_rockets" in acks["unknown"]["detail"]
    )
    # Every command and its acknowledgement is a ledger row: who, when, what, result.
    rows = open_ledger(out).commands()
    assert list(rows["result"]) == ["applied", "rejected", "rejected", "rejected", "applied",
                                    "applied"]  # fmt: skip
    assert rows["who"].iloc[0] == "test" and json.loads(rows["args"].iloc[0]) == {
        "buy": 0.9,
        "sell": 0.95,
    }
    # The decisions record the thresholds they were taken under: the new ones from the ack on.
    decisions = pd.read_parquet(out / "decisions.parquet")
    held_from = pd.Timestamp(acks["thresholds"]["time"], tz="UTC")
    before, after = (
        decisions[decisions["time"] <= held_from],
        decisions[decisions["time"] > held_from],
    )
    assert len(before) >= 3 and len(after) >= 3
    assert (before["buy_threshold"] == trading.strategy.buy_threshold).all()
    assert (after["buy_threshold"] == 0.9).all() and (after["sell_threshold"] == 0.95).all()
    state = json.loads((out / "state.json").read_text())
    assert state["runtime"]["controls"]["entries_paused"] is True
    # The journal a dashboard tails: every decision with its wall time, and status lines.
    lines, _ = read_journal(out / "journal.jsonl")
    journaled = [line for line in lines if line["type"] == "decision"]
    assert len(journaled) == len(decisions)
    assert journaled[-1]["buy_threshold"] == 0.9 and journaled[-1]["wall"] > 0
    books = [line for line in lines if line["type"] == "book"]  # the book each decision saw
    assert len(books) == len(decisions) and any(b["imbalance"] is not None for b in books)
    assert all(len(b["bid"]) == len(books[-1]["bid"]) > 0 for b in books)
    status = [line for line in lines if line["type"] == "status"]
    assert status[-1]["final"] is True and status[-1]["entries_paused"] is True
    assert status[-1]["feed"] in {"synced", "resyncing", "stale", "disconnected"}
    assert not any((out / "commands" / "inbox").iterdir())  # every command handled


def test_an_operator_promotes_a_checkpoint_and_rolls_it_back(
    sample_store_path: Path, tmp_path: Path
) -> None:
    import torch

    from mmts.models.checkpoints import CheckpointStore
    from mmts.models.finetune import save_model
    from mmts.testing.experts import untrained_experts

    store = open_store(sample_store_path)
    exp, trading = load_experiment(EXPERIMENT), load_trading(EXPERIMENT)
    experts = untrained_experts(exp, store, pd.Timestamp("2024-08-08T23:54:14Z").value, seed=3,
                                rules=("imbalance",))  # fmt: skip
    out = tmp_path / "live"
    cnn = experts["cnn"]
    other = cnn.with_net(type(cnn.net)(cnn.layout.shapes(), 16, 32, 0.0), "cnn-op-1")
    with torch.no_grad():
        for parameter in other.net.parameters():
            parameter.add_(0.05)
    checkpoints = CheckpointStore(out / "checkpoints", keep=100)
    layout = cnn.layout.describe()
    for model, parent in ((cnn, None), (other, "untrained")):
        path = out / "checkpoints" / "cnn" / f"{model.version}.ckpt"
        save_model(model, path)
        checkpoints.add("cnn", {"id": model.version, "path": str(path), "metric": 0.0, "mode": "min",
                                "parent": parent, "layout": layout})  # fmt: skip
    acks: dict[str, dict] = {}
    with SimExchange(RECORDINGS, store=store, speed=10) as sim:
        cfg = LiveConfig(out=out, ws_url=sim.ws_url, rest_url=sim.url, status_every_s=0.5,
                         duration_s=90)  # fmt: skip
        session = LiveSession(exp, trading, cfg, status_stream=io.StringIO(), experts=experts)

        async def operator() -> None:
            async def after(n: int) -> None:
                while session.runtime is None or len(session.runtime.decisions) < n:
                    await asyncio.sleep(0.05)

            await after(3)
            acks["missing"] = await _acked(
                out, send_command(out, "promote", {"model": "cnn", "version": "nope"})
            )
            acks["promote"] = await _acked(
                out, send_command(out, "promote", {"model": "cnn", "version": "cnn-op-1"})
            )
            await after(6)
            acks["rollback"] = await _acked(out, send_command(out, "rollback", {"model": "cnn"}))
            acks["again"] = await _acked(out, send_command(out, "rollback", {"model": "cnn"}))
            await after(9)
            await _acked(out, send_command(out, "stop"))

        async def main() -> dict:
            task = asyncio.create_task(operator())
            summary = await session.run()
            await task
            return summary

        summary = asyncio.run(main())
    assert summary["error"] is None
    assert {k: a["result"] for k, a in acks.items()} == {
        "missing": "rejected", "promote": "applied", "rollback": "applied", "again": "rejected"}  # fmt: skip
    assert acks["promote"]["detail"] == "cnn: untrained -> cnn-op-1"
    assert "has no parent checkpoint" in acks["again"]["detail"]
    ledger = open_ledger(out)
    events = ledger.promotions()
    assert list(events["event"]) == ["promoted", "rolled_back"]
    assert list(events["to_version"]) == ["cnn-op-1", "untrained"]
    cnn_rows = ledger.predictions(model="cnn")
    promoted_at = pd.Timestamp(acks["promote"]["time"], tz="UTC")
    rolled_at = pd.Timestamp(acks["rollback"]["time"], tz="UTC")
    middle = cnn_rows[(cnn_rows["time"] > promoted_at) & (cnn_rows["time"] <= rolled_at)]
    assert len(middle) >= 2 and set(middle["version"]) == {"cnn-op-1"}
    assert set(cnn_rows[cnn_rows["time"] > rolled_at]["version"]) == {"untrained"}
    assert set(cnn_rows[cnn_rows["time"] <= promoted_at]["version"]) == {"untrained"}
