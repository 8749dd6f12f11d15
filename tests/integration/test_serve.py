"""``mmts serve`` runs a paper session as its own process: steered by the API, independent of it."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from aiohttp.test_utils import TestClient, TestServer

from mmts.data import open_store
from mmts.history import open_ledger
from mmts.live.journal import read_journal
from mmts.serve.app import Server, make_app
from mmts.serve.sessions import pid_alive
from mmts.testing.sim_exchange import SimExchange

pytestmark = [pytest.mark.slow, pytest.mark.network]

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = ROOT / "experiments" / "paper_rules.toml"
RECORDINGS = [ROOT / "data" / "raw" / "binance-ws" / "spot" / f"{s}usdt_20240808.gz"
              for s in ("eth", "btc")]  # fmt: skip
TOKEN = "s" * 43
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def _until(check: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_served_session_trades_on_when_the_server_goes_and_is_found_again(
    sample_store_path: Path, tmp_path: Path
) -> None:
    store = open_store(sample_store_path)
    root = tmp_path / "serve"
    found: dict[str, Any] = {}
    with SimExchange(RECORDINGS, store=store, speed=5) as sim:

        async def main() -> None:
            server = Server(root, TOKEN)
            async with TestClient(TestServer(make_app(server))) as client:
                body = {"experiment": str(EXPERIMENT), "exchange": "binance",
                        "ws_url": sim.ws_url, "rest_url": sim.url, "duration": 120}  # fmt: skip
                response = await client.post("/api/sessions", headers=AUTH, json=body)
                assert response.status == 201, await response.text()
                sid = (await response.json())["id"]

                async def decided() -> Any:
                    rows = await (
                        await client.get(f"/api/sessions/{sid}/decisions", headers=AUTH)
                    ).json()
                    return rows if len(rows) >= 3 else None

                await _until(decided, 60, "the session's first decisions")
                response = await client.post(f"/api/sessions/{sid}/thresholds", headers=AUTH,
                                             json={"buy": 0.91, "sell": 0.92})  # fmt: skip
                assert response.status == 200, await response.text()
                found["ack"] = (await response.json())["ack"]
                found["sid"], found["record"] = sid, server.sessions.records[sid]
            # The server (its web part and all) is gone; the session is not.
            out = Path(found["record"].out)
            lines_then = len(read_journal(out / "journal.jsonl")[0])
            await asyncio.sleep(4)
            assert pid_alive(found["record"].pid, found["record"].out)
            assert len(read_journal(out / "journal.jsonl")[0]) > lines_then  # still deciding
            # A new server on the same root finds it running and re-attaches.
            again = Server(root, TOKEN)
            found["resumed"] = again.sessions.resume()
            async with TestClient(TestServer(make_app(again))) as client:
                sessions = await (await client.get("/api/sessions", headers=AUTH)).json()
                assert [s["state"] for s in sessions] == ["running"]
                assert sessions[0]["buy_threshold"] == 0.91 or sessions[0]["buy_threshold"] is None
                response = await client.post(f"/api/sessions/{found['sid']}/stop", headers=AUTH)
                assert response.status == 200, await response.text()

                async def stopped() -> Any:
                    health = await (await client.get("/api/health", headers=AUTH)).json()
                    return health["sessions"][found["sid"]] == "stopped"

                await _until(stopped, 30, "the session to stop")

        asyncio.run(main())
    sid, out = found["sid"], Path(found["record"].out)
    assert found["resumed"] == [f"{sid}: re-attached (pid {found['record'].pid})"]
    assert found["ack"]["result"] == "applied"
    commands = open_ledger(out).commands()
    assert list(commands["command"]) == ["thresholds", "stop"]
    assert list(commands["result"]) == ["applied", "applied"]
    decisions = pd.read_parquet(out / "decisions.parquet")
    after = decisions[decisions["time"] > pd.Timestamp(found["ack"]["time"], tz="UTC")]
    assert len(after) >= 3 and (after["buy_threshold"] == 0.91).all()
    log = (out / "process.log").read_text()
    assert "Traceback" not in log


def test_training_jobs_run_with_progress_and_can_be_stopped(tmp_path: Path) -> None:
    """A small CNN trains in a job of its own (progress from its metrics); another is stopped."""
    text = (ROOT / "experiments" / "default.toml").read_text()
    text = text.replace('store = "data"', f'store = "{ROOT / "data"}"')
    text = text.replace('start = "2024-07-27T00:00:00Z"', 'start = "2024-08-10T00:00:00Z"')
    text = text.replace('end = "2024-08-25T00:00:00Z"', 'end = "2024-08-16T00:00:00Z"')
    text = text.replace("epochs = 4", "epochs = 2")
    text = text.replace('dir = "experiments/models"', f'dir = "{tmp_path / "models"}"')
    experiment = tmp_path / "small.toml"
    experiment.write_text(text)
    found: dict[str, Any] = {}

    async def main() -> None:
        server = Server(tmp_path / "serve", TOKEN)
        async with TestClient(TestServer(make_app(server))) as client:
            bad = await client.post("/api/training", headers=AUTH,
                                    json={"experiment": str(experiment), "model": "gpt"})  # fmt: skip
            assert bad.status == 400 and "model must be one of" in (await bad.json())["error"]
            response = await client.post("/api/training", headers=AUTH,
                                         json={"experiment": str(experiment), "model": "cnn"})  # fmt: skip
            assert response.status == 201, await response.text()
            jid = (await response.json())["id"]
            again = await client.post("/api/training", headers=AUTH,
                                      json={"experiment": str(experiment), "model": "cnn"})  # fmt: skip
            assert again.status == 409

            async def finished() -> Any:
                jobs = await (await client.get("/api/training", headers=AUTH)).json()
                job = next(j for j in jobs if j["id"] == jid)
                if job["progress"]["epoch"] is not None:
                    found.setdefault("progress", []).append(job["progress"])
                return job if job["state"] != "running" else None

            found["job"] = await _until(finished, 240, "the training job")
            response = await client.post("/api/training", headers=AUTH,
                                         json={"experiment": str(experiment), "model": "cnn"})  # fmt: skip
            second = (await response.json())["id"]
            await asyncio.sleep(2)
            stopped = await client.post(f"/api/training/{second}/stop", headers=AUTH)
            assert stopped.status == 200

            async def ended() -> Any:
                health = await (await client.get("/api/health", headers=AUTH)).json()
                return health["training"][second] == "stopped"

            await _until(ended, 30, "the stopped job")

    asyncio.run(main())
    job = found["job"]
    assert job["state"] == "finished", (
        tmp_path / "serve" / "jobs" / f"{job['id']}.log"
    ).read_text()
    assert job["progress"]["epoch"] == 1 and job["progress"]["epochs"] == 2
    assert job["progress"]["metric_name"] == "val_loss" and job["progress"]["metric"] > 0
    assert job["progress"]["loss"] > 0
    index = json.loads((tmp_path / "models" / "cnn" / "index.json").read_text())
    assert len(index["checkpoints"]) >= 1  # the finished job published its checkpoints
