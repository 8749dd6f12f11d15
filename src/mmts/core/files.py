"""Writing a file so that a crash leaves the old version or the new one, never a torn one."""

from __future__ import annotations

import json
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


def json_text(
    value: object, *, indent: int | None = 2, default: Callable[[object], object] | None = None
) -> str:
    """Return ``value`` as strict JSON: a NaN or infinity is an error, never ``NaN`` in a file.

    An undefined number belongs in JSON as ``null`` (``None``); ``json.dumps`` would otherwise
    write ``Infinity``, which no JSON parser but Python's reads.
    """
    return json.dumps(value, indent=indent, sort_keys=True, allow_nan=False, default=default)


def write_json(path: Path, value: object, **kwargs: object) -> None:
    """Write ``value`` as strict JSON (:func:`json_text`) to ``path`` atomically."""
    text = json_text(value, **kwargs)  # type: ignore[arg-type]
    write_atomically(Path(path), lambda tmp: tmp.write_text(text))
