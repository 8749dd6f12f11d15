"""`mmts live --paper` against the simulator is the backtest: same events in, same decisions out.

Both tests replay the bundled real window (Binance spot ETH/BTC, 2024-08-08 23:54 .. 00:05)
through the project's exchange simulator on 127.0.0.1 and a real websocket.
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mmts.core import sync_nb
from mmts.core import tickbook_nb as tbk
from mmts.core.events import BookEvent
from mmts.core.time import to_ns
from mmts.data import open_store
from mmts.data.binance_ws import read_recording
from mmts.data.book_stream import BookSyncStream
from mmts.live.market import LiveMarket
from mmts.live.session import LiveConfig, LiveSession
from mmts.models.experiment import load_experiment
from mmts.runtime.config import load_trading
from mmts.testing.exchange_sim import Fault
from mmts.testing.experts import untrained_experts
from mmts.testing.sim_exchange import SimExchange

pytestmark = [pytest.mark.slow, pytest.mark.network]

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = ROOT / "experiments" / "paper_rules.toml"
START, END = "2024-08-08T23:54:14Z", "2024-08-09T00:05:05Z"


def _files(days: tuple[str, ...]) -> list[Path]:
    """The bundled raw recordings (data/raw: the window the sample store was imported from)."""
    spot = ROOT / "data" / "raw" / "binance-ws" / "spot"
    return [spot / f"{s}usdt_{d}.gz" for s in ("eth", "btc") for d in days]


def _assert_same_decisions(live: pd.DataFrame, backtest: pd.DataFrame, at_least: int) -> None:
    """The live session's decisions are the backtest's up to where the session stopped.

    Compared exactly: time, action, size, confidence, price and every expert's output; and at
    least two different actions, so the comparison covers trading, not a run of HOLDs.
    """
    common = backtest[backtest["time"] <= live["time"].max()].reset_index(drop=True)
    assert len(live) >= at_least and len(common) == len(live)
    columns = ["time", "action", "size", "confidence", "price", "experts"]
    pd.testing.assert_frame_equal(live[columns], common[columns], check_exact=True)
    assert live["action"].nunique() >= 2


def _run_live(sim: SimExchange, out: Path, emitted: list[Any] | None = None,
              on_market: Any = None, experts: dict[str, Any] | None = None,
              exp: Any = None, **cfg: Any) -> tuple[LiveSession, dict[str, Any]]:  # fmt: skip
    """Run a paper session against ``sim`` until its replay has ended."""
    exp, trading = exp or load_experiment(EXPERIMENT), load_trading(EXPERIMENT)
    live_cfg = LiveConfig(out=out, ws_url=sim.ws_url, rest_url=sim.url, status_every_s=0.5, **cfg)
    session = LiveSession(exp, trading, live_cfg, status_stream=io.StringIO(), on_market=on_market,
                          experts=experts)  # fmt: skip
    if emitted is not None:
        emit = session._emit

        def record(event: Any) -> None:
            emitted.append(event)
            emit(event)

        session._emit = record  # type: ignore[method-assign]

    async def main() -> dict[str, Any]:
        stop = asyncio.Event()
        watcher = asyncio.create_task(sim.stop_when_finished(stop))
        try:
            return await session.run(stop)
        finally:
            watcher.cancel()

    return session, asyncio.run(main())


def test_live_paper_decides_exactly_as_the_backtest(
    sample_store_path: Path, tmp_path: Path
) -> None:
    from mmts.backtest.run import run_backtest

    store = open_store(sample_store_path)
    with SimExchange(_files(("20240808", "20240809")), store=store, speed=0) as sim:
        # Saved every second: the tables compared below are built from many incremental saves.
        session, summary = _run_live(sim, tmp_path / "live", save_every_s=1.0)
    assert summary["late_events"] == 0 and summary["missing_bars"] == 0
    # The recording machine's clock ran ~1.27 s behind Binance's: estimated, and shown.
    assert -1400 < summary["clock_offset_ms"] < -1150, summary
    assert "CLOCK 1.3 s BEHIND" in session.status_line()
    live = pd.read_parquet(tmp_path / "live" / "decisions.parquet")
    exp, trading = load_experiment(EXPERIMENT), load_trading(EXPERIMENT)
    result = run_backtest(store, exp, trading, START, END, out=tmp_path / "bt")
    backtest = pd.read_parquet(Path(result["run_dir"]) / "decisions.parquet")
    # The live session stops with the data; the backtest also decides at its end time.
    _assert_same_decisions(live, backtest, at_least=125)
    fills_live = pd.read_parquet(tmp_path / "live" / "fills.parquet")
    fills_bt = pd.read_parquet(Path(result["run_dir"]) / "fills.parquet")
    fills_bt = fills_bt[fills_bt["time"] <= live["time"].max()].reset_index(drop=True)
    assert len(fills_live) > 5
    pd.testing.assert_frame_equal(fills_live[: len(fills_bt)], fills_bt, check_exact=True)
    _assert_same_ledger(tmp_path / "live", Path(result["run_dir"]))


def _assert_same_ledger(live_out: Path, run_dir: Path) -> None:
    """The live session's ledger holds the backtest's predictions and the very same inputs."""
    from mmts.history import open_ledger

    live, replay = open_ledger(live_out), open_ledger(run_dir)
    ours = live.predictions()
    theirs = replay.predictions(end=ours["time"].max() + pd.Timedelta(1, "ns"))
    columns = ["time", "model", "action", "p_sell", "p_hold", "p_buy", "confidence", "input_id"]
    pd.testing.assert_frame_equal(ours[columns], theirs[columns], check_exact=True)
    hashes = [x.inputs().set_index("input_id")["hash"] for x in (live, replay)]
    assert (hashes[0] == hashes[1].loc[hashes[0].index]).all()
    x = live.input(ours["input_id"].iloc[-1])  # rebuilt from what the session stored
    assert x.at == int(ours["time"].iloc[-1].value)


def test_live_paper_on_mexc_decides_exactly_as_the_backtest(
    sample_store_path: Path, tmp_path: Path
) -> None:
    """MEXC's protocol (protobuf pushes, from/to versions, no trade ids) carries the same market.

    The simulator serves the real Binance recordings re-encoded as MEXC pushes: what is checked
    is the MEXC client (subscription, decoding, book procedure, deal numbering, 60m klines) on
    real market data, against the backtest of that data.
    """
    from mmts.backtest.run import run_backtest

    store = open_store(sample_store_path)
    with SimExchange(_files(("20240808",)), store=store, speed=0, exchange="mexc") as sim:
        _, summary = _run_live(sim, tmp_path / "live", exchange="mexc")
        asked = {(path, q.get("interval", "")) for _, path, q in sim.requests}
    assert ("/api/v3/klines", "60m") in asked and ("/api/v3/depth", "") in asked
    assert summary["late_events"] == 0 and summary["missing_bars"] == 0
    live = pd.read_parquet(tmp_path / "live" / "decisions.parquet")
    exp, trading = load_experiment(EXPERIMENT), load_trading(EXPERIMENT)
    result = run_backtest(store, exp, trading, START, "2024-08-09T00:00:00Z", out=tmp_path / "bt")
    backtest = pd.read_parquet(Path(result["run_dir"]) / "decisions.parquet")
    _assert_same_decisions(live, backtest, at_least=60)


def _futures_store(root: Path, spot_store: Any, usdm: Path) -> Any:
    """The USD-M recordings imported, with 1 m / 1 h / 1 d bars to warm up from.

    No futures klines were recorded here: the spot bars of the same symbols stand in for them
    (the perp trades within a few dollars of spot). Book, trades and 1 s bars are the perp's own.
    """
    from mmts.data.importer import import_paths

    store = open_store(root)
    import_paths(store, [usdm / "ethusdt_20240808.gz", usdm / "btcusdt_20240808.gz"])
    for spot in ("ETH/USDT", "BTC/USDT"):
        for kind in ("bars_1m", "bars_1h", "bars_1d"):
            bars = spot_store.read("binance", spot, kind, pd.Timestamp("2024-01-01").value, None)
            store.write("binance", spot + ":USDT", kind, bars)
    return store


def test_live_paper_on_usdm_futures_decides_exactly_as_the_backtest(
    sample_store_path: Path, shared_data: Path, tmp_path: Path
) -> None:
    """USD-M futures: ``/fapi`` REST, ``pu`` continuity, the perp's book and trades."""
    import dataclasses

    from mmts.backtest.run import run_backtest

    usdm = shared_data / "binance-ws" / "usdm"
    store = _futures_store(tmp_path / "store", open_store(sample_store_path), usdm)
    exp = load_experiment(EXPERIMENT)
    features = dataclasses.replace(exp.features, primary_symbol="ETH/USDT:USDT",
                                   reference_symbol="BTC/USDT:USDT",
                                   tick={"ETH/USDT:USDT": 0.01, "BTC/USDT:USDT": 0.1})  # fmt: skip
    exp = dataclasses.replace(exp, features=features)
    files = [usdm / "ethusdt_20240808.gz", usdm / "btcusdt_20240808.gz"]
    with SimExchange(files, store=store, speed=0) as sim:
        _, summary = _run_live(sim, tmp_path / "live", exp=exp, exchange="binanceusdm")
        paths = {path for _, path, _ in sim.requests}
        start = pd.Timestamp(sim.recorded.stamps[0], tz="UTC")  # the session's "now"
    assert {"/fapi/v1/time", "/fapi/v1/klines", "/fapi/v1/depth"} <= paths, paths
    assert not any(p.startswith("/api/") for p in paths), paths
    assert summary["late_events"] == 0 and summary["missing_bars"] == 0
    live = pd.read_parquet(tmp_path / "live" / "decisions.parquet")
    result = run_backtest(store, exp, load_trading(EXPERIMENT), start, "2024-08-09T00:00:00Z",
                          out=tmp_path / "bt")  # fmt: skip
    backtest = pd.read_parquet(Path(result["run_dir"]) / "decisions.parquet")
    _assert_same_decisions(live, backtest, at_least=50)


