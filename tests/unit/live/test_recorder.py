"""`mmts record` writes what the importer reads: recording a replay gives back the same data."""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmts.data import import_paths, open_store
from mmts.data.binance_ws import read_recording
from mmts.live.feed import FeedConfig
from mmts.live.recorder import DailyFiles, record
from mmts.testing.exchange_sim import Fault
from mmts.testing.sim_exchange import SimExchange

pytestmark = [pytest.mark.slow, pytest.mark.network]

RAW = Path(__file__).resolve().parents[3] / "data" / "raw" / "binance-ws" / "spot"


def _record(sim: SimExchange, out: Path, exchange: str = "binance") -> dict[str, object]:
    cfg = FeedConfig(exchange=exchange, ws_url=sim.ws_url, rest_url=sim.url, depth=("ETHUSDT",), trades=("ETHUSDT",),
                     book_ticker=("ETHUSDT",), snapshot_limit=1000, backoff_initial_s=0.02)  # fmt: skip

    async def main() -> dict[str, object]:
        stop = asyncio.Event()
        watcher = asyncio.create_task(sim.stop_when_finished(stop, linger_s=1.0))
        try:
            return await record(cfg, out, stop=stop, flush_every_s=0.2)
        finally:
            watcher.cancel()

    return asyncio.run(main())


def test_recording_a_replay_reproduces_the_recording(tmp_path: Path) -> None:
    original = RAW / "ethusdt_20240808.gz"
    with SimExchange([original], speed=0) as sim:
        summary = _record(sim, tmp_path / "rec")
    (path,) = (tmp_path / "rec").iterdir()
    assert path.name == "ethusdt_20240808.gz" and summary["snapshots"] == 1
    (ours,), _ = read_recording(path)
    (theirs,), _ = read_recording(original)
    for kind in ("book", "trades", "bbo"):
        assert np.array_equal(getattr(ours, kind), getattr(theirs, kind)), kind
    # And the importer takes it like any recording.
    report = import_paths(open_store(tmp_path / "store"), [path]).to_json()
    book = [w for w in report["written"] if w["kind"] == "book"]
    assert book and book[0]["rows_read"] == theirs.book.shape[0]


def test_recording_usdm_futures_gives_back_the_futures_recording(
    tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``mmts record --exchange binanceusdm``: /fapi snapshots, pu continuity, a linear-perp file.

    The snapshot answer is sent half a second late (a busy machine): frames received after it
    was taken are flushed meanwhile unless the recorder holds them, and the snapshot line would
    land after them.
    """
    depth = SimExchange._depth

    async def late_depth(self: SimExchange, query: dict[str, str], futures: bool) -> Any:
        answer = await depth(self, query, futures)
        await asyncio.sleep(0.5)
        return answer

    monkeypatch.setattr(SimExchange, "_depth", late_depth)
    original = shared_data / "binance-ws" / "usdm" / "ethusdt_20240808.gz"
    with SimExchange([original], speed=0) as sim:
        summary = _record(sim, tmp_path / "rec", exchange="binanceusdm")
        paths = {path for _, path, _ in sim.requests}
    assert paths == {"/fapi/v1/depth"} and summary["snapshots"] == 1
    (path,) = (tmp_path / "rec").iterdir()
    (ours,), _ = read_recording(path)
    (theirs,), _ = read_recording(original)
    assert ours.market == theirs.market == "linear"
    for kind in ("book", "trades", "bbo"):
        assert np.array_equal(getattr(ours, kind), getattr(theirs, kind)), kind


def test_drops_and_gaps_get_a_fresh_snapshot_in_the_file(tmp_path: Path) -> None:
    original = RAW / "ethusdt_20240808.gz"
    sim = SimExchange([original], speed=40)
    t0 = sim.recorded.stamps[0]
    for k, kind in enumerate(["drop", "gap", "drop", "gap"]):
        sim.schedule(
            t0 + (20 + 40 * k) * 10**9, Fault(kind, path="@depth" if kind == "gap" else "")
        )
    with sim:
        summary = _record(sim, tmp_path / "rec")
    assert summary["reconnects"] >= 2 and summary["gaps"] >= 2 and summary["snapshots"] >= 5
    (path,) = (tmp_path / "rec").iterdir()
    stamps = [
        int(line.split(b" ", 1)[0]) for line in gzip.decompress(path.read_bytes()).splitlines()
    ]
    assert stamps == sorted(stamps)
    store = open_store(tmp_path / "store")
    import_paths(store, [path])
    replay, _ = store.book_replay("ETH/USDT", sim.recorded.stamps[-1] + 1)
    assert replay.valid  # synced again at the end, from the snapshots the recorder took


def test_held_lines_wait_for_the_snapshot_and_take_it_in_stamp_order(tmp_path: Path) -> None:
    files = DailyFiles(tmp_path)
    day = 1_723_161_255_000_000_000
    files.add(day + 1, "ETHUSDT", "a")
    files.flush()
    files.add(day + 3, "ETHUSDT", "c")
    files.add(day + 3, "BTCUSDT", "x")
    files.flush(hold={"ETHUSDT"})  # ETH's snapshot is on its way: its line waits, BTC's does not
    files.add(day + 2, "ETHUSDT", "snapshot")
    files.flush()
    files.add(day + 1, "ETHUSDT", "late")  # not held: never written before what already was
    files.flush()
    eth = gzip.decompress((tmp_path / "ethusdt_20240808.gz").read_bytes()).decode().splitlines()
    assert eth == [f"{day + 1} a", f"{day + 2} snapshot", f"{day + 3} c", f"{day + 3} late"]
    btc = gzip.decompress((tmp_path / "btcusdt_20240808.gz").read_bytes()).decode()
    assert btc == f"{day + 3} x\n"
