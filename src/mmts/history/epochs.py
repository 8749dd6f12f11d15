"""A ledger folder, its writers' epochs and the layouts its inputs follow.

Every writer that opens a ledger claims the next epoch (a file created exclusively, so two
writers never share one): frames are keyed by epoch, so a restarted live session, whose bars
may differ from the last session's, never mixes its rows with the old ones. Input layouts are
stored once each, by key, so an input row names its layout in 12 characters.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from mmts.config import FeatureConfig
from mmts.core.errors import MmtsError
from mmts.core.files import json_text, write_atomically
from mmts.core.settings import build_table
from mmts.features.inputs import ModelInputLayout

#: The marker file of a ledger folder, and the format it records.
MARKER = "ledger.json"
FORMAT = 1


class LedgerError(MmtsError):
    """A ledger is missing, malformed, or an input cannot be rebuilt (names what and where)."""


def ledger_folder(path: str | os.PathLike[str]) -> Path:
    """Return the ledger folder of ``path``: a ledger, a run folder or a live ``--out`` folder."""
    path = Path(path)
    for candidate in (path, path / "ledger"):
        if (candidate / MARKER).is_file():
            return candidate
    raise LedgerError(
        f"{path}: no ledger here (expected {path / 'ledger' / MARKER} or {path / MARKER}; "
        "a run or live session writes one unless its ledger is switched off)"
    )


def create_ledger(folder: Path) -> Path:
    """Make ``folder`` a ledger (idempotent) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / MARKER
    if not marker.exists():
        write_atomically(marker, lambda tmp: tmp.write_text(json_text({"format": FORMAT})))
    return folder


def claim_epoch(folder: Path, kind: str) -> int:
    """Claim the next free epoch of the ledger at ``folder`` for a new writer."""
    epochs = folder / "epochs"
    epochs.mkdir(exist_ok=True)
    taken = [int(p.stem[1:]) for p in epochs.glob("e*.json") if p.stem[1:].isdigit()]
    epoch = max(taken, default=-1) + 1
    while True:
        try:
            fd = os.open(epochs / f"e{epoch:05d}.json", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            epoch += 1
            continue
        with os.fdopen(fd, "w") as handle:
            handle.write(json_text({"epoch": epoch, "kind": kind, "pid": os.getpid(),
                                    "started": time.time()}))  # fmt: skip
        return epoch


def writer_name(epoch: int, worker: int | None = None) -> str:
    """Return the part-name prefix of an epoch's writer (``worker``: one of a backtest's processes)."""
    return f"e{epoch:05d}" if worker is None else f"e{epoch:05d}w{worker:03d}"


def layout_dict(layout: ModelInputLayout) -> dict[str, Any]:
    """Return everything needed to rebuild ``layout`` (JSON-ready)."""
    config = json.loads(json.dumps(dataclasses.asdict(layout.config), default=list))
    return {"config": config, "model_slots": list(layout.model_slots),
            "slot_size": layout.slot_size, "version": layout.version}  # fmt: skip


def layout_key(layout: ModelInputLayout) -> str:
    """Return the short key a layout is stored under."""
    text = json_text(layout_dict(layout), indent=None)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def save_layout(folder: Path, layout: ModelInputLayout) -> str:
    """Store ``layout`` in the ledger at ``folder`` (once) and return its key."""
    key = layout_key(layout)
    path = folder / "layouts" / f"{key}.json"
    if not path.exists():
        text = json_text(layout_dict(layout))
        write_atomically(path, lambda tmp: tmp.write_text(text))
    return key


def load_layout(folder: Path, key: str) -> ModelInputLayout:
    """Read the layout stored under ``key``."""
    path = folder / "layouts" / f"{key}.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise LedgerError(f"{path}: the layout {key!r} an input names is not stored") from None
    config = build_table(FeatureConfig, data["config"])
    return ModelInputLayout(config=config, model_slots=tuple(data["model_slots"]),
                            slot_size=int(data["slot_size"]), version=str(data["version"]))  # fmt: skip
