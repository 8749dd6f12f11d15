"""``mmts serve``'s web part: the JSON API, the pushed stream and the dashboard's files.

aiohttp, already what the exchange simulator and the live feed use: one small dependency for
HTTP, WebSockets and a test client, and no second web stack to keep. The API never waits on a
session: commands are files the session picks up (``live.commands``), views are files it
wrote (``serve.views``), and sessions are processes of their own (``serve.sessions``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import time
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from mmts.core.time import iso, to_ns
from mmts.live.commands import read_ack, send_command
from mmts.live.protocols import EXCHANGES
from mmts.models.experiment import load_experiment
from mmts.serve import views
from mmts.serve.auth import bearer, token_matches
from mmts.serve.jobs import Jobs
from mmts.serve.sessions import SessionRecord, Sessions

log = logging.getLogger(__name__)

#: How often the journals are read for the stream (a marker's delay: this plus the session's).
TAIL_EVERY_S = 0.1
#: How long a control request waits for the session's acknowledgement before answering 202.
ACK_WAIT_S = 5.0
#: A WebSocket must send its token within this many seconds.
WS_AUTH_S = 5.0
#: Commands the API passes on besides ``stop`` and ``thresholds`` (the last two name a model).
MODEL_COMMANDS = ("promote", "rollback")
SESSION_COMMANDS = ("pause", "resume", "flatten", *MODEL_COMMANDS)
TIMEFRAMES = ("1s", "1m", "1h")

SERVER: web.AppKey[Server] = web.AppKey("server")
#: Tasks a request leaves running (a stop being enforced): kept so they are not collected.
BACKGROUND: web.AppKey[set[asyncio.Task[None]]] = web.AppKey("background")


def _static(name: str) -> bytes:
    return (resources.files("mmts.serve") / "static" / name).read_bytes()


def plotly_js() -> Path:
    """Plotly.js as the ``plotly`` wheel ships it (from PyPI at install time; no CDN)."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


class Server:
    """The state behind the web part: sessions, the token, journal tails, connected streams."""

    def __init__(self, root: Path, token: str, *, live_allowed: bool = False) -> None:
        self.root, self.token, self.live_allowed = root, token, live_allowed
        self.sessions = Sessions(root)
        self.jobs = Jobs(root)
        self.tails: dict[str, views.JournalTail] = {}
        self.clients: set[web.WebSocketResponse] = set()
        self.rejected = 0
        self.started = time.monotonic()
        self.symbols: dict[str, str] = {}

    # -- helpers -------------------------------------------------------------------------------

    def tail(self, sid: str) -> views.JournalTail:
        """Return session ``sid``'s journal tail (made and read on first use)."""
        if sid not in self.tails:
            self.tails[sid] = views.JournalTail(Path(self.sessions.records[sid].out))
            self.tails[sid].poll()
        return self.tails[sid]

    def record(self, request: web.Request) -> SessionRecord:
        """Return the session the request names (404 for an unknown id)."""
        sid = request.match_info["sid"]
        if sid not in self.sessions.records:
            raise web.HTTPNotFound(text=json.dumps({"error": f"no session {sid!r}"}),
                                   content_type="application/json")  # fmt: skip
        return self.sessions.records[sid]

    def symbol(self, record: SessionRecord) -> str:
        """Return the primary symbol of ``record``'s experiment."""
        if record.id not in self.symbols:
            self.symbols[record.id] = load_experiment(record.experiment).features.primary_symbol
        return self.symbols[record.id]

    def summary(self, record: SessionRecord) -> dict[str, Any]:
        """Return what the session list shows of ``record``."""
        status = self.tail(record.id).status
        return {
            "id": record.id, "experiment": record.experiment, "exchange": record.exchange,
            "mode": record.mode, "state": self.sessions.state(record), "pid": record.pid,
            "position": status.get("position"), "equity": status.get("equity"),
            "feed": status.get("feed"), "decisions": status.get("decisions"),
            "buy_threshold": status.get("buy_threshold"),
            "sell_threshold": status.get("sell_threshold"),
            "entries_paused": status.get("entries_paused"), "restarts": record.restarts,
            "started_at": iso(record.started_at) if record.started_at else None,
        }  # fmt: skip

    async def command(self, record: SessionRecord, command: str, args: dict[str, Any],
                      who: str) -> web.Response:  # fmt: skip
        """Queue ``command`` for the session; answer with its ack (202 while it has none)."""
        cid = send_command(record.out, command, args, who=who)
        deadline = time.monotonic() + ACK_WAIT_S
        ack = None
        while ack is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            ack = read_ack(record.out, cid)
        result = ack["result"] if ack else "pending"
        self.sessions.audit(who, command, {"session": record.id, **args}, result)
        body = {"command_id": cid, "ack": ack}
        status = 202 if ack is None else (200 if ack["result"] == "applied" else 409)
        return web.json_response(body, status=status)

    async def follow(self) -> None:
        """Read every session's journal and push the new lines to the connected streams."""
        while True:
            await asyncio.sleep(TAIL_EVERY_S)
            try:
                self.sessions.reap()
                for sid in list(self.sessions.records):
                    lines = self.tail(sid).poll()
                    if lines and self.clients:
                        message = json.dumps({"session": sid, "lines": lines})
                        await asyncio.gather(*(c.send_str(message) for c in list(self.clients)),
                                             return_exceptions=True)  # fmt: skip
            except Exception:  # the stream stalls, the sessions do not; logged, and on we go
                log.exception("following the journals failed; retrying")


