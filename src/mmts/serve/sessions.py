"""The sessions ``mmts serve`` runs: each a ``mmts live`` process of its own, and their records.

A session is started as its own process in its own process group (``start_new_session``): the
server dying, hanging or restarting never stops it, and one session crashing never touches
another. What the server knows of each is a record in ``<root>/sessions.json`` (written
atomically): the experiment, where it connects, its folder, its process id and whether it
should be running. A restarted server reads the records back: a session whose process still
runs is re-attached (watched by its process id), one that should run but does not is started
again in its folder, where ``mmts live`` continues from its ``state.json``.

Every control request is kept in ``<root>/audit.jsonl`` (who, when, what, the result) beside
the session's own ledger rows of the commands it applied.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mmts.core.files import json_text, write_atomically

log = logging.getLogger(__name__)

SESSIONS_FILE = "sessions.json"
AUDIT_FILE = "audit.jsonl"
#: Seconds a stopped session may take to save and exit before it is terminated.
STOP_GRACE_S = 20.0


@dataclass
class SessionRecord:
    """What the server keeps about one session (all of it JSON-safe)."""

    id: str
    experiment: str
    exchange: str
    ws_url: str
    rest_url: str
    duration: float | None
    out: str
    mode: str = "paper"
    pid: int | None = None
    #: "running" while it should run; "stopped" once asked to stop (it is not started again).
    desired: str = "running"
    started_at: int = 0
    restarts: int = 0
    exit_code: int | None = None
    log: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def pid_alive(pid: int | None, out: str) -> bool:
    """Return whether ``pid`` runs and is the session writing ``out`` (not a reused pid)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            return False
        if os.fsencode(out) not in args:
            return False
        status = Path(f"/proc/{pid}/stat")
        if status.exists() and status.read_text().split(") ", 1)[-1].startswith("Z"):
            return False  # a zombie: exited, not yet reaped
    return True


class Sessions:
    """Start, watch, stop and remember the sessions under ``root``."""

    def __init__(self, root: Path, python: str = sys.executable) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.python = python
        self.records: dict[str, SessionRecord] = {}
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        path = root / SESSIONS_FILE
        if path.exists():
            for item in json.loads(path.read_text()).get("sessions", []):
                record = SessionRecord(**item)
                self.records[record.id] = record

    # -- the records ---------------------------------------------------------------------------

    def save(self) -> None:
        """Write every record (atomically)."""
        body = {"sessions": [asdict(r) for r in self.records.values()]}
        write_atomically(self.root / SESSIONS_FILE,
                         lambda path: path.write_text(json_text(body)))  # fmt: skip

    def audit(self, who: str, what: str, args: dict[str, Any], result: str) -> None:
        """Append one control request and its result to the audit file."""
        line = {"wall": time.time_ns(), "who": who, "what": what, "args": args, "result": result}
        with (self.root / AUDIT_FILE).open("a") as f:
            f.write(json.dumps(line, default=str) + "\n")

    def history(self, limit: int = 200) -> list[dict[str, Any]]:
        """Return the latest control requests, oldest first."""
        path = self.root / AUDIT_FILE
        if not path.exists():
            return []
        lines = path.read_text().splitlines()[-limit:]
        return [json.loads(line) for line in lines if line.strip()]

    # -- processes -----------------------------------------------------------------------------

    def new_id(self, experiment: str) -> str:
        """Return a fresh session id (the experiment's file name and a counter)."""
        stem = Path(experiment).stem
        n = 1 + sum(1 for r in self.records.values() if r.id.startswith(f"{stem}-"))
        while f"{stem}-{n}" in self.records:
            n += 1
        return f"{stem}-{n}"

    def start(self, experiment: str, exchange: str, ws_url: str, rest_url: str,
              duration: float | None, mode: str = "paper") -> SessionRecord:  # fmt: skip
        """Start a session (``mode`` "live": real money, confirmed by the caller); return its record."""
        if mode not in ("paper", "live"):
            raise ValueError(f"mode must be paper or live; was {mode!r}")
        sid = self.new_id(experiment)
        out = self.root / "sessions" / sid
        record = SessionRecord(id=sid, experiment=str(experiment), exchange=exchange,
                               ws_url=ws_url, rest_url=rest_url, duration=duration,
                               out=str(out.resolve()), mode=mode)  # fmt: skip
        self.records[sid] = record
        self._spawn(record)
        self.save()
        return record

    def _spawn(self, record: SessionRecord) -> None:
        out = Path(record.out)
        out.mkdir(parents=True, exist_ok=True)
        # Real money only for a record made so by a server started with --live (confirmed).
        mode = ["--live", "--yes"] if record.mode == "live" else ["--paper"]
        args = [self.python, "-m", "mmts.cli", "live", *mode, "--experiment", record.experiment,
                "--exchange", record.exchange, "--ws-url", record.ws_url,
                "--rest-url", record.rest_url, "--out", record.out]  # fmt: skip
        if record.duration is not None:
            args += ["--duration", str(record.duration)]
        log_path = out / "process.log"
        with log_path.open("ab") as log_file:
            child = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log_file,
                                     stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        self.children[record.id] = child
        record.pid, record.started_at, record.exit_code = child.pid, time.time_ns(), None
        record.log = str(log_path)
        log.info("session %s started (pid %d): %s", record.id, child.pid, " ".join(args))

    def state(self, record: SessionRecord) -> str:
        """Say what ``record``'s process is doing: running, stopping, stopped, finished, failed."""
        child = self.children.get(record.id)
        if child is not None:
            code = child.poll()
            if code is None:
                return "stopping" if record.desired == "stopped" else "running"
            record.exit_code = code
        elif pid_alive(record.pid, record.out):
            return "stopping" if record.desired == "stopped" else "running"
        if record.desired == "stopped":
            return "stopped"
        code = record.exit_code
        return "finished" if code == 0 else ("failed" if code is not None else "exited")

    def resume(self) -> list[str]:
        """After a server restart: re-attach to running sessions, restart those that should run.

        Returns what was done, one line per session.
        """
        done = []
        for record in self.records.values():
            if pid_alive(record.pid, record.out):
                done.append(f"{record.id}: re-attached (pid {record.pid})")
            elif record.desired == "running" and (Path(record.out) / "state.json").exists():
                record.restarts += 1
                self._spawn(record)
                done.append(f"{record.id}: restarted from its state.json (pid {record.pid})")
        self.save()
        return done

    def request_stop(self, sid: str) -> None:
        """Mark ``sid`` stopped (the session is asked by command; see :meth:`enforce_stop`)."""
        self.records[sid].desired = "stopped"
        self.save()

    def enforce_stop(self, sid: str, grace_s: float = STOP_GRACE_S) -> None:
        """Terminate ``sid`` if it still runs ``grace_s`` after it was asked to stop."""
        record = self.records[sid]
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            if self.state(record) != "stopping":
                return
            time.sleep(0.2)
        if record.pid and pid_alive(record.pid, record.out):
            log.warning("session %s did not stop within %.0f s: SIGTERM", sid, grace_s)
            os.kill(record.pid, signal.SIGTERM)

    def reap(self) -> None:
        """Collect exit codes of finished children (no zombies)."""
        for sid, child in list(self.children.items()):
            code = child.poll()
            if code is not None:
                self.records[sid].exit_code = code
                del self.children[sid]
                self.save()
