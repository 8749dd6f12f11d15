"""The control room's API: the token on every call, every endpoint, the command protocol."""

from __future__ import annotations

import asyncio
import json
import stat
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from mmts.live.commands import CommandInbox
from mmts.live.journal import Journal
from mmts.runtime.control import Controls, apply_control
from mmts.serve import app as app_module
from mmts.serve.app import Server, make_app
from mmts.serve.auth import load_or_create_token
from mmts.serve.sessions import SessionRecord
from mmts.strategy.moe import MixtureOfExperts, MoeConfig

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "t" * 43
AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: Every route under /api/ but the stream, with a body where it takes one.
ROUTES = [
    ("GET", "/api/health", None), ("GET", "/api/sessions", None),
    ("POST", "/api/sessions", {"experiment": "x"}), ("GET", "/api/sessions/s-1", None),
    ("POST", "/api/sessions/s-1/stop", {}), ("POST", "/api/sessions/s-1/thresholds", {"buy": 0.6}),
    ("POST", "/api/sessions/s-1/commands", {"command": "pause"}),
    ("GET", "/api/sessions/s-1/decisions", None), ("GET", "/api/sessions/s-1/fills", None),
    ("GET", "/api/sessions/s-1/candles", None), ("GET", "/api/sessions/s-1/book", None),
    ("GET", "/api/sessions/s-1/models", None), ("GET", "/api/commands", None),
    ("GET", "/api/training", None), ("POST", "/api/training", {"experiment": "x", "model": "cnn"}),
    ("POST", "/api/training/j-1/stop", {}),
]  # fmt: skip


def _serve(root: Path, test: Callable[[TestClient, Server], Awaitable[None]]) -> None:
    server = Server(root, TOKEN)

    async def main() -> None:
        async with TestClient(TestServer(make_app(server))) as client:
            await test(client, server)

    asyncio.run(main())


def _session(server: Server, out: Path, sid: str = "s-1") -> SessionRecord:
    """A session record whose folder the test writes (no process behind it)."""
    record = SessionRecord(id=sid, experiment=str(ROOT / "experiments" / "paper_rules.toml"),
                           exchange="binance", ws_url="ws://127.0.0.1:1", rest_url="http://127.0.0.1:1",
                           duration=None, out=str(out))  # fmt: skip
    server.sessions.records[sid] = record
    return record


class Responder:
    """Stands in for a session: applies commands to a mixture's thresholds, acks them."""

    def __init__(self, out: Path) -> None:
        self.runtime = type(
            "R", (), {"moe": MixtureOfExperts(MoeConfig()), "controls": Controls()}
        )()
        self.inbox = CommandInbox(
            out, lambda c, a: apply_control(self.runtime, c, a), lambda: 10**18
        )
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            self.inbox.handle(self.inbox.pending())
            time.sleep(0.02)


def test_every_api_call_without_the_right_token_is_refused_and_counted(tmp_path: Path) -> None:
    async def test(client: TestClient, server: Server) -> None:
        for method, path, body in ROUTES:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                response = await client.request(method, path, json=body, headers=headers)
                assert response.status == 401, (method, path, headers)
        assert server.rejected == 3 * len(ROUTES)
        health = await (await client.get("/api/health", headers=AUTH)).json()
        assert health["server"]["rejected_requests"] == 3 * len(ROUTES)
        # The page itself needs no token (it asks for it), and holds none.
        page = await client.get("/")
        assert page.status == 200 and TOKEN not in await page.text()
        plotly = await client.get("/static/plotly.min.js")
        assert plotly.status == 200 and len(await plotly.read()) > 1_000_000
        assert (await client.get("/static/..%2Ftoken")).status == 404

    _serve(tmp_path, test)


def test_the_token_file_is_the_owners_alone(tmp_path: Path) -> None:
    path = tmp_path / "serve" / "token"
    token, new = load_or_create_token(path)
    assert new and len(token) >= 40 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_token(path) == (token, False)
    path.chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        load_or_create_token(path)


def test_starting_a_session_checks_what_it_is_given(tmp_path: Path) -> None:
    experiment = str(ROOT / "experiments" / "paper_rules.toml")
    good = {"experiment": experiment, "exchange": "binance", "ws_url": "ws://127.0.0.1:9",
            "rest_url": "http://127.0.0.1:9"}  # fmt: skip
    cases = [
        ("not json", 400, "must be JSON"),
        ({**good, "experiment": "nope.toml"}, 400, "no such file"),
        ({**good, "exchange": "ftx"}, 400, "exchange must be one of"),
        ({**good, "rest_url": ""}, 400, "ws_url and rest_url"),
        ({**good, "duration": -1}, 400, "duration"),
        ({**good, "mode": "live"}, 403, "not started with --live"),
    ]

    async def test(client: TestClient, server: Server) -> None:
        for body, status, message in cases:
            kwargs: dict[str, Any] = {"data": body} if isinstance(body, str) else {"json": body}
            response = await client.post("/api/sessions", headers=AUTH, **kwargs)
            assert response.status == status, body
            assert message in (await response.json())["error"]
        assert server.sessions.records == {}  # nothing was started

    _serve(tmp_path, test)