def _model_experts(store: Any) -> dict[str, Any]:
    """Untrained CNN -> DQN chain with fixed weights, and one rule expert."""
    exp = load_experiment(EXPERIMENT)
    return untrained_experts(exp, store, pd.Timestamp(START).value, seed=3, rules=("imbalance",))


def test_live_paper_equals_replay_with_the_cnn_feeding_the_dqn(
    sample_store_path: Path, tmp_path: Path
) -> None:
    """The model path too: the DQN reads the CNN's output in live exactly as in replay."""
    from mmts.backtest.replay import replay_events
    from mmts.runtime.setup import new_runtime

    store = open_store(sample_store_path)
    exp, trading = load_experiment(EXPERIMENT), load_trading(EXPERIMENT)
    with SimExchange(_files(("20240808",)), store=store, speed=0) as sim:
        session, _ = _run_live(sim, tmp_path / "live", experts=_model_experts(store))
    live = session.runtime
    assert live is not None and len(live.decisions) > 50
    start, end = pd.Timestamp(START).value, live.decisions[-1]["time"]
    replay = new_runtime(exp, trading, _model_experts(store), start=start)
    for event in replay_events(store, exp.features, start, end):
        replay.feed(event)
    replay.finish(end)
    assert [d["time"] for d in live.decisions] == [d["time"] for d in replay.decisions]
    for ours, theirs in zip(live.decisions, replay.decisions, strict=True):
        assert (ours["action"], ours["size"], ours["experts"]) == (
            theirs["action"],
            theirs["size"],
            theirs["experts"],
        )
    # Every decision had a DQN output, so every one had the CNN's output in its slot.
    assert all({"cnn", "rl"} <= set(json.loads(d["experts"])) for d in live.decisions)


