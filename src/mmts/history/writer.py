"""The ledger's writer: the decision loop hands over, a background thread writes.

:meth:`LedgerWriter.record` is all the decision loop pays for: it picks the input frames no
earlier input held (:class:`~mmts.history.frames.FrameTracker`) and appends one record to a
queue. A thread turns the queue into rows, hashes the inputs and writes Parquet parts
(:mod:`mmts.history.parts`) every ``flush_interval_s`` or ``flush_rows`` records, and merges
small parts as it goes.

Failure is never fatal. A write that fails (a full disk, a permission error) keeps its rows,
is retried at the next flush with a growing pause, counted in :attr:`LedgerWriter.stats` and
raised as an alert; past ``max_pending_rows`` the oldest waiting rows are dropped, counted
and alerted, so memory stays bounded. A writer killed outright (``kill -9``) loses only the
records of its last ``flush_interval_s`` (plus a part it was writing, which never becomes
visible): every part is renamed into place whole.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from mmts.features.inputs import InputWindows, ModelInput, ModelInputLayout, input_hash
from mmts.history.epochs import claim_epoch, create_ledger, save_layout, writer_name
from mmts.history.frames import FrameTracker, NewFrames, frame_tables
from mmts.history.parts import PartTable
from mmts.history.retention import retention_lock
from mmts.history.schema import TABLES
from mmts.models.output import ModelOutput

log = logging.getLogger(__name__)

#: The writer's thread lets the decision loop run (``time.sleep(0)``) every this many records.
YIELD_EVERY = 8

#: Roles of a prediction: the model that trades, or one judged beside it (``mmts.history``).
ACTIVE, SHADOW = "active", "shadow"
#: The ledger's name of the mixture's own decision rows.
MIXTURE = "mixture"
#: How a shadow's output is keyed beside its active model's (``cnn@shadow``).
_SHADOW_SUFFIX = "@shadow"


def shadow_key(name: str) -> str:
    """Return the key of the shadow of expert ``name`` among a decision's outputs."""
    return name + _SHADOW_SUFFIX


def is_shadow_key(key: str) -> bool:
    """Whether an outputs key names a shadow (see :func:`shadow_key`)."""
    return key.endswith(_SHADOW_SUFFIX)


def input_id(epoch: int, at: int, reader: str | None = None) -> str:
    """Return the id of the input at ``at``: the base input, or the one ``reader`` read.

    An expert fed by upstream models reads the base input with their outputs in its slots:
    that input is ``reader``'s own.
    """
    return f"{epoch}:{at}" if reader is None else f"{epoch}:{at}:{reader}"


@dataclass(slots=True)
class Prediction:
    """One expert's output (or failure) at a decision, as the loop hands it over."""

    name: str
    output: ModelOutput | None
    input_id: str
    role: str = ACTIVE
    latency_s: float = float("nan")
    weight: float = float("nan")
    failure: str | None = None


@dataclass(slots=True)
class DecisionRecord:
    """What one decision adds to the ledger."""

    time: int
    symbol: str
    frames: NewFrames | None
    layout: str
    inputs: dict[str, ModelInput]
    predictions: list[Prediction]
    #: The decision's base input (what the mixture's row points at).
    base_input: str | None = None
    #: The mixture's row: ``(action, probabilities, confidence, size, why)``; None: no row.
    decision: tuple[str, np.ndarray, float, float, str] | None = None
    #: The decision price at ``time`` (NaN: none known).
    price: float = float("nan")


@dataclass
class WriterStats:
    """What a writer has done (and failed to do) so far."""

    records: int = 0
    rows_written: dict[str, int] = field(default_factory=dict)
    parts_written: int = 0
    failed_writes: int = 0
    dropped_rows: int = 0
    last_error: str = ""
    #: Seconds a record waited from :meth:`LedgerWriter.record` to being on disk, latest flush.
    lag_s: float = 0.0