def test_controls_go_to_the_session_and_come_back_acknowledged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "ACK_WAIT_S", 0.5)

    async def test(client: TestClient, server: Server) -> None:
        out = tmp_path / "s-1"
        _session(server, out)
        for body in ({"buy": 1.5}, {"buy": "high"}, {}, {"sell": float("nan")}):
            response = await client.post("/api/sessions/s-1/thresholds", headers=AUTH,
                                         data=json.dumps(body))  # fmt: skip
            assert response.status == 400, body
        # Nobody applies it yet: 202, the command waits in the session's inbox.
        response = await client.post(
            "/api/sessions/s-1/thresholds", headers=AUTH, json={"buy": 0.7}
        )
        assert response.status == 202 and (await response.json())["ack"] is None
        responder = Responder(out)
        try:
            response = await client.post("/api/sessions/s-1/thresholds", headers=AUTH,
                                         json={"buy": 0.8, "sell": 0.9})  # fmt: skip
            body = await response.json()
            assert response.status == 200 and body["ack"]["result"] == "applied"
            assert responder.runtime.moe.config.buy_threshold == 0.8
            response = await client.post("/api/sessions/s-1/commands", headers=AUTH,
                                         json={"command": "pause"})  # fmt: skip
            assert response.status == 200 and responder.runtime.controls.entries_paused
            response = await client.post("/api/sessions/s-1/commands", headers=AUTH,
                                         json={"command": "launch"})  # fmt: skip
            assert response.status == 400
            response = await client.post("/api/sessions/s-1/stop", headers=AUTH)
            assert response.status == 409  # this stand-in does not know `stop`: refused, said so
            assert "unknown command 'stop'" in (await response.json())["ack"]["detail"]
        finally:
            responder.stop.set()
        assert server.sessions.records["s-1"].desired == "stopped"
        history = await (await client.get("/api/commands", headers=AUTH)).json()
        assert [h["what"] for h in history] == ["thresholds", "thresholds", "pause", "stop"]
        assert [h["result"] for h in history] == ["pending", "applied", "applied", "rejected"]
        assert (await client.get("/api/sessions/nope", headers=AUTH)).status == 404

    _serve(tmp_path, test)


def test_the_journal_is_listed_queried_and_pushed_to_streams_with_the_token(tmp_path: Path) -> None:
    async def test(client: TestClient, server: Server) -> None:
        out = tmp_path / "s-1"
        _session(server, out)
        journal = Journal(out)
        for k in range(3):
            journal.write("decision", time=10**18 + k * 10**9, wall=time.time_ns(), action="BUY",
                          size=0.5, price=100.0 + k, confidence=0.7, buy_threshold=0.55)  # fmt: skip
        journal.write("status", position=0.5, equity=1000.0, feed="synced", buy_threshold=0.55)
        journal.close()
        sessions = await (await client.get("/api/sessions", headers=AUTH)).json()
        assert sessions[0]["id"] == "s-1" and sessions[0]["position"] == 0.5
        assert sessions[0]["state"] == "exited" and sessions[0]["feed"] == "synced"
        rows = await (await client.get("/api/sessions/s-1/decisions", headers=AUTH)).json()
        assert [r["price"] for r in rows] == [100.0, 101.0, 102.0]
        since = rows[0]["iso"]
        rows = await (
            await client.get(f"/api/sessions/s-1/decisions?since={since}", headers=AUTH)
        ).json()
        assert [r["price"] for r in rows] == [101.0, 102.0]
        assert (
            await client.get("/api/sessions/s-1/decisions?since=yesterday", headers=AUTH)
        ).status == 400
        assert (await client.get("/api/sessions/s-1/candles?tf=5m", headers=AUTH)).status == 400
        # A stream without the token is closed; with it, new lines are pushed.
        refused = await client.ws_connect("/api/stream")
        await refused.send_str(json.dumps({"token": "wrong"}))
        await refused.receive(timeout=5)
        assert refused.close_code == 4401
        ws = await client.ws_connect("/api/stream")
        await ws.send_str(json.dumps({"token": TOKEN}))
        hello = json.loads((await ws.receive(timeout=5)).data)
        assert hello["sessions"] == ["s-1"]
        journal = Journal(out)
        journal.write("decision", time=10**18 + 9 * 10**9, wall=time.time_ns(), action="SELL",
                      size=-0.5, price=99.0)  # fmt: skip
        journal.close()
        pushed = json.loads((await ws.receive(timeout=5)).data)
        assert pushed["session"] == "s-1" and pushed["lines"][0]["action"] == "SELL"
        await ws.close()
        assert server.rejected == 1

    _serve(tmp_path, test)


