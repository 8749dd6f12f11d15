"""The ledger writer never stops decisions: failed writes are retried, counted and alerted,
a killed writer corrupts nothing, and readers in other processes read while it writes."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from mmts.config import FeatureConfig
from mmts.features.inputs import ModelInputLayout
from mmts.history import LedgerError, LedgerWriter, Prediction, open_ledger
from mmts.history import parts as parts_module
from mmts.models.output import Action, ModelOutput

LAYOUT = ModelInputLayout(config=FeatureConfig())
T0 = 1_723_161_600 * 10**9


def _record(writer: LedgerWriter, k: int) -> None:
    out = ModelOutput(
        "m", "rule", "v1", "ETH/USDT", T0 + k, Action.BUY, np.array([0.1, 0.2, 0.7]), 0.7
    )
    writer.record(T0 + k * 10**9, "ETH/USDT", LAYOUT, None, {}, [Prediction("m", out, f"0:{k}")])


def test_a_failing_disk_loses_nothing_and_is_alerted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alerts: list[tuple[str, str]] = []
    writer = LedgerWriter(
        tmp_path / "ledger", background=False, on_alert=lambda s, k, *_: alerts.append((s, k))
    )
    real_append = parts_module.PartTable.append
    failing = {"on": True}

    def append(self: parts_module.PartTable, *args: object, **kwargs: object) -> Path:
        if failing["on"] and self.folder.name == "predictions":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_append(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(parts_module.PartTable, "append", append)
    for k in range(5):
        _record(writer, k)
    assert writer.flush() is False  # the decision loop went on; the rows wait
    for k in range(5, 8):
        _record(writer, k)
    writer._retry_at = 0.0  # do not wait out the back-off in a test
    assert writer.flush() is False
    assert writer.stats.failed_writes == 2 and "No space left" in writer.stats.last_error
    assert alerts == [("warning", "ledger_write")] * 2
    failing["on"] = False
    writer._retry_at = 0.0
    assert writer.flush() is True
    writer.close()
    ledger = open_ledger(tmp_path)
    assert len(ledger.predictions()) == 8  # every row written once the disk had room again
    written = ledger.alerts()
    assert list(written["kind"]) == ["ledger_write"] * 2 and "No space left" in written["reason"][0]


def test_rows_beyond_the_bound_are_dropped_counted_and_alerted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = LedgerWriter(tmp_path / "ledger", background=False, max_pending_rows=3)

    def append(*_: object, **__: object) -> Path:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(parts_module.PartTable, "append", append)
    for k in range(3):
        _record(writer, k)
    writer.flush()
    for k in range(3, 6):
        _record(writer, k)
    writer._retry_at = 0.0
    writer.flush()
    assert writer.stats.dropped_rows == 3  # the oldest flush's rows, so memory stays bounded
    kinds = [item[1]["kind"] for _, item in writer._queue if isinstance(item, tuple)]
    assert "ledger_dropped" in kinds


CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    from mmts.config import FeatureConfig
    from mmts.features.inputs import ModelInputLayout
    from mmts.history import LedgerWriter, Prediction
    from mmts.history import parts
    from mmts.models.output import Action, ModelOutput

    folder, mode = sys.argv[1], sys.argv[2]
    if mode == "stall":  # a flush that hangs after writing its temporary file, before the rename
        real = parts.pq.write_table
        count = {"n": 0}
        def write_table(table, where, **kw):
            real(table, where, **kw)
            count["n"] += 1
            if count["n"] == 3:
                print("WRITING", flush=True)
                time.sleep(60)
        parts.pq.write_table = write_table
    layout = ModelInputLayout(config=FeatureConfig())
    writer = LedgerWriter(folder, flush_interval_s=0.02, flush_rows=10**9)
    t0 = 1_723_161_600 * 10**9
    for k in range(10**6):
        out = ModelOutput("m", "rule", "v", "ETH/USDT", t0, Action.HOLD, np.array([0.2, 0.6, 0.2]), 0.6)
        writer.record(t0 + k * 10**9, "ETH/USDT", layout, None, {}, [Prediction("m", out, str(k))])
        if k == 20 and mode == "run":
            print("STARTED", flush=True)
        time.sleep(0.001)
""")


def _child(folder: Path, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(folder), mode],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip


@pytest.mark.slow
def test_kill_9_mid_flush_corrupts_nothing(tmp_path: Path) -> None:
    child = _child(tmp_path, "stall")
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "WRITING"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    ledger = open_ledger(tmp_path)
    hidden = list(tmp_path.rglob(".*.tmp"))
    assert hidden  # the part being written when it died: never renamed into place
    rows = ledger.predictions()
    ids = rows["input_id"].astype(int)
    # What was flushed is whole: a prefix of the records, each once, in order.
    assert len(rows) > 0 and list(ids) == list(range(len(rows)))


@pytest.mark.slow
def test_a_reader_in_another_process_reads_while_the_writer_writes(tmp_path: Path) -> None:
    child = _child(tmp_path, "run")
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "STARTED"
        seen = []
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            try:
                ledger = open_ledger(tmp_path)
            except LedgerError:  # the marker may not be there yet
                continue
            seen.append(len(ledger.predictions(model="m")))
        assert seen == sorted(seen) and seen[-1] > max(seen[0], 0)  # it grows, never shrinks
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