def _replay_books(paths: list[Path], wanted: set[int]) -> dict[int, tuple[np.ndarray, ...]]:
    """The book replay reconstructs from the recordings, at each wanted last update id."""
    rows = np.concatenate([read_recording(path)[0][0].book for path in paths])
    bounds = np.flatnonzero(
        np.r_[True, (np.diff(rows["local_ts"]) != 0) | (np.diff(rows["last_id"]) != 0)
              | (np.diff(rows["flags"]) != 0)]
    )  # fmt: skip
    stream = BookSyncStream(False, tick=0.01)
    books: dict[int, tuple[np.ndarray, ...]] = {}
    for a, b in zip(bounds, [*bounds[1:], rows.shape[0]], strict=True):
        stream.push(rows[a:b])
        u = int(stream.status[sync_nb.SY_LAST_U])
        if stream.valid and u in wanted and u not in books and stream.book is not None:
            books[u] = (
                *tbk.tb_levels(stream.book, 0, 10**6),
                *tbk.tb_levels(stream.book, 1, 10**6),
            )
    return books


@pytest.mark.parametrize(
    ("exchange", "days", "speed", "n_faults", "min_resyncs", "min_reconnects"),
    [("binance", ("20240808", "20240809"), 20, 40, 20, 5), ("mexc", ("20240808",), 40, 20, 10, 3)],
)
def test_disconnects_and_gaps_resync_to_the_replayed_book(
    sample_store_path: Path, tmp_path: Path, exchange: str, days: tuple[str, ...], speed: float,
    n_faults: int, min_resyncs: int, min_reconnects: int,
) -> None:  # fmt: skip
    files = _files(days)
    eth_files = files[: len(days)]
    sim = SimExchange(files, store=open_store(sample_store_path), speed=speed, exchange=exchange)
    t0 = sim.recorded.stamps[0]
    kinds = ["drop", "gap", "gap", "drop", "malformed", "gap", "close"]
    for k in range(n_faults):  # one fault every 15 s of the recorded minutes
        kind = kinds[k % len(kinds)]
        sim.schedule(
            t0 + (15 + 15 * k) * 10**9, Fault(kind, path="@depth" if kind != "drop" else "")
        )
    sim.inject(Fault("status", status=429, path="/depth"), Fault("status", status=503, path="/depth"),
               Fault("delay", seconds=0.3, path="/depth"))  # fmt: skip
    synced: list[tuple[int, tuple[np.ndarray, ...]]] = []

    def watch(market: LiveMarket) -> None:
        def on_synced(book: BookSyncStream) -> None:
            assert book.book is not None
            u = int(book.status[sync_nb.SY_LAST_U])
            synced.append(
                (u, (*tbk.tb_levels(book.book, 0, 10**6), *tbk.tb_levels(book.book, 1, 10**6)))
            )

        market.on_synced = on_synced

    emitted: list[Any] = []
    with sim:
        session, summary = _run_live(sim, tmp_path / "live", emitted, watch, stale_after_s=1.0,
                                     backoff_initial_s=0.02, exchange=exchange)  # fmt: skip
    applied = [kind for _, kind in sim.applied]
    assert len(applied) >= min_resyncs, applied
    assert summary["resyncs"] >= min_resyncs and summary["reconnects"] >= min_reconnects, summary
    assert session.feed is not None and session.feed.malformed >= 1
    # Every resync (and the first sync) rebuilt exactly the book replay has at that update id.
    replayed = _replay_books(eth_files, {u for u, _ in synced})
    # Each resync ends a synced stretch; the next one starts with a sync, the first with the
    # first sync. Only the last resync may find the recording over before its sync.
    assert summary["resyncs"] <= len(synced) <= summary["resyncs"] + 1, (len(synced), summary)
    assert len(synced) >= min_resyncs
    for u, levels in synced:
        assert u in replayed, f"replay never reached update id {u}"
        for ours, theirs in zip(levels, replayed[u], strict=True):
            np.testing.assert_array_equal(ours, theirs)
    # No decision while the book was out of sync (from an invalidation or a snapshot's reset to
    # its sync); decisions were paused instead. One snapshot per resync: none resets a book that
    # is in sync (the diffs held during a fetch once asked for a second one, which did).
    valid_at = []
    valid = False
    for event in emitted:
        if isinstance(event, BookEvent) and event.code in (
            sync_nb.LOG_SYNCED, sync_nb.LOG_INVALIDATE, sync_nb.LOG_RESET,
        ):  # fmt: skip
            assert not (valid and event.code == sync_nb.LOG_RESET), f"reset at {event.time}"
            valid = event.code == sync_nb.LOG_SYNCED
            valid_at.append((event.time, valid))
    times = np.array([t for t, _ in valid_at])
    states = np.array([v for _, v in valid_at])
    runtime = session.runtime
    assert runtime is not None and runtime.paused and len(runtime.decisions) > 20
    for decision in runtime.decisions:
        k = int(np.searchsorted(times, decision["time"], side="right")) - 1
        assert k >= 0 and states[k], f"decision at {decision['time']} on an invalid book"
    for t, _ in runtime.paused:
        k = int(np.searchsorted(times, t, side="right")) - 1
        assert k < 0 or not states[k]