# -- middleware ----------------------------------------------------------------------------------


@web.middleware
async def require_token(request: web.Request, handler: Any) -> web.StreamResponse:
    """Refuse an ``/api/`` call without the token in its Authorization header (401)."""
    server = request.app[SERVER]
    guarded = request.path.startswith("/api/") and request.path != "/api/stream"
    if guarded and not token_matches(bearer(request.headers.get("Authorization")), server.token):
        server.rejected += 1
        log.warning("refused %s %s from %s: no valid token", request.method, request.path,
                    request.remote)  # fmt: skip
        return web.json_response({"error": "a valid token is needed: Authorization: Bearer TOKEN"},
                                 status=401)  # fmt: skip
    response: web.StreamResponse = await handler(request)
    return response


# -- pages ---------------------------------------------------------------------------------------


async def index(request: web.Request) -> web.Response:
    """Serve the dashboard (it asks for the token, then calls the API with it)."""
    return web.Response(body=_static("index.html"), content_type="text/html")


async def static(request: web.Request) -> web.StreamResponse:
    """Serve the dashboard's own files and Plotly.js from the plotly wheel."""
    name = request.match_info["name"]
    if name == "plotly.min.js":
        return web.FileResponse(plotly_js())
    kinds = {".js": "application/javascript", ".css": "text/css", ".html": "text/html"}
    kind = kinds.get(Path(name).suffix)
    if kind is None or "/" in name or name.startswith("."):
        raise web.HTTPNotFound()
    try:
        return web.Response(body=_static(name), content_type=kind)
    except FileNotFoundError as e:
        raise web.HTTPNotFound() from e


# -- the API -------------------------------------------------------------------------------------


async def health(request: web.Request) -> web.Response:
    """``GET /api/health``: the server (CPU, uptime, refused requests) and each session's state."""
    server = request.app[SERVER]
    times = os.times()
    uptime = time.monotonic() - server.started
    return web.json_response({
        "server": {"pid": os.getpid(), "uptime_s": uptime, "cpu_s": times.user + times.system,
                   "cpu_share": (times.user + times.system) / uptime if uptime > 0 else None,
                   "rejected_requests": server.rejected, "streams": len(server.clients),
                   "live_allowed": server.live_allowed},
        "sessions": {r.id: server.sessions.state(r) for r in server.sessions.records.values()},
        "training": {r.id: server.jobs.state(r) for r in server.jobs.records.values()},
    })  # fmt: skip


