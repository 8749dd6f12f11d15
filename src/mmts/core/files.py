"""Writing a file so that a crash leaves the old version or the new one, never a torn one."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path


def write_atomically(
    path: Path, write: Callable[[Path], object], *, staging: Path | None = None
) -> None:
    """Call ``write(tmp)`` on a temporary file, flush it to disk, then rename it over ``path``.

    ``staging``: where the temporary file goes (same file system as ``path``; default: beside
    it). ``os.replace`` is atomic on POSIX and Windows; the temporary file never outlives a
    failed write.
    """
    path = Path(path)
    folder = Path(staging) if staging is not None else path.parent
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        write(tmp)
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
