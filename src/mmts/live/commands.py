"""Operator commands for a running session: files in, acknowledgements out.

Whoever steers a session (``mmts serve``, a script) writes one JSON file per command into
``<out>/commands/inbox/`` (atomically: written under another name, then renamed), named by its
id so that names sort in the order they were issued::

    {"id": "...", "who": "...", "command": "thresholds", "args": {"buy": 0.6}, "issued_at": NS}

The session reads the inbox on its own event loop, between decisions, applies each command
(``runtime.control`` for thresholds, pause, resume and flatten; the session itself for
``stop``), and acknowledges it: ``<out>/commands/acks/<id>.json`` (result ``applied`` or
``rejected``, the detail, when it held from) and a row of the ledger's ``commands`` table. Only
then is the inbox file removed, so a session killed half-way applies nothing twice: a command
whose ack exists is not applied again. Nothing here depends on the sender being alive.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from mmts.core.files import json_text, write_atomically
from mmts.history.schema import COMMANDS

log = logging.getLogger(__name__)

INBOX, ACKS = "inbox", "acks"


def command_id(now_ns: int | None = None) -> str:
    """Return a new command id: the wall clock (so ids sort by issue time) and a random tail."""
    return f"{now_ns or time.time_ns():020d}-{secrets.token_hex(3)}"


def send_command(out: str | Path, command: str, args: dict[str, Any] | None = None,
                 who: str = "cli") -> str:  # fmt: skip
    """Queue ``command`` for the session writing ``out``; return its id (see the module doc)."""
    cid = command_id()
    body = {"id": cid, "who": who, "command": command, "args": args or {},
            "issued_at": time.time_ns()}  # fmt: skip
    folder = Path(out) / "commands" / INBOX
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically(folder / f"{cid}.json", lambda path: path.write_text(json_text(body)))
    return cid


def read_ack(out: str | Path, cid: str) -> dict[str, Any] | None:
    """Return the acknowledgement of command ``cid`` (None while it is not applied yet)."""
    path = Path(out) / "commands" / ACKS / f"{cid}.json"
    if not path.exists():
        return None
    ack: dict[str, Any] = json.loads(path.read_text())
    return ack


@dataclass
class Ack:
    """What became of one command."""

    result: str  # "applied" or "rejected"
    detail: str


class CommandInbox:
    """The session's side: read the inbox, apply, acknowledge (see the module docstring).

    ``apply(command, args) -> detail`` carries a command out (raising ``ValueError`` refuses
    it); ``clock()`` is the market time it holds from; ``ledger`` (optional) gets the rows.
    """

    def __init__(self, out: Path, apply: Callable[[str, dict[str, Any]], str],
                 clock: Callable[[], int], ledger: Any = None) -> None:  # fmt: skip
        self.folder = out / "commands"
        self.inbox, self.acks = self.folder / INBOX, self.folder / ACKS
        self.inbox.mkdir(parents=True, exist_ok=True)
        self.acks.mkdir(parents=True, exist_ok=True)
        self.apply, self.clock, self.ledger = apply, clock, ledger
        self.applied = self.rejected = 0

    def pending(self) -> list[Path]:
        """Return the inbox's command files in the order they were issued (any thread)."""
        return sorted(p for p in self.inbox.glob("*.json") if not p.name.startswith("."))

    def handle(self, paths: list[Path]) -> list[dict[str, Any]]:
        """Apply and acknowledge the commands in ``paths`` (on the session's loop); return the acks."""
        done = []
        for path in paths:
            cid = path.stem
            if (self.acks / f"{cid}.json").exists():  # applied before a crash: not again
                path.unlink(missing_ok=True)
                continue
            try:
                body = json.loads(path.read_text())
                command, args = str(body["command"]), dict(body.get("args") or {})
                who, issued = str(body.get("who", "?")), int(body.get("issued_at", 0))
            except (OSError, ValueError, KeyError, TypeError) as e:
                body, command, args, who, issued = {}, "?", {}, "?", 0
                ack = Ack("rejected", f"unreadable command file {path.name}: {e}")
            else:
                try:
                    ack = Ack("applied", self.apply(command, args))
                except ValueError as e:
                    ack = Ack("rejected", str(e))
            done.append(self._acknowledge(cid, who, command, args, issued, ack))
            path.unlink(missing_ok=True)
        return done

    def _acknowledge(self, cid: str, who: str, command: str, args: dict[str, Any], issued: int,
                     ack: Ack) -> dict[str, Any]:  # fmt: skip
        at, wall = int(self.clock()), time.time_ns()
        row = {"time": at, "id": cid, "who": who, "command": command,
               "args": json.dumps(args, sort_keys=True), "issued_at": issued, "applied_at": wall,
               "result": ack.result, "detail": ack.detail}  # fmt: skip
        write_atomically(self.acks / f"{cid}.json", lambda path: path.write_text(json_text(row)))
        if self.ledger is not None:
            self.ledger.rows("commands", pa.Table.from_pylist([row], schema=COMMANDS))
        if ack.result == "applied":
            self.applied += 1
            log.info("command %s from %s: %s %s -> %s", cid, who, command, args, ack.detail)
        else:
            self.rejected += 1
            log.warning("command %s from %s refused: %s %s: %s", cid, who, command, args,
                        ack.detail)  # fmt: skip
        return row