@pytest.mark.slow
def test_candles_book_and_models_come_from_the_sessions_ledger(
    experiment: str, tmp_path: Path, run_rules: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backtest's run folder reads as a session's (the same ledger); secrets never appear."""
    monkeypatch.setenv("MMTS_BINANCE_API_KEY", "sEcReT-kEy-123")
    monkeypatch.setenv("MMTS_BINANCE_API_SECRET", "sEcReT-vAlUe-456")
    result = run_rules(experiment, tmp_path / "runs")

    async def test(client: TestClient, server: Server) -> None:
        record = _session(server, Path(result["run_dir"]))
        record.experiment = experiment
        candles = await (await client.get("/api/sessions/s-1/candles?tf=1m", headers=AUTH)).json()
        assert len(candles) > 100 and {"time", "open", "high", "low", "close"} <= set(candles[0])
        assert all(c["low"] <= c["close"] <= c["high"] for c in candles)
        assert [c["time"] for c in candles] == sorted({c["time"] for c in candles})
        book = await (await client.get("/api/sessions/s-1/book", headers=AUTH)).json()
        assert book["imbalance"] and set(book["imbalance"]) == {None}  # bars only: no book held
        models = await (await client.get("/api/sessions/s-1/models", headers=AUTH)).json()
        assert "ma_cross/active" in models["health"]["models"]
        assert len(models["mixture"]) > 10 and "disk_bytes" in models
        texts = []
        for method, path, body in ROUTES:
            response = await client.request(method, path, json=body, headers=AUTH)
            texts.append(await response.text())
        assert not any("sEcReT" in text for text in texts)

        def no_nan(constant: str) -> None:  # a browser's JSON.parse refuses NaN and Infinity
            raise AssertionError(f"{constant} in a response")

        for text in texts:
            json.loads(text, parse_constant=no_nan)

    _serve(tmp_path / "serve", test)


def test_real_money_is_started_only_by_a_server_started_for_it(tmp_path: Path) -> None:
    """A --live server passes the real-money flags on; any other refuses (see the 403 above)."""
    fake = tmp_path / "fake-python"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "argv.txt"}\n')
    fake.chmod(0o755)
    server = Server(tmp_path / "serve", TOKEN, live_allowed=True)
    server.sessions.python = str(fake)
    body = {"experiment": str(ROOT / "experiments" / "paper_rules.toml"), "exchange": "binance",
            "ws_url": "ws://127.0.0.1:9", "rest_url": "http://127.0.0.1:9"}  # fmt: skip

    async def main() -> None:
        async with TestClient(TestServer(make_app(server))) as client:
            paper = await client.post("/api/sessions", headers=AUTH, json=body)
            live = await client.post("/api/sessions", headers=AUTH, json={**body, "mode": "live"})
            odd = await client.post("/api/sessions", headers=AUTH, json={**body, "mode": "yolo"})
            assert (paper.status, live.status, odd.status) == (201, 201, 400)
            sessions = await (await client.get("/api/sessions", headers=AUTH)).json()
            assert [s["mode"] for s in sessions] == ["paper", "live"]

    asyncio.run(main())
    argv = tmp_path / "argv.txt"
    deadline = time.monotonic() + 5
    while (
        not argv.exists() or len(argv.read_text().splitlines()) < 2
    ) and time.monotonic() < deadline:
        time.sleep(0.05)
    starts = sorted(line.split()[3] for line in argv.read_text().splitlines())
    assert starts == ["--live", "--paper"]
    assert any(
        line.startswith("-m mmts.cli live --live --yes ") for line in argv.read_text().splitlines()
    )


def test_training_requests_are_checked_before_anything_starts(tmp_path: Path) -> None:
    experiment = str(ROOT / "experiments" / "default.toml")

    async def test(client: TestClient, server: Server) -> None:
        cases = [({"experiment": "nope.toml", "model": "cnn"}, 400, "no such file"),
                 ({"experiment": experiment, "model": "gpt"}, 400, "model must be one of")]  # fmt: skip
        for body, status, message in cases:
            response = await client.post("/api/training", headers=AUTH, json=body)
            assert response.status == status and message in (await response.json())["error"]
        assert (await client.post("/api/training", headers=AUTH, data="{")).status == 400
        assert (await client.post("/api/training/j-9/stop", headers=AUTH)).status == 404
        assert await (await client.get("/api/training", headers=AUTH)).json() == []
        assert server.jobs.records == {}

    _serve(tmp_path, test)


def test_what_the_api_sends_is_json_a_browser_parses() -> None:
    import numpy as np

    from mmts.serve.views import plain

    value = {"a": float("nan"), "b": [np.float64("inf"), 1.5, np.int64(3)], "c": {"d": -np.inf}}
    assert plain(value) == {"a": None, "b": [None, 1.5, 3], "c": {"d": None}}
    json.dumps(plain(value), allow_nan=False)