async def list_sessions(request: web.Request) -> web.Response:
    """``GET /api/sessions``: id, experiment, exchange, mode, state, position, equity, ..."""
    server = request.app[SERVER]
    return web.json_response([server.summary(r) for r in server.sessions.records.values()])


def _bad(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _body(request: web.Request, expected: str) -> dict[str, Any]:
    """Return the request's JSON object; a body that is not one is a 400 naming ``expected``."""
    try:
        body = await request.json()
    except json.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text=json.dumps({"error": f"the body must be JSON: {expected}"}),
                                 content_type="application/json")  # fmt: skip
    return body


async def start_session(request: web.Request) -> web.Response:
    """``POST /api/sessions``: start a paper session (real money only on a --live server); 201."""
    server = request.app[SERVER]
    body = await _body(request, "{experiment, exchange, ws_url, rest_url, duration}")
    mode = "live" if body.get("live") is True else body.get("mode", "paper")
    if mode not in ("paper", "live"):
        return _bad(f"mode must be paper or live; was {mode!r}")
    if mode == "live" and not server.live_allowed:
        return _bad("real money sessions cannot be started here: this server was not started "
                    "with --live (and its confirmation)", 403)  # fmt: skip
    experiment = body.get("experiment")
    if not isinstance(experiment, str) or not Path(experiment).is_file():
        return _bad(f"experiment: no such file {experiment!r}")
    try:
        load_experiment(experiment)
    except Exception as e:  # noqa: BLE001 - the file's own error, said back
        return _bad(f"experiment {experiment}: {e}")
    exchange = body.get("exchange", "binance")
    if exchange not in EXCHANGES:
        return _bad(f"exchange must be one of {', '.join(EXCHANGES)}; was {exchange!r}")
    urls = {k: body.get(k) for k in ("ws_url", "rest_url")}
    if not all(isinstance(u, str) and u for u in urls.values()):
        return _bad("ws_url and rest_url are needed (the exchange or a local simulator)")
    duration = body.get("duration")
    if duration is not None and (not isinstance(duration, int | float) or duration <= 0):
        return _bad("duration must be a positive number of seconds (or absent)")
    record = server.sessions.start(experiment, exchange, str(urls["ws_url"]), str(urls["rest_url"]),
                                   None if duration is None else float(duration), mode)  # fmt: skip
    server.sessions.audit("api", "start", {"session": record.id, **body}, "started")
    return web.json_response({"id": record.id}, status=201)


async def session_detail(request: web.Request) -> web.Response:
    """``GET /api/sessions/{id}``: the summary and the latest status line."""
    server = request.app[SERVER]
    record = server.record(request)
    return web.json_response({**server.summary(record), "status": server.tail(record.id).status})


async def stop_session(request: web.Request) -> web.Response:
    """``POST /api/sessions/{id}/stop``: ask the session to stop (terminated if it will not)."""
    server = request.app[SERVER]
    record = server.record(request)
    server.sessions.request_stop(record.id)
    response = await server.command(record, "stop", {}, "api")
    task = asyncio.create_task(asyncio.to_thread(server.sessions.enforce_stop, record.id))
    request.app[BACKGROUND].add(task)
    task.add_done_callback(request.app[BACKGROUND].discard)
    return response