def test_a_restarted_session_continues_from_its_state(
    sample_store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mmts.runtime.engine import Runtime

    store = open_store(sample_store_path)
    out = tmp_path / "live"
    with SimExchange(_files(("20240808",)), store=store, speed=0) as sim:
        first, _ = _run_live(sim, out)
    assert first.runtime is not None
    ended = json.loads(json.dumps(first.runtime.state()))  # as the state file holds it
    assert first.runtime.fills and ended["moe"]["records"], "the first session must leave state"
    restored: list[dict[str, Any]] = []
    original = Runtime.restore

    def restore(self: Runtime, state: dict[str, Any]) -> None:
        original(self, state)
        restored.append(json.loads(json.dumps(self.state())))  # what the second one starts from

    monkeypatch.setattr(Runtime, "restore", restore)
    n_decisions = len(pd.read_parquet(out / "decisions.parquet"))
    with SimExchange(_files(("20240809",)), store=store, speed=0) as sim:
        second, _ = _run_live(sim, out)
    assert second.runtime is not None and len(restored) == 1
    start = restored[0]
    # The second session starts from the first one's portfolio (cash, position, average price,
    # realised PnL, fees), risk state, mixture memory (records, pending outcomes, stance) and
    # the stateful experts' state, with order ids continuing.
    for key in ("portfolio", "risk", "moe", "experts", "order_id", "unresolved", "decision_prices"):
        assert start[key] == ended[key], key
    assert start["portfolio"]["position"] == first.runtime.portfolio.position
    decisions = pd.read_parquet(out / "decisions.parquet")
    assert len(decisions) == n_decisions + len(second.runtime.decisions)
    assert decisions["time"].is_monotonic_increasing
    orders = pd.read_parquet(out / "orders.parquet")
    assert orders["order_id"].is_unique
    assert all(o.id > first.runtime.order_id for o in second.runtime.orders)


@pytest.mark.parametrize("exchange", ["binance", "mexc"])
def test_live_money_session_trades_through_the_order_manager(
    sample_store_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, exchange: str
) -> None:
    """`--live` against the simulator's account: real orders, fills booked, keys kept secret."""
    import dataclasses
    import logging

    caplog.set_level(logging.DEBUG)
    key, secret = "live-key-SENTINEL-77", "live-secret-SENTINEL-88"
    exp, trading = load_experiment(EXPERIMENT), load_trading(EXPERIMENT)
    trading = dataclasses.replace(trading, risk=dataclasses.replace(trading.risk, long_only=True))
    out = tmp_path / "live"
    # At speed 10: a live session is real time (ccxt throttles requests); 12 s = 120 s of data.
    store = open_store(sample_store_path)
    with SimExchange(_files(("20240808",)), store=store, speed=10, exchange=exchange) as sim:
        cfg = LiveConfig(out=out, exchange=exchange, ws_url=sim.ws_url, rest_url=sim.url,
                         paper=False, status_every_s=0.5, duration_s=12)  # fmt: skip
        prefix = f"MMTS_{exchange.upper()}_API_"
        session = LiveSession(exp, trading, cfg, status_stream=io.StringIO(),
                              environ={prefix + "KEY": key, prefix + "SECRET": secret})  # fmt: skip

        asyncio.run(session.run())
        account = sim.account
    runtime = session.runtime
    assert runtime is not None and session.orders is not None
    ours = [o for o in account.orders.values() if o.client_id.startswith("mmts")]
    assert len(ours) >= 3 and sum(o.status == "FILLED" for o in ours) >= 3
    assert not [o for o in ours if o.status == "REJECTED"]  # never sold what it did not hold
    # The runtime's position is what the exchange holds: every fill came back and was booked.
    assert runtime.portfolio.position == pytest.approx(account.balances.get("ETH", 0.0), abs=1e-9)
    assert runtime.portfolio.position >= 0.0  # long_only on a spot account
    lifecycle = pd.read_parquet(out / "order_lifecycle.parquet")
    assert set(lifecycle["client_id"]) == {o.client_id for o in ours}
    assert set(lifecycle["state"]) <= {"filled", "canceled", "rejected", "expired", "new"}
    written = [path for path in out.rglob("*") if path.is_file()]
    assert any(p.parent.name == "predictions" for p in written)  # the ledger too is searched
    for path in written:
        assert key.encode() not in path.read_bytes() and secret.encode() not in path.read_bytes()
    assert key not in caplog.text and secret not in caplog.text


def test_a_paper_state_never_becomes_a_live_portfolio(tmp_path: Path) -> None:
    exp, trading = load_experiment(EXPERIMENT), load_trading(EXPERIMENT)
    (tmp_path / "state.json").write_text(
        '{"version": 1, "experiment": "paper_rules", "mode": "paper", "runtime": {}}'
    )
    cfg = LiveConfig(out=tmp_path, rest_url="http://127.0.0.1:9", paper=False)
    session = LiveSession(exp, trading, cfg, status_stream=io.StringIO())
    from mmts.runtime.setup import new_runtime

    runtime = new_runtime(exp, trading, session.experts, start=0)
    with pytest.raises(ValueError, match="paper portfolio must never become a real one"):
        session._load_previous(runtime)


class Injected(RuntimeError):
    """The failure the tests below plant in one part of a running session."""


def _plant(monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    from mmts.live.feed import MarketFeed
    from mmts.runtime.engine import Runtime

    calls = {"n": 0}

    def after(n: int, original: Any) -> Any:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == n:  # once: what runs after the failure must still work
                raise Injected(f"planted in {where}")
            return original(*args, **kwargs)

        return wrapped

    if where == "decide":  # a crash while deciding, on whatever task brought the event
        monkeypatch.setattr(Runtime, "_decide", after(5, Runtime._decide))
    elif where == "kline fetch":  # a fetch task after the warm-up (warm-up asks once a series)
        original = LiveMarket._klines

        async def klines(self: LiveMarket, *args: Any) -> Any:
            if self.released_until > 0 and args[0].timeframe == "1m":
                raise Injected("planted in kline fetch")
            return await original(self, *args)

        monkeypatch.setattr(LiveMarket, "_klines", klines)
    elif where == "trade":  # the market-data task itself
        monkeypatch.setattr(LiveMarket, "on_trade", after(50, LiveMarket.on_trade))
    elif where == "snapshot":  # the depth-snapshot task
        monkeypatch.setattr(MarketFeed, "_release_snapshot", after(1, MarketFeed._release_snapshot))
    elif where == "housekeeping":
        monkeypatch.setattr(LiveSession, "_print_status", after(2, LiveSession._print_status))


@pytest.mark.parametrize("where", ["decide", "kline fetch", "trade", "snapshot", "housekeeping"])
def test_a_failure_anywhere_stops_the_session_and_is_kept(
    where: str, sample_store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    _plant(monkeypatch, where)
    out = tmp_path / "live"
    with SimExchange(_files(("20240808",)), store=open_store(sample_store_path), speed=0) as sim:
        session, summary = _run_live(sim, out)
    assert summary["error"] is not None and f"planted in {where}" in summary["error"]
    # It stopped at the failure instead of trading on to the end of the recording.
    assert session.market is not None
    assert session.market.clock < (to_ns(END) or 0) - 60 * 10**9
    state = json.loads((out / "state.json").read_text())
    assert state["error"] == summary["error"]
    logged = [r for r in caplog.records if r.exc_info and isinstance(r.exc_info[1], Injected)]
    assert logged and "stopping the session" in logged[0].getMessage()


def test_mmts_live_exits_non_zero_when_the_session_fails(
    sample_store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from mmts.cli.main import main

    _plant(monkeypatch, "decide")
    with SimExchange(_files(("20240808",)), store=open_store(sample_store_path), speed=0) as sim:
        code = main(["live", "--experiment", str(EXPERIMENT), "--exchange", "binance",
                     "--ws-url", sim.ws_url, "--rest-url", sim.url, "--duration", "60",
                     "--out", str(tmp_path / "live")])  # fmt: skip
    assert code == 1
    assert "the session stopped: " in capsys.readouterr().err


def test_a_paper_session_learns_online_in_the_background(
    sample_store_path: Path, tmp_path: Path
) -> None:
    """Retrains run in another process while the session keeps deciding; a shadow is judged."""
    import dataclasses

    from mmts.history import open_ledger
    from mmts.learning.config import OnlineConfig

    store = open_store(sample_store_path)
    exp, trading = load_experiment(EXPERIMENT), load_trading(EXPERIMENT)
    online = OnlineConfig(enabled=True, models=("cnn", "rl"), retrain_every=8, window=40,
                          min_outcomes=5, max_outcomes=10, batch_size=4, regression_window=10)  # fmt: skip
    trading = dataclasses.replace(trading, online=online)
    experts = _model_experts(store)
    with SimExchange(_files(("20240808",)), store=store, speed=10) as sim:
        cfg = LiveConfig(out=tmp_path / "live", ws_url=sim.ws_url, rest_url=sim.url,
                         status_every_s=0.5, duration_s=30)  # fmt: skip
        session = LiveSession(exp, trading, cfg, status_stream=io.StringIO(), experts=experts)
        summary = asyncio.run(session.run())
    assert summary["error"] is None
    ledger = open_ledger(tmp_path / "live")
    events = ledger.promotions()
    trained = events[events["event"] == "trained"]
    assert set(trained["model"]) == {"cnn", "rl"}, events
    for model in ("cnn", "rl"):  # each retrained in the background process, loaded, shadowed
        shadow = ledger.predictions(model=model, role="shadow")
        # A shadow is a retrained model, or the one a promotion replaced (watched for a rollback).
        replaced = events[events["event"] == "promoted"]["from_version"]
        assert len(shadow) > 0
        assert set(shadow["version"]) <= set(trained["to_version"]) | set(replaced)
    # The session kept deciding while the retrain ran: no decision time was skipped.
    decisions = pd.read_parquet(tmp_path / "live" / "decisions.parquet")
    steps = decisions["time"].diff().dropna().dt.total_seconds()
    assert (steps == 5.0).all()
    assert (tmp_path / "live" / "checkpoints" / "cnn" / "index.json").is_file()
