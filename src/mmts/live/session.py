"""``mmts live``: the backtest's runtime fed by a live feed, paper (default) or real money.

A session builds the runtime exactly as ``mmts backtest`` does (``runtime.setup``), warms the
features up from REST klines, then feeds it the ordered events of a :class:`LiveMarket`. It
writes ``decisions.parquet``, ``fills.parquet``, ``orders.parquet``, ``equity.parquet`` and
``state.json`` to its folder every ``save_every_s`` and at shutdown (atomically: a crash leaves
the previous files); started again on the same folder it continues from ``state.json``
(portfolio, risk and mixture memory, order ids) and appends to the tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd
import pyarrow as pa

from mmts.core.errors import MmtsError
from mmts.core.events import BarEvent, Event
from mmts.core.files import json_text, write_atomically
from mmts.core.time import iso, wall_clock_ns
from mmts.data import open_store
from mmts.history.schema import PROMOTIONS
from mmts.history.writer import LedgerWriter
from mmts.live.commands import CommandInbox
from mmts.live.feed import FeedConfig, MarketFeed, RetryableError
from mmts.live.journal import Journal
from mmts.live.market import CLOCK_WARN_MS, LiveMarket
from mmts.live.orders import KEY_VARIABLES, OrderManager, credentials, make_exchange
from mmts.live.protocols import EXCHANGES
from mmts.live.tasks import spawn
from mmts.models.experiment import Experiment
from mmts.models.expert import check_experts, dependency_order
from mmts.runtime.config import TradingConfig, retention_policy
from mmts.runtime.control import RUNTIME_COMMANDS, ControlError, apply_control
from mmts.runtime.engine import Runtime
from mmts.runtime.setup import build_experts, drift_reference, new_runtime, runtime_frames

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
STATE_VERSION = 1
TABLES = ("decisions", "fills", "orders", "equity")


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveConfig:
    """Where the session connects, how long it runs and where it writes."""

    out: Path
    exchange: str = "binance"
    ws_url: str = "wss://stream.binance.com:9443"
    rest_url: str = "https://api.binance.com"
    paper: bool = True
    duration_s: float | None = None
    save_every_s: float = 10.0
    status_every_s: float = 1.0
    stale_after_s: float = 10.0
    max_wait_s: float = 5.0
    #: First reconnect delay (doubling, with jitter, up to 30 s).
    backoff_initial_s: float = 0.2
    #: torch's intra-op threads while the session runs. One decision's networks are tiny and
    #: latency-bound: more threads only add wake-ups (measured: tick-to-decision p50 16.6 ms with
    #: torch's default of 2 threads on the 2-core benchmark machine, 5.5 ms with 1).
    torch_threads: int = 1
    #: How often the commands inbox is read (``live.commands``): a command's delay at most.
    command_poll_s: float = 0.2


class LiveSession:
    """One live or paper trading session; see the module docstring."""

    def __init__(self, exp: Experiment, trading: TradingConfig, cfg: LiveConfig, *,
                 experts: dict[str, Any] | None = None, checkpoint_dir: str | Path | None = None,
                 status_stream: TextIO | None = None,
                 on_market: Callable[[LiveMarket], None] | None = None,
                 environ: dict[str, str] | None = None) -> None:  # fmt: skip
        """``environ``: where API keys are read for ``--live`` (``os.environ`` when None)."""
        if cfg.exchange not in EXCHANGES:
            raise ValueError(
                f"exchange must be one of {', '.join(EXCHANGES)}; was {cfg.exchange!r}"
            )
        self.exp, self.trading, self.cfg = exp, trading, cfg
        if experts is None:
            experts, self.versions = build_experts(exp, trading, checkpoint_dir)
        else:
            self.versions = {name: getattr(e, "version", "given") for name, e in experts.items()}
        self.experts = experts
        self.abilities = check_experts(experts)
        #: The monitor's drift reference: the training period's inputs, read before connecting.
        self.reference = self._drift_reference()
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.status_stream = status_stream if status_stream is not None else sys.stderr
        self.runtime: Runtime | None = None
        self.ledger: LedgerWriter | None = None
        self.learner: Any = None
        self.market: LiveMarket | None = None
        self.feed: MarketFeed | None = None
        #: The tables as saved: earlier sessions' rows, then this one's (extended at each save).
        self.previous: dict[str, pd.DataFrame] = {}
        self._earlier_lifecycle: pd.DataFrame | None = None
        self._converted = dict.fromkeys(TABLES, 0)  # runtime rows already in ``previous``
        self._sequence = self._written = 0
        self._write_lock = threading.Lock()
        #: Why the session stopped on a failure (None while all is well): kept in the state file
        #: and the summary, and ``mmts live`` exits non-zero.
        self.error: str | None = None
        self._stop: asyncio.Event | None = None
        self.started_wall = 0.0
        self.latencies_ns: list[int] = []
        self.on_market = on_market
        self.orders: OrderManager | None = None  # the real venue (--live)
        self.environ = environ
        #: What a watcher tails (``live.journal``) and where operators' commands arrive.
        self.journal: Journal | None = None
        self.commands: CommandInbox | None = None
        self._fills_journaled = 0

    def _drift_reference(self) -> Any:
        """Read the first trained expert's training-period inputs from the experiment's store."""
        if not (self.trading.history.enabled and self.trading.alerts.drift_reference == "training"):
            return None
        if not Path(self.exp.store).is_dir():
            log.info("drift reference: no store at %s; drift is measured against the first "
                     "decisions", self.exp.store)  # fmt: skip
            return None
        return drift_reference(open_store(self.exp.store), self.exp, self.experts,
                               4 * self.trading.alerts.window)  # fmt: skip

    # -- state ----------------------------------------------------------------------------------

    def _load_previous(self, runtime: Runtime) -> None:
        path = self.out / STATE_FILE
        if not path.exists():
            return
        state = json.loads(path.read_text())
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"{path}: state version {state.get('version')} is not {STATE_VERSION}")
        if state.get("experiment") != self.exp.name:
            raise ValueError(
                f"{path} belongs to experiment {state.get('experiment')!r}, not {self.exp.name!r}: "
                "use another --out folder"
            )
        mode = "paper" if self.cfg.paper else "live"
        if state.get("mode") != mode:
            raise ValueError(
                f"{path} is a {state.get('mode')} session's state; this is a {mode} session: a "
                "paper portfolio must never become a real one (use another --out folder)"
            )
        runtime.restore(state["runtime"])
        for table in TABLES:
            file = self.out / f"{table}.parquet"
            if file.exists():
                self.previous[table] = pd.read_parquet(file)
        if (self.out / "order_lifecycle.parquet").exists():
            self._earlier_lifecycle = pd.read_parquet(self.out / "order_lifecycle.parquet")
        log.info("continuing from %s (position %.6f)", path, runtime.portfolio.position)

    def save(self) -> None:
        """Write the tables and the state file (each atomically), on this thread."""
        self._write(*self._snapshot())

    async def save_in_background(self) -> None:
        """Snapshot here (a consistent view), write in a worker thread (decisions go on)."""
        await asyncio.to_thread(self._write, *self._snapshot())

    def _snapshot(self) -> tuple[int, list[tuple[Path, Callable[[Path], object]]]]:
        """Return a sequence number and the writes that save the session as it is now.

        Only rows added since the last snapshot are turned into tables (a long session's save
        stays cheap); the tables saved so far are kept and extended.
        """
        runtime = self.runtime
        if runtime is None:
            return 0, []
        self._sequence += 1
        fresh = runtime_frames(runtime, since=self._converted)
        writes: list[tuple[Path, Callable[[Path], object]]] = []
        for table in TABLES:
            self._converted[table] = len(getattr(runtime, table))
            frame, old = fresh[table], self.previous.get(table)
            if old is not None and len(old):
                frame = pd.concat([old, frame], ignore_index=True) if len(frame) else old
            self.previous[table] = frame
            writes.append((self.out / f"{table}.parquet", partial(_to_parquet, frame)))
        if self.orders is not None:  # every real order's lifecycle, as the exchange reported it
            lifecycle = pd.DataFrame(self.orders.table())
            old = self._earlier_lifecycle
            if old is not None and len(old):
                lifecycle = pd.concat([old, lifecycle], ignore_index=True)
            writes.append((self.out / "order_lifecycle.parquet", partial(_to_parquet, lifecycle)))
        state = {
            "version": STATE_VERSION, "experiment": self.exp.name, "exchange": self.cfg.exchange,
            "mode": "paper" if self.cfg.paper else "live", "models": self.versions,
            "saved_at": iso(wall_clock_ns()),
            "market": asdict(self.market.status) if self.market else {},
            "paused_decisions": len(runtime.paused),
            "orders": {"api_errors": self.orders.api_errors, "breaker_open": self.orders.breaker_open,
                       "balances": self.orders.balances} if self.orders else {},
            "runtime": runtime.state(), "error": self.error,
        }  # fmt: skip
        text = json_text(state, default=_json_default)
        writes.append((self.out / STATE_FILE, partial(Path.write_text, data=text)))
        return self._sequence, writes

    def _write(self, sequence: int, writes: list[tuple[Path, Callable[[Path], object]]]) -> None:
        """Carry out a snapshot's writes, unless a later snapshot was written first."""
        with self._write_lock:
            if sequence <= self._written:
                return
            for path, write in writes:
                write_atomically(path, write)
            self._written = sequence

    # -- running --------------------------------------------------------------------------------

    def _emit(self, event: Event) -> None:
        runtime = self.runtime
        if runtime is None:
            raise RuntimeError("no runtime: events before run() started")
        before = len(runtime.decisions) + len(runtime.paused)
        decided = len(runtime.decisions)
        started = self.feed.frame_received_ns if self.feed else time.perf_counter_ns()
        runtime.feed(event)
        if len(runtime.decisions) + len(runtime.paused) > before:
            self.latencies_ns.append(time.perf_counter_ns() - started)
        if self.journal is not None:
            if isinstance(event, BarEvent) and event.symbol == self.exp.features.primary_symbol:
                o, h, low, c, v = event.ohlcv
                self.journal.write("bar", time=event.open_ns, timeframe=event.timeframe, open=o,
                                   high=h, low=low, close=c, volume=v)  # fmt: skip
            if len(runtime.decisions) > decided:
                self._journal_decision(runtime)
            if len(runtime.fills) > self._fills_journaled:
                for fill in runtime.fills[self._fills_journaled :]:
                    self.journal.write("fill", time=fill.time, wall=time.time_ns(),
                                       qty=float(fill.qty), price=float(fill.price),
                                       fee=float(fill.fee), liquidity=fill.liquidity)  # fmt: skip
                self._fills_journaled = len(runtime.fills)

    def _journal_decision(self, runtime: Runtime) -> None:
        if self.journal is None:
            return
        last = runtime.decisions[-1]
        equity = runtime.equity[-1][1] if runtime.equity else float("nan")
        self.journal.write(
            "decision", time=int(last["time"]), wall=time.time_ns(), action=last["action"],
            size=last["size"], confidence=last["confidence"], price=last["price"],
            position=float(runtime.portfolio.position), equity=float(equity),
            buy_threshold=last["buy_threshold"], sell_threshold=last["sell_threshold"],
            risk=last["risk"], weights=last["expert_weights"],
        )  # fmt: skip
        windows = runtime.last_windows
        if windows is not None:  # the order book the decision saw: its newest COB row
            bid, ask, imbalance, ma = (np.asarray(a)[-1] for a in windows.cob_rows)
            self.journal.write("book", time=int(last["time"]), imbalance=float(imbalance),
                               ma=[float(v) for v in np.atleast_1d(ma)],
                               bid=[float(v) for v in np.atleast_1d(bid)],
                               ask=[float(v) for v in np.atleast_1d(ask)])  # fmt: skip

    def _apply_command(self, command: str, args: dict[str, Any]) -> str:
        """Carry out one operator command between decisions (``live.commands``)."""
        if command == "stop":
            if self._stop is not None:
                self._stop.set()
            return "stopping: the state is saved and the session ends"
        if self.runtime is None:
            raise ControlError("the session has no runtime yet")
        if command in RUNTIME_COMMANDS:
            return apply_control(self.runtime, command, args)
        if command in ("promote", "rollback"):
            return self._promote(command, args)
        raise ControlError(f"unknown command {command!r}; known: stop, promote, rollback, "
                           f"{', '.join(RUNTIME_COMMANDS)}")  # fmt: skip

    def _checkpoint_stores(self) -> list[Any]:
        """Where a model's checkpoints are: this session's own (online learning), the experiment's."""
        from mmts.models.checkpoints import CheckpointStore

        return [CheckpointStore(self.out / "checkpoints", keep=10**6),
                CheckpointStore(self.exp.checkpoints.dir, self.exp.checkpoints.keep)]  # fmt: skip

    def _promote(self, command: str, args: dict[str, Any]) -> str:
        """Make a checkpoint the active model (``promote``), or its current one's parent (``rollback``)."""
        from mmts.models.predictors import load_checkpoint

        runtime = self.runtime
        name = str(args.get("model", ""))
        if runtime is None or name not in runtime.experts:
            raise ControlError(f"{command}: no expert {name!r}; the session has "
                               f"{sorted(runtime.experts) if runtime else []}")  # fmt: skip
        current = runtime.experts[name]
        entries = {
            e["id"]: e for store in reversed(self._checkpoint_stores()) for e in store.list(name)
        }
        if command == "rollback":
            parent = entries.get(str(getattr(current, "version", "")), {}).get("parent")
            if not parent:
                raise ControlError(f"rollback: {name} {getattr(current, 'version', '?')} has no "
                                   "parent checkpoint to go back to")  # fmt: skip
            version = str(parent)
        else:
            version = str(args.get("version", ""))
        entry = entries.get(version)
        if entry is None:
            raise ControlError(f"{command}: no checkpoint {version!r} of {name} (known: "
                               f"{', '.join(sorted(entries)) or 'none'})")  # fmt: skip
        try:
            model = load_checkpoint(current.model_type, {**entry, "model": name},
                                    runtime.builder.layout)  # fmt: skip
        except (ValueError, OSError, KeyError) as e:
            raise ControlError(f"{command}: {name} {version} cannot be loaded: {e}") from e
        if callable(getattr(model, "restore", None)) and callable(getattr(current, "state", None)):
            model.restore(current.state())  # a DQN goes on from the position it holds
        if hasattr(model, "warm"):
            model.warm()
        event = "promoted" if command == "promote" else "rolled_back"
        why = f"operator {command}"
        old = getattr(current, "version", "?")
        at = self.market.clock if self.market else 0
        if self.learner is not None and name in self.learner.tracks:
            self.learner.adopt(name, model, at, event, why, str(entry["path"]))
        else:
            runtime.set_expert(name, model)
            if self.ledger is not None:
                row = {"time": at, "model": name, "event": event, "from_version": old,
                       "to_version": version, "why": why, "evidence": json.dumps({"operator": True}),
                       "checkpoint": str(entry["path"])}  # fmt: skip
                self.ledger.rows("promotions", pa.Table.from_pylist([row], schema=PROMOTIONS))
        self.versions[name] = version
        return f"{name}: {old} -> {version}"

    async def _command_loop(self, stop: asyncio.Event) -> None:
        """Read the inbox off the loop; apply on it, where no decision is half-taken."""
        inbox = self.commands
        if inbox is None:
            return
        while not stop.is_set():
            try:
                paths = await asyncio.to_thread(inbox.pending)
                if paths:
                    inbox.handle(paths)
            except OSError as e:  # an unreadable inbox stops the commands, never the trading
                log.error("commands inbox %s: %s (retrying)", inbox.inbox, e)
            await asyncio.sleep(self.cfg.command_poll_s)

    def fail(self, what: str, error: BaseException) -> None:
        """Stop trading on an unexpected failure of ``what``: log it, keep it, stop the session.

        Orders still working are canceled as on Ctrl-C; the state file and the summary keep
        the error, and ``mmts live`` exits non-zero.
        """
        log.error("%s failed: %s: %s; stopping the session", what, type(error).__name__, error,
                  exc_info=error)  # fmt: skip
        if self.error is None:
            self.error = f"{what}: {type(error).__name__}: {error}"
        if self._stop is not None:
            self._stop.set()

    async def run(self, stop: asyncio.Event | None = None) -> dict[str, Any]:
        """Run until ``stop`` is set, ``duration_s`` passed, Ctrl-C or a failure; return a summary."""
        stop = stop or asyncio.Event()
        self._stop = stop
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)
        self.started_wall = time.monotonic()
        if "torch" in sys.modules:  # the experts use networks (rule experts never import torch)
            import torch

            torch.set_num_threads(self.cfg.torch_threads)
        features = self.exp.features
        bt = self.trading.backtest
        market = LiveMarket(features, self._emit, fill_timeframe=bt.fill_timeframe,
                            max_wait_s=self.cfg.max_wait_s,
                            futures=self.cfg.exchange == "binanceusdm")  # fmt: skip
        feed_cfg = FeedConfig(exchange=self.cfg.exchange, ws_url=self.cfg.ws_url, rest_url=self.cfg.rest_url,
                              depth=(market.primary,), trades=market.trade_symbols,
                              stale_after_s=self.cfg.stale_after_s,
                              backoff_initial_s=self.cfg.backoff_initial_s)  # fmt: skip
        feed = MarketFeed(feed_cfg, market)
        self.market, self.feed = market, feed
        market.on_error = feed.on_error = self.fail
        if self.on_market is not None:
            self.on_market(market)
        try:
            try:
                server_time, _ = await feed.get_with_retries(feed.protocol.time_path, {})
            except RetryableError as e:
                raise MmtsError(
                    f"cannot reach {self.cfg.exchange} at {self.cfg.rest_url} ({e}); is the "
                    "exchange (or the simulator) up, and --rest-url right?"
                ) from e
            now = int(server_time["serverTime"]) * 1_000_000
            venue = None if self.cfg.paper else self._order_manager(market)
            # The ledger's thread writes every prediction; its failures are alerts, never fatal.
            if self.trading.history.enabled:
                self.ledger = LedgerWriter(self.out / "ledger", kind="live",
                                           retention=retention_policy(self.trading))  # fmt: skip
            runtime = new_runtime(self.exp, self.trading, self.experts, start=now, venue=venue,
                                  ledger=self.ledger)  # fmt: skip
            runtime.book_required = True
            if runtime.monitor is not None and self.reference is not None:
                runtime.monitor.set_reference(*self.reference)
            self.runtime = runtime
            if self.orders is not None and runtime.monitor is not None:
                monitor = runtime.monitor
                self.orders.on_alert = lambda kind, subject, reason: monitor.event(
                    market.clock, "critical" if kind == "circuit_breaker" else "warning", kind,
                    subject, reason)  # fmt: skip
            if self.trading.online.enabled:
                self.learner = self._learner(runtime)
            self.journal = Journal(self.out)  # before the warm-up: its bars are the chart's history
            self._prime(now)  # before the restore: priming resets stateful experts
            self._load_previous(runtime)
            await market.warm_up(feed, now)
        except BaseException:
            await feed.close()
            if self.journal is not None:
                self.journal.close()
            raise
        if self.orders is not None:
            self.orders.on_error = self.fail
        self.commands = CommandInbox(self.out, self._apply_command, lambda: market.clock,
                                     self.ledger)  # fmt: skip
        tasks = [spawn(feed.run(stop), "market data", lambda: self.fail),
                 spawn(self._housekeeping(stop), "housekeeping", lambda: self.fail),
                 spawn(self._command_loop(stop), "commands", lambda: self.fail)]  # fmt: skip
        if self.cfg.duration_s is not None:
            tasks.append(loop.create_task(_stop_after(stop, self.cfg.duration_s)))
        if self.orders is not None:
            await self.orders.reconcile()
            self.orders.position = runtime.portfolio.position
            base = self.exp.features.primary_symbol.split("/")[0]
            held = self.orders.balances.get(base, 0.0)
            if abs(held - runtime.portfolio.position) > 1e-9:
                # Holdings the session did not trade are the user's: never adopted, only reported.
                log.warning("the account holds %g %s, the session's position is %g: only the "
                            "session's own position is traded", held, base, runtime.portfolio.position)  # fmt: skip
            tasks.append(spawn(self.orders.run(stop), "order polling", lambda: self.fail))
        try:
            await stop.wait()
        finally:
            for task in tasks[1:]:
                task.cancel()
            try:
                await asyncio.wait_for(asyncio.shield(tasks[0]), 10)
            except (asyncio.CancelledError, TimeoutError):
                tasks[0].cancel()
            except Exception:  # noqa: BLE001, S110 - the task's watcher has reported it already
                pass
            canceled = runtime.venue.cancel_all()  # nothing keeps working once the session ends
            if canceled:
                log.warning("canceled %d working order(s) at shutdown", len(canceled))
            if self.orders is not None:
                await self.orders.settle()
                self._drain_fills()
                await self.orders.exchange.close()
            self.save()
            if self.learner is not None:
                self.learner.close()
            if runtime.monitor is not None:
                runtime.monitor.close()
            if self.ledger is not None:
                await asyncio.to_thread(self.ledger.close)
            self._print_status(final=True)
            if self.journal is not None:
                self.journal.write("status", **self.status(), final=True)
                self.journal.close()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.remove_signal_handler(sig)
        return self.summary()

    def _learner(self, runtime: Runtime) -> Any:
        """Attach the online learner: retrains run in a background process (never on the loop).

        Its checkpoints go to ``<out>/checkpoints``; a restarted session starts again from the
        experiment's active checkpoints (promote one from there with ``mmts models promote``).
        """
        from mmts.learning.background import BackgroundTrainer
        from mmts.learning.learner import OnlineLearner
        from mmts.models.checkpoints import CheckpointStore

        if self.ledger is None:
            raise MmtsError("[online] learning needs the ledger: set [history] enabled = true")
        return OnlineLearner(self.trading.online, runtime, self.ledger,
                             CheckpointStore(self.out / "checkpoints", keep=10**6),
                             horizon_ns=self.exp.horizon_ns, seed=self.exp.seed,
                             experiment=self.exp.to_dict(), costs=self.exp.costs,
                             gamma=self.exp.rl.gamma,
                             trainer=BackgroundTrainer(runtime.builder.layout))  # fmt: skip

    def _prime(self, now: int) -> None:
        """Compile the kernels and run each expert once before the first message arrives.

        On throwaway state: a live session must not spend its first seconds compiling (the feed
        would go stale), and priming must not change what the real runtime sees.
        """
        from mmts.core.enums import FLAG_SNAPSHOT
        from mmts.core.schema import book_dt
        from mmts.data.book_stream import BookSyncStream
        from mmts.features.inputs_stream import ModelInputBuilder
        from mmts.runtime.engine import run_expert

        features = self.exp.features
        tick = features.tick_size(features.primary_symbol) or 0.01
        rows = np.zeros(3, book_dt)
        rows["local_ts"] = now
        rows["first_id"], rows["last_id"] = [1, 1, 2], [1, 1, 2]
        rows["side"], rows["qty"] = [1, -1, 1], [1.0, 1.0, 2.0]
        rows["price"] = [1000.0, 1000.0 + tick, 1000.0]
        rows["flags"] = [FLAG_SNAPSHOT, FLAG_SNAPSHOT, 0]
        probe = BookSyncStream(False, tick=tick)
        slots = self.runtime.builder.layout.model_slots if self.runtime else ()
        builder = ModelInputBuilder(features, model_slots=slots)
        for message in (rows[:2], rows[2:]):
            for e in probe.push(message):
                builder.on_book_event(e.code, e.time, e.side, e.price, e.qty)
        base = builder.build(now + 10**9, outputs={})
        outputs: dict[str, Any] = {}
        failures: dict[str, str] = {}
        for name in dependency_order(self.abilities):
            run_expert(name, self.experts[name], base, outputs, failures, builder.layout.slot_size,
                       upstream=self.abilities[name].upstream)  # fmt: skip
        for (
            name,
            found,
        ) in self.abilities.items():  # stateful experts (the DQN's position) start over
            if found.resettable:
                self.experts[name].reset()
        # the decision path's numba helpers (book levels for the paper venue)
        builder.book_levels(5)

    def _order_manager(self, market: LiveMarket) -> OrderManager:
        """Create the real venue: ccxt with keys from the environment, this session's order ids."""
        if self.cfg.exchange not in KEY_VARIABLES:
            raise ValueError(
                f"--live orders go to spot accounts (binance, mexc); {self.cfg.exchange} is paper only"
            )
        key, secret = credentials(self.cfg.exchange, self.environ)
        public = {"https://api.binance.com", "https://api.mexc.com"}
        rest = None if self.cfg.rest_url.rstrip("/") in public else self.cfg.rest_url
        exchange = make_exchange(self.cfg.exchange, key, secret, rest)
        self.orders = OrderManager(exchange, self.exp.features.primary_symbol,
                                   session=secrets.token_hex(3), clock=lambda: market.clock)  # fmt: skip
        return self.orders

    def _drain_fills(self) -> None:
        """Book fills the exchange reported after the last market event (at shutdown)."""
        if self.runtime is not None and self.orders is not None:
            self.runtime.book_fills(self.orders.on_book(self.market.clock if self.market else 0))

    async def _housekeeping(self, stop: asyncio.Event) -> None:
        last_save = time.monotonic()
        reconnects = self.feed.reconnects if self.feed else 0
        while not stop.is_set():
            await asyncio.sleep(self.cfg.status_every_s)
            if self.market is not None:
                self.market.release()  # a source overdue with nothing arriving is passed over
            if (
                self.orders is not None
                and self.feed is not None
                and self.feed.reconnects != reconnects
            ):
                reconnects = self.feed.reconnects
                await self.orders.reconcile()  # after a reconnect: open orders and balances again
            self._print_status()
            if self.journal is not None:
                self.journal.write("status", **self.status())
            if time.monotonic() - last_save >= self.cfg.save_every_s:
                await self.save_in_background()
                last_save = time.monotonic()

    @staticmethod
    def _feed_state(feed: MarketFeed, market: LiveMarket) -> str:
        """Say what the market data is doing: disconnected, stale, synced or resyncing."""
        if not feed.connected:
            return "disconnected"
        if feed.stale:
            return "stale"
        return "synced" if market.book.valid else "resyncing"

    def status(self) -> dict[str, Any]:
        """Return the session's state for a watcher: feed, clock, latency, position, controls."""
        runtime, market, feed = self.runtime, self.market, self.feed
        if runtime is None or market is None or feed is None:
            return {"wall": time.time_ns(), "feed": "starting"}
        state = self._feed_state(feed, market)
        lat = np.asarray(self.latencies_ns[-1000:], np.float64) / 1e6
        price = runtime.decision_price(runtime.last_data)
        orders = [{"id": w.order.id, "time": w.order.time, "qty": w.order.qty,
                   "limit": w.order.limit, "remaining": float(getattr(w, "remaining", w.order.qty)),
                   "state": str(getattr(w, "state", "working"))}
                  for w in runtime.venue.working]  # fmt: skip
        return {
            "wall": time.time_ns(), "time": int(runtime.last_data), "feed": state,
            "clock_offset_ms": market.status.clock_offset_ms, "reconnects": feed.reconnects,
            "resyncs": market.status.resyncs, "decisions": len(runtime.decisions),
            "paused_decisions": len(runtime.paused), "fills": len(runtime.fills),
            "latency_ms_p50": float(np.percentile(lat, 50)) if lat.size else None,
            "latency_ms_p99": float(np.percentile(lat, 99)) if lat.size else None,
            "position": float(runtime.portfolio.position),
            "equity": float(runtime.portfolio.equity(price)) if np.isfinite(price) else None,
            "working_orders": len(runtime.venue.working),
            "open_orders": orders,
            "buy_threshold": runtime.moe.config.buy_threshold,
            "sell_threshold": runtime.moe.config.sell_threshold, **runtime.controls.state(),
            "ledger": None if self.ledger is None else {
                "failed_writes": self.ledger.stats.failed_writes,
                "dropped_rows": self.ledger.stats.dropped_rows,
            },
            "mode": "paper" if self.cfg.paper else "live", "error": self.error,
            "models": {n: str(getattr(e, "version", "rule")) for n, e in runtime.experts.items()},
            "shadows": {n: str(getattr(e, "version", "")) for n, e in runtime.shadows.items()},
        }  # fmt: skip

    def status_line(self) -> str:
        """Book state, last decision, position and PnL in one line."""
        runtime, market, feed = self.runtime, self.market, self.feed
        if runtime is None or market is None or feed is None:
            return "starting"
        book = {"disconnected": "DISCONNECTED", "stale": "STALE", "synced": "book ok",
                "resyncing": "book SYNCING"}[self._feed_state(feed, market)]  # fmt: skip
        if self.orders is not None:
            book = ("LIVE BREAKER OPEN " if self.orders.breaker_open else "LIVE ") + book
        last = runtime.decisions[-1] if runtime.decisions else None
        when = (
            pd.Timestamp(runtime.last_data, tz="UTC").strftime("%H:%M:%S")
            if runtime.last_data > 0
            else "--"
        )
        price = runtime.decision_price(runtime.last_data)
        pnl = (
            runtime.portfolio.equity(price) - self.trading.backtest.initial_cash
            if np.isfinite(price)
            else float("nan")
        )
        decision = f"{last['action']} {last['size']:+.4f}" if last else "none yet"
        return (f"{when} {book} | last {decision} | pos {runtime.portfolio.position:+.4f} | "
                f"pnl {pnl:+.2f} | decisions {len(runtime.decisions)} paused {len(runtime.paused)} | "
                f"reconnects {feed.reconnects} resyncs {market.status.resyncs}{_clock_note(market)}")  # fmt: skip

    def _print_status(self, final: bool = False) -> None:
        stream = self.status_stream
        line = self.status_line()
        if final:  # the feed is down because the session stopped, not because it was lost
            line = line.replace("DISCONNECTED", "STOPPED", 1)
        if stream.isatty() and not final:
            stream.write("\r\x1b[2K" + line)
        else:
            stream.write(line + "\n")
        stream.flush()

    def summary(self) -> dict[str, Any]:
        """Return counts and decision latencies of the session so far."""
        runtime, market, feed = self.runtime, self.market, self.feed
        lat = np.asarray(self.latencies_ns, np.float64) / 1e6
        return {
            "out": str(self.out), "decisions": len(runtime.decisions) if runtime else 0,
            "paused": len(runtime.paused) if runtime else 0,
            "fills": len(runtime.fills) if runtime else 0,
            "events": market.status.events if market else 0,
            "reconnects": feed.reconnects if feed else 0,
            "resyncs": market.status.resyncs if market else 0,
            "late_events": market.status.late if market else 0,
            "missing_bars": market.status.missing_bars if market else 0,
            "clock_offset_ms": market.status.clock_offset_ms if market else None,
            "decision_ms_p50": float(np.percentile(lat, 50)) if lat.size else None,
            "decision_ms_p99": float(np.percentile(lat, 99)) if lat.size else None,
            "ledger": None if self.ledger is None else {
                "rows": dict(self.ledger.stats.rows_written),
                "failed_writes": self.ledger.stats.failed_writes,
                "dropped_rows": self.ledger.stats.dropped_rows,
            },
            "error": self.error,
        }  # fmt: skip


async def _stop_after(stop: asyncio.Event, seconds: float) -> None:
    await asyncio.sleep(seconds)
    stop.set()


def _clock_note(market: LiveMarket) -> str:
    offset = market.status.clock_offset_ms
    if offset is None or offset >= -CLOCK_WARN_MS:
        return ""
    return f" | CLOCK {-offset / 1000:.1f} s BEHIND"


def _to_parquet(frame: pd.DataFrame, path: Path) -> None:
    frame.to_parquet(path, index=False)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to the state file")