def _threshold(value: Any, name: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number in (0, 1]")
    if not 0 < float(value) <= 1:
        raise ValueError(f"{name} must be in (0, 1]; was {value}")
    return float(value)


async def thresholds(request: web.Request) -> web.Response:
    """``POST /api/sessions/{id}/thresholds``: ``{"buy": x, "sell": y}`` for the next decisions."""
    server = request.app[SERVER]
    record = server.record(request)
    try:
        body = await request.json()
        args = {k: _threshold(body[k], k) for k in ("buy", "sell") if k in body}
    except (json.JSONDecodeError, TypeError, ValueError) as e:
        return _bad(f"thresholds: {e}")
    if not args:
        return _bad('thresholds: give "buy" and/or "sell"')
    return await server.command(record, "thresholds", args, "api")


async def session_command(request: web.Request) -> web.Response:
    """``POST /api/sessions/{id}/commands``: pause, resume, flatten, promote or rollback."""
    server = request.app[SERVER]
    record = server.record(request)
    body = await _body(request, '{"command": "pause" | "resume" | "flatten" | ..., "args": {...}}')
    command = body.get("command")
    if command not in SESSION_COMMANDS:
        return _bad(f"command must be one of {', '.join(SESSION_COMMANDS)}; was {command!r}")
    args: dict[str, Any] = {}
    if command in MODEL_COMMANDS:
        given = body.get("args") or {}
        wanted = ("model", "version") if command == "promote" else ("model",)
        if not isinstance(given, dict) or not all(isinstance(given.get(k), str) for k in wanted):
            return _bad(f"{command} needs args {{{', '.join(repr(k) + ': ...' for k in wanted)}}}")
        args = {k: given[k] for k in wanted}
    return await server.command(record, command, args, "api")


async def decisions(request: web.Request) -> web.Response:
    """``GET /api/sessions/{id}/decisions?since=ISO``: the decisions after ``since``."""
    server = request.app[SERVER]
    record = server.record(request)
    tail = server.tail(record.id)
    tail.poll()
    try:
        rows = views.since(tail.decisions, request.query.get("since"))
    except ValueError as e:
        return _bad(f"since: {e}")
    return web.json_response(rows)


async def fills(request: web.Request) -> web.Response:
    """``GET /api/sessions/{id}/fills?since=ISO``: the fills after ``since``."""
    server = request.app[SERVER]
    record = server.record(request)
    tail = server.tail(record.id)
    tail.poll()
    return web.json_response(views.since(tail.fills, request.query.get("since")))


async def candles(request: web.Request) -> web.Response:
    """``GET /api/sessions/{id}/candles?tf=1s|1m|1h&since=ISO``: closed bars from the ledger."""
    server = request.app[SERVER]
    record = server.record(request)
    timeframe = request.query.get("tf", "1m")
    if timeframe not in TIMEFRAMES:
        return _bad(f"tf must be one of {', '.join(TIMEFRAMES)}")
    rows = await asyncio.to_thread(views.candles, Path(record.out), server.symbol(record),
                                   timeframe, request.query.get("since"))  # fmt: skip
    tail = server.tail(record.id)
    tail.poll()  # bars the ledger has not flushed yet, from the journal
    last = to_ns(rows[-1]["time"]) or 0 if rows else 0
    for bar in tail.bars.get(timeframe, ()):
        if int(bar["time"]) > last:
            rows.append({"time": iso(int(bar["time"])),
                         **{k: bar[k] for k in ("open", "high", "low", "close", "volume")}})  # fmt: skip
    return web.json_response(rows)


async def book(request: web.Request) -> web.Response:
    """``GET /api/sessions/{id}/book``: imbalance and its MAs, the latest depth buckets."""
    server = request.app[SERVER]
    record = server.record(request)
    return web.json_response(await asyncio.to_thread(views.book, Path(record.out)))


async def models(request: web.Request) -> web.Response:
    """``GET /api/sessions/{id}/models``: health, promotions, alerts, commands, the mixture."""
    server = request.app[SERVER]
    record = server.record(request)
    body = await asyncio.to_thread(views.models, Path(record.out))
    return web.json_response(body, dumps=lambda v: json.dumps(views.plain(v), default=str,
                                                              allow_nan=False))  # fmt: skip


async def history(request: web.Request) -> web.Response:
    """``GET /api/commands``: every control request the server passed on, and its result."""
    return web.json_response(request.app[SERVER].sessions.history())


async def list_training(request: web.Request) -> web.Response:
    """``GET /api/training``: every training job, its state and progress (epoch, loss, metric)."""
    jobs = request.app[SERVER].jobs
    return web.json_response([jobs.summary(r) for r in jobs.records.values()])


async def start_training(request: web.Request) -> web.Response:
    """``POST /api/training``: ``{"experiment", "model": "cnn" | "rl"}`` starts a job (201)."""
    server = request.app[SERVER]
    body = await _body(request, '{"experiment": FILE, "model": "cnn" | "rl"}')
    experiment = body.get("experiment")
    if not isinstance(experiment, str) or not Path(experiment).is_file():
        return _bad(f"experiment: no such file {experiment!r}")
    try:
        record = server.jobs.start(experiment, str(body.get("model")))
    except ValueError as e:
        return _bad(str(e), 409 if "already" in str(e) else 400)
    server.sessions.audit("api", "train", {"job": record.id, **body}, "started")
    return web.json_response({"id": record.id}, status=201)


async def stop_training(request: web.Request) -> web.Response:
    """``POST /api/training/{jid}/stop``: terminate a training job."""
    server = request.app[SERVER]
    jid = request.match_info["jid"]
    if jid not in server.jobs.records:
        return _bad(f"no training job {jid!r}", 404)
    server.jobs.stop(jid)
    server.sessions.audit("api", "stop training", {"job": jid}, "stopped")
    return web.json_response(server.jobs.summary(server.jobs.records[jid]))


async def stream(request: web.Request) -> web.WebSocketResponse:
    """Push every session's new journal lines; the first message must carry the token."""
    server = request.app[SERVER]
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    try:
        first = await ws.receive(timeout=WS_AUTH_S)
        token = json.loads(first.data).get("token", "") if first.type == WSMsgType.TEXT else ""
    except (TimeoutError, ValueError, AttributeError):
        token = ""
    if not token_matches(str(token), server.token):
        server.rejected += 1
        log.warning("refused a stream from %s: no valid token", request.remote)
        await ws.close(code=4401, message=b"a valid token is needed")
        return ws
    await ws.send_str(json.dumps({"hello": True, "sessions": list(server.sessions.records)}))
    server.clients.add(ws)
    try:
        async for _ in ws:
            pass  # nothing is taken from the page on the stream
    finally:
        server.clients.discard(ws)
    return ws


def make_app(server: Server) -> web.Application:
    """Build the application around ``server`` (its stream follower starts with it)."""
    app = web.Application(middlewares=[require_token])
    app[SERVER] = server
    app[BACKGROUND] = set()
    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/api/health", health)
    app.router.add_get("/api/sessions", list_sessions)
    app.router.add_post("/api/sessions", start_session)
    app.router.add_get("/api/sessions/{sid}", session_detail)
    app.router.add_post("/api/sessions/{sid}/stop", stop_session)
    app.router.add_post("/api/sessions/{sid}/thresholds", thresholds)
    app.router.add_post("/api/sessions/{sid}/commands", session_command)
    app.router.add_get("/api/sessions/{sid}/decisions", decisions)
    app.router.add_get("/api/sessions/{sid}/fills", fills)
    app.router.add_get("/api/sessions/{sid}/candles", candles)
    app.router.add_get("/api/sessions/{sid}/book", book)
    app.router.add_get("/api/sessions/{sid}/models", models)
    app.router.add_get("/api/commands", history)
    app.router.add_get("/api/training", list_training)
    app.router.add_post("/api/training", start_training)
    app.router.add_post("/api/training/{jid}/stop", stop_training)
    app.router.add_get("/api/stream", stream)

    async def follow(app: web.Application) -> Any:
        task = asyncio.create_task(server.follow())
        yield
        task.cancel()
        for ws in list(server.clients):
            await ws.close()

    app.cleanup_ctx.append(follow)
    return app