class LedgerWriter:
    """Append to the ledger at ``folder`` (see the module docstring).

    ``background=False`` writes only on :meth:`flush` (a backtest worker's own slice).
    ``epoch``/``worker``: write as a worker of an epoch another writer claimed.
    """

    def __init__(self, folder: str | Path, *, kind: str = "backtest", flush_interval_s: float = 1.0,
                 flush_rows: int = 4096, max_pending_rows: int = 2_000_000,
                 compact_every: int = 64, background: bool = True, epoch: int | None = None,
                 worker: int | None = None,
                 on_alert: Callable[[str, str, str, str], None] | None = None,
                 retention: Callable[..., object] | None = None) -> None:  # fmt: skip
        self.folder = create_ledger(Path(folder))
        self.epoch = claim_epoch(self.folder, kind) if epoch is None else int(epoch)
        self.name = writer_name(self.epoch, worker)
        self.tables = {
            name: PartTable(self.folder / name, schema) for name, schema in TABLES.items()
        }
        self.flush_interval_s, self.flush_rows = flush_interval_s, flush_rows
        self.max_pending_rows, self.compact_every = max_pending_rows, compact_every
        self.on_alert = on_alert
        #: ``retention(folder, now, alert=...)``, run by the writer's thread now and then.
        self.retention = retention
        self.latest_time = -(2**62)
        self.stats = WriterStats()
        self._queue: deque[tuple[float, Any]] = deque()
        self._pending: dict[str, list[pa.Table]] = {}
        self._trackers: dict[str, FrameTracker] = {}
        self._layouts: dict[int, str] = {}
        self._flushes = 0
        self._retry_at = 0.0
        self._backoff = 0.5
        self._lock = threading.Lock()  # one flush at a time
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(
                target=self._run, name=f"ledger {self.name}", daemon=True
            )
            self._thread.start()

    # -- the decision loop's side ---------------------------------------------------------------

    def layout(self, layout: ModelInputLayout) -> str:
        """Return the key of ``layout``, storing it the first time (once per layout object)."""
        key = self._layouts.get(id(layout))
        if key is None:
            key = self._layouts[id(layout)] = save_layout(self.folder, layout)
            self._trackers.setdefault(key, FrameTracker(layout))
        return key

    def record(self, at: int, symbol: str, layout: ModelInputLayout,
               windows: InputWindows | None, inputs: dict[str, ModelInput],
               predictions: list[Prediction],
               decision: tuple[str, np.ndarray, float, float, str] | None = None,
               base_input: str | None = None, price: float = float("nan")) -> None:  # fmt: skip
        """Queue one decision: its inputs' new frames, its inputs, predictions and decision.

        ``windows``: the raw windows of the decision's inputs (None: the inputs' frames are
        written by someone else, as a backtest's workers do).
        """
        key = self.layout(layout)
        frames = self._trackers[key].new_frames(windows) if windows is not None else None
        record = DecisionRecord(at, symbol, frames, key, inputs, predictions,
                                base_input if base_input is not None else next(iter(inputs), None),
                                decision, price)  # fmt: skip
        self._queue.append((time.monotonic(), record))
        self.latest_time = max(self.latest_time, at)
        self.stats.records += 1
        if len(self._queue) >= self.flush_rows:
            self._wake.set()

    def flush_if_due(self) -> None:
        """Flush when ``flush_rows`` records wait (a writer without a thread, between batches)."""
        if len(self._queue) >= self.flush_rows:
            self.flush()

    def alert(self, severity: str, kind: str, subject: str, reason: str,
              value: float = float("nan"), threshold: float = float("nan"),
              at: int | None = None) -> None:  # fmt: skip
        """Queue an alert row (and tell ``on_alert``)."""
        when = time.time_ns() if at is None else at
        row = {"time": when, "severity": severity, "kind": kind, "subject": subject,
               "reason": reason, "value": value, "threshold": threshold}  # fmt: skip
        self._queue.append((time.monotonic(), ("alerts", row)))
        if self.on_alert is not None:
            try:
                self.on_alert(severity, kind, subject, reason)
            except Exception:
                log.exception("alert sink failed for %s/%s", kind, subject)

    def rows(self, table: str, rows: pa.Table | dict[str, list[Any]]) -> None:
        """Queue finished rows of ``table``: a table, or columns (a table is built per flush)."""
        self._queue.append((time.monotonic(), (table, rows)))

    # -- the writer's side ----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            self.flush()

    def flush(self) -> bool:
        """Write everything queued so far; return True when nothing is left waiting."""
        with self._lock:
            try:
                return self._flush()
            except Exception as e:
                self.stats.last_error = f"{type(e).__name__}: {e}"
                log.exception("ledger %s: flush failed", self.folder)
                return False

    def _flush(self) -> bool:
        batch = []
        while self._queue:
            batch.append(self._queue.popleft())
        if batch:
            self._convert(batch)
        if not any(self._pending.values()):
            return True
        now = time.monotonic()
        if now < self._retry_at:
            return False
        self._flushes += 1
        failed = False
        for table, chunks in list(self._pending.items()):
            if not chunks:
                continue
            rows = pa.concat_tables(chunks)
            if rows.num_rows == 0:
                self._pending[table] = []
                continue
            try:
                self.tables[table].append(rows, self.name, self._flushes)
            except OSError as e:
                failed = True
                self._failed(table, rows.num_rows, e)
                continue
            self._pending[table] = []
            self.stats.rows_written[table] = self.stats.rows_written.get(table, 0) + rows.num_rows
            self.stats.parts_written += 1
        if batch:
            self.stats.lag_s = now - batch[0][0]
        if failed:
            self._retry_at = now + self._backoff
            self._backoff = min(self._backoff * 2, 30.0)
            self._bound_pending()
            return False
        self._backoff = 0.5
        if self.compact_every and self._flushes % self.compact_every == 0:
            self.compact(min_parts=8)
            self._retain()
        return True

    def _retain(self) -> None:
        """Apply the retention policy (never fatal: a failure is logged and alerted)."""
        if self.retention is None or self.latest_time < 0:
            return
        try:
            self.retention(self.folder, self.latest_time, alert=self.alert)
        except Exception as e:
            log.exception("ledger %s: retention failed", self.folder)
            self.alert(
                "warning",
                "retention",
                str(self.folder),
                f"retention failed: {type(e).__name__}: {e}",
            )

    def _failed(self, table: str, n: int, error: OSError) -> None:
        self.stats.failed_writes += 1
        self.stats.last_error = f"{type(error).__name__}: {error}"
        log.warning("ledger %s: writing %d %s rows failed (%s); kept, retried at the next flush",
                    self.folder, n, table, error)  # fmt: skip
        if table != "alerts":
            self.alert("warning", "ledger_write", table,
                       f"writing {n} {table} rows failed ({error}); "
                       f"{self.stats.failed_writes} failed writes so far, rows kept for a retry",
                       float(self.stats.failed_writes))  # fmt: skip
            # (queued: it goes out with the next flush that works)

    def _bound_pending(self) -> None:
        """Drop the oldest waiting rows beyond ``max_pending_rows`` (counted and alerted)."""
        for table, chunks in self._pending.items():
            total = sum(c.num_rows for c in chunks)
            dropped = 0
            while chunks and total > self.max_pending_rows:
                total -= chunks[0].num_rows
                dropped += chunks.pop(0).num_rows
            if dropped:
                self.stats.dropped_rows += dropped
                log.error("ledger %s: dropped the %d oldest %s rows waiting to be written",
                          self.folder, dropped, table)  # fmt: skip
                self.alert("critical", "ledger_dropped", table,
                           f"{dropped} {table} rows dropped: writes keep failing "
                           f"({self.stats.last_error})", float(self.stats.dropped_rows))  # fmt: skip

    def _convert(self, batch: list[tuple[float, Any]]) -> None:
        records = [item for _, item in batch if isinstance(item, DecisionRecord)]
        alerts = [item[1] for _, item in batch if isinstance(item, tuple) and item[0] == "alerts"]
        columns: dict[str, list[dict[str, list[Any]]]] = {}
        for _, item in batch:
            if isinstance(item, tuple) and item[0] != "alerts":
                if isinstance(item[1], dict):
                    columns.setdefault(item[0], []).append(item[1])
                else:
                    self._pending.setdefault(item[0], []).append(item[1])
        for table, chunks in columns.items():
            self._pending.setdefault(table, []).append(columns_table(TABLES[table], chunks))
        if alerts:
            self._pending.setdefault("alerts", []).append(
                pa.Table.from_pylist(alerts, schema=TABLES["alerts"])
            )
        if not records:
            return
        frames = [r.frames for r in records if r.frames is not None]
        if frames:
            bars, cob = frame_tables(self.epoch, frames)
            self._pending.setdefault("bar_frames", []).append(bars)
            self._pending.setdefault("cob_frames", []).append(cob)
        self._pending.setdefault("inputs", []).append(self._input_rows(records))
        self._pending.setdefault("predictions", []).append(prediction_table(records))

    def _input_rows(self, records: list[DecisionRecord]) -> pa.Table:
        rows = []
        complete: dict[int, float] = {}  # per mask object: inputs of one decision share masks
        for k, record in enumerate(records):
            if k % YIELD_EVERY == 0:
                time.sleep(0)  # hand the GIL back: the decision loop must not wait for us
            digests: dict[int, bytes] = {}
            complete.clear()
            for iid, x in record.inputs.items():
                filled = bool(x.masks["model_outputs"].any())
                rows.append({
                    "input_id": iid, "epoch": self.epoch, "time": record.time,
                    "layout": record.layout, "hash": input_hash(x, digests),
                    "model_outputs": x.blocks["model_outputs"].tobytes() if filled else None,
                    "model_outputs_mask": x.masks["model_outputs"].tobytes() if filled else None,
                    "complete": [(name, _share(m, complete)) for name, m in x.masks.items()],
                    "verdict": "valid",
                })  # fmt: skip
        return pa.Table.from_pylist(rows, schema=TABLES["inputs"])

    def compact(self, min_parts: int = 2) -> None:
        """Merge this writer's small parts (also done every ``compact_every`` flushes).

        Skipped while an archive run holds the retention lock (the next time catches up).
        """
        with retention_lock(self.folder, wait=False) as held:
            if not held:
                return
            for table in self.tables.values():
                try:
                    table.compact(self.name, min_parts=min_parts)
                except OSError as e:  # compaction is an optimisation: the parts stay readable
                    log.warning("ledger %s: compacting %s failed: %s", self.folder, table.folder, e)

    def close(self, timeout_s: float = 30.0) -> WriterStats:
        """Stop the thread, write what is left (retrying for up to ``timeout_s``), compact."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        deadline = time.monotonic() + timeout_s
        while not self.flush() and time.monotonic() < deadline:
            time.sleep(min(0.2, max(0.0, self._retry_at - time.monotonic())))
        if any(self._pending.values()):
            lost = sum(c.num_rows for chunks in self._pending.values() for c in chunks)
            log.error("ledger %s: %d rows could not be written before closing (%s)",
                      self.folder, lost, self.stats.last_error)  # fmt: skip
        else:
            self.compact(min_parts=2)
            self._retain()
            self.flush()  # alerts the retention raised
        return self.stats


def prediction_table(records: list[DecisionRecord]) -> pa.Table:
    """Return the ``predictions`` rows of ``records`` (experts, then the mixture's decision)."""
    cols: dict[str, list[Any]] = {name: [] for name in TABLES["predictions"].names}
    nan = float("nan")
    for k, record in enumerate(records):
        if k % YIELD_EVERY == 0:
            time.sleep(0)  # hand the GIL back: the decision loop must not wait for us
        for p in record.predictions:
            out = p.output
            _append(cols, time=record.time, symbol=out.symbol if out else record.symbol,
                    model=p.name, model_type=out.model_type if out else None,
                    version=out.model_version if out else None, role=p.role,
                    action=out.action.name if out else None,
                    probs=out.probabilities if out else (nan, nan, nan),
                    confidence=float(out.confidence) if out else nan,
                    hidden=np.ravel(out.hidden).astype(np.float32) if out else None,
                    q_values=None if out is None or out.q_values is None else np.ravel(out.q_values),
                    value=None if out is None or out.value is None else float(out.value),
                    latency_us=p.latency_s * 1e6, weight=p.weight, input_id=p.input_id,
                    failure=p.failure, size=nan, price=record.price, note=None)  # fmt: skip
        if record.decision is not None:
            action, probs, confidence, size, why = record.decision
            _append(cols, time=record.time, symbol=record.symbol, model=MIXTURE,
                    model_type="moe", version="", role=ACTIVE, action=action, probs=probs,
                    confidence=confidence, hidden=None, q_values=None, value=None,
                    latency_us=nan, weight=1.0, input_id=record.base_input, failure=None,
                    size=size, price=record.price, note=why)  # fmt: skip
    return pa.table(cols, schema=TABLES["predictions"])


def _share(mask: np.ndarray, seen: dict[int, float]) -> float:
    """Return the share of a mask's rows that are available (cached per mask object)."""
    share = seen.get(id(mask))
    if share is None:
        share = seen[id(mask)] = np.count_nonzero(mask) / mask.size if mask.size else 1.0
    return float(share)


def columns_table(schema: pa.Schema, chunks: list[dict[str, list[Any]]]) -> pa.Table:
    """Return one table of ``schema`` from column chunks (time columns as int ns)."""
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    for chunk in chunks:
        for name, values in chunk.items():
            columns[name].extend(values)
    arrays = [pa.array(columns[f.name], pa.int64()).cast(f.type) if pa.types.is_timestamp(f.type)
              else pa.array(columns[f.name], f.type) for f in schema]  # fmt: skip
    return pa.Table.from_arrays(arrays, schema=schema)


def _append(cols: dict[str, list[Any]], *, probs: Any, **values: Any) -> None:
    p = [float(v) for v in probs]
    values.update(p_sell=p[0], p_hold=p[1], p_buy=p[2])
    for name, value in values.items():
        cols[name].append(value)
