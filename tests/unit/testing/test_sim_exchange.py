"""The exchange simulator: Binance's stream format over a real websocket, REST beside it, faults."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mmts.data import open_store
from mmts.testing.exchange_sim import Fault
from mmts.testing.sim_exchange import REPLAY_FIELD, REPLAY_HEADER, SimExchange

pytestmark = pytest.mark.network

RAW = Path(__file__).resolve().parents[3] / "data" / "raw" / "binance-ws" / "spot"
STREAMS = "ethusdt@depth@100ms/ethusdt@trade"


@pytest.fixture
def eth_file() -> Path:
    return RAW / "ethusdt_20240808.gz"


async def _frames(ws: Any, n: int) -> list[dict[str, Any]]:
    out = []
    while len(out) < n:
        msg = await ws.receive(timeout=10)
        if msg.type != aiohttp.WSMsgType.TEXT:
            break
        out.append(json.loads(msg.data))
    return out


def test_replays_binance_frames_and_serves_snapshots_klines_and_time(
    eth_file: Path, sample_store_path: Path
) -> None:
    async def scenario(sim: SimExchange) -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"{sim.ws_url}/stream?streams={STREAMS}") as ws,
        ):
            # Asked before the recording's own snapshot arrived: that snapshot, stamped when it did.
            r = await http.get(
                f"{sim.url}/api/v3/depth", params={"symbol": "ETHUSDT", "limit": 5000}
            )
            first = await r.json()
            assert first["lastUpdateId"] == 35346513512 and len(first["bids"]) == 1000
            assert int(r.headers[REPLAY_HEADER]) == 1723161254152322667
            frames = await _frames(ws, 300)
            assert {f["stream"] for f in frames} == {"ethusdt@depth@100ms", "ethusdt@trade"}
            stamps = [f[REPLAY_FIELD] for f in frames]
            assert stamps == sorted(stamps)
            depth = [f["data"] for f in frames if f["stream"].endswith("100ms")]
            assert all(b["U"] == a["u"] + 1 for a, b in itertools.pairwise(depth))
            # Later: the simulator's own book, continuing the ids exactly.
            r = await http.get(
                f"{sim.url}/api/v3/depth", params={"symbol": "ETHUSDT", "limit": 5000}
            )
            later = await r.json()
            assert later["lastUpdateId"] >= depth[-1]["u"]
            bids = [float(p) for p, _ in later["bids"]]
            asks = [float(p) for p, _ in later["asks"]]
            assert bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]
            # Klines exist only for bars closed by the replay clock.
            now_ms = (await (await http.get(f"{sim.url}/api/v3/time")).json())["serverTime"]
            assert 1723161254000 <= now_ms < 1723161600000
            r = await http.get(
                f"{sim.url}/api/v3/klines",
                params={"symbol": "ETHUSDT", "interval": "1m", "limit": 5},
            )
            bars = await r.json()
            assert len(bars) == 5 and bars[-1][6] < now_ms  # close time before "now"
            # SUBSCRIBE adds a stream on the same connection.
            await ws.send_str(
                json.dumps({"method": "SUBSCRIBE", "params": ["ethusdt@bookTicker"], "id": 7})
            )
            seen = await _frames(ws, 3000)  # frames already on their way come first
            assert any(f.get("id") == 7 and f.get("result") is None for f in seen)
            assert any(f.get("stream") == "ethusdt@bookTicker" for f in seen)

    with SimExchange([eth_file], store=open_store(sample_store_path), speed=20) as sim:
        asyncio.run(scenario(sim))


@pytest.mark.slow
def test_injected_faults_reach_the_client(eth_file: Path) -> None:
    async def scenario(sim: SimExchange) -> None:
        async with aiohttp.ClientSession() as http:
            sim.inject(Fault("status", status=429, path="/api/v3/depth"))
            r = await http.get(f"{sim.url}/api/v3/depth", params={"symbol": "ETHUSDT"})
            assert r.status == 429 and (await r.json())["code"] == -1003
            sim.inject(Fault("malformed", path="/api/v3/time"))
            r = await http.get(f"{sim.url}/api/v3/time")
            assert r.status == 200 and not (await r.text()).startswith("{")
            async with http.ws_connect(f"{sim.ws_url}/stream?streams={STREAMS}") as ws:
                frames = await _frames(ws, 50)
                sim.inject_ws(Fault("gap", path="@depth"))
                frames += await _frames(ws, 3000)
                depth = [f["data"] for f in frames if f["stream"].endswith("100ms")]
                jumps = [b["U"] - a["u"] for a, b in itertools.pairwise(depth)]
                assert sum(j > 1 for j in jumps) == 1 and min(jumps) == 1  # one diff skipped
                sim.inject_ws(Fault("malformed", path="@depth"))
                texts = [(await ws.receive(timeout=10)).data for _ in range(3000)]
                bad = [t for t in texts if not t.endswith("}")]
                assert len(bad) == 1
                sim.inject_ws(Fault("drop"))
                msg = None
                for _ in range(1000):
                    msg = await ws.receive(timeout=10)
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                assert msg is not None and msg.type in {
                    aiohttp.WSMsgType.CLOSED,
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.ERROR,
                }
        assert [kind for _, kind in sim.applied] == ["gap", "malformed", "drop"]

    with SimExchange([eth_file], speed=20) as sim:
        asyncio.run(scenario(sim))


def test_the_simulator_refuses_anything_but_loopback(eth_file: Path) -> None:
    with pytest.raises(ValueError, match="loopback"):
        SimExchange([eth_file], host="0.0.0.0")  # noqa: S104 - the point of the test


def test_a_spot_client_on_a_futures_recording_is_told_so(shared_data: Path) -> None:
    usdm = shared_data / "binance-ws" / "usdm" / "ethusdt_20240808.gz"

    async def scenario(sim: SimExchange) -> None:
        async with aiohttp.ClientSession() as http:
            r = await http.get(f"{sim.url}/api/v3/depth", params={"symbol": "ETHUSDT"})
            assert r.status == 400
            assert "futures recording" in (await r.json())["msg"]

    with SimExchange([usdm], speed=0, start_on_connect=False) as sim:
        asyncio.run(scenario(sim))


def test_mexc_mode_speaks_mexc_s_websocket_protocol(
    eth_file: Path, sample_store_path: Path
) -> None:
    from mmts.data.mexc_messages import DEALS_CHANNEL, DEPTH_CHANNEL, decode_push

    async def scenario(sim: SimExchange) -> None:
        async with aiohttp.ClientSession() as http, http.ws_connect(f"{sim.ws_url}/ws") as ws:
            channels = [f"{DEPTH_CHANNEL}@ETHUSDT", f"{DEALS_CHANNEL}@ETHUSDT"]
            await ws.send_str(json.dumps({"method": "SUBSCRIPTION", "params": channels}))
            answer = json.loads((await ws.receive(timeout=10)).data)
            assert answer == {"id": 0, "code": 0, "msg": ",".join(channels)}
            await ws.send_str(json.dumps({"method": "SUBSCRIPTION", "params": ["spot@nope@X"]}))
            pushes, texts = [], []
            while len(pushes) < 200:
                msg = await ws.receive(timeout=10)
                if msg.type == aiohttp.WSMsgType.BINARY:
                    pushes.append(decode_push(msg.data))
                else:
                    texts.append(json.loads(msg.data))
            await ws.send_str(json.dumps({"method": "PING"}))
            while not any(t.get("msg") == "PONG" for t in texts):
                msg = await ws.receive(timeout=10)
                if msg.type == aiohttp.WSMsgType.TEXT:
                    texts.append(json.loads(msg.data))
            assert any(t["code"] != 0 and "Not Subscribed" in t["msg"] for t in texts)
            assert {p.kind for p in pushes} == {"depth", "trade"}
            depth = [p.body for p in pushes if p.kind == "depth"]
            assert all(
                int(b.fromVersion) == int(a.toVersion) + 1 for a, b in itertools.pairwise(depth)
            )
            stamps = [p.replay_ns for p in pushes]
            assert all(s is not None for s in stamps) and stamps == sorted(stamps)
            r = await http.get(
                f"{sim.url}/api/v3/klines",
                params={"symbol": "ETHUSDT", "interval": "60m", "limit": 3},
            )
            assert r.status == 200 and len(await r.json()) == 3

    store = open_store(sample_store_path)
    with SimExchange([eth_file], store=store, speed=20, exchange="mexc") as sim:
        asyncio.run(scenario(sim))
