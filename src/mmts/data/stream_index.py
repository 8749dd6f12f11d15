"""Which series and partition files a store holds, listed once and kept while folders are unchanged.

Reading a series used to walk the whole tree (every exchange, symbol and kind folder, and every
file in them). The index lists a folder once and reuses the listing while the folder's
modification time is the same: adding, removing or renaming a file in a folder changes it, in
this process or another. A listing is trusted only when it was made more than
:data:`SETTLED_NS` after the folder's last change, so two changes within one tick of the
file-system clock can never hide the second. Writes through the store forget what they changed
at once.
"""

from __future__ import annotations

import time
from pathlib import Path

from mmts.core.symbols import path_to_symbol
from mmts.data.layout import StreamKey

#: A listing made this long after its folder's last change is trusted until the folder changes.
SETTLED_NS = 1_000_000_000


class StreamIndex:
    """The folders and partition files under one store root (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._listings: dict[Path, tuple[int, int, tuple[Path, ...]]] = {}

    def forget(self, folder: Path) -> None:
        """Drop what is known of ``folder`` and the folders above it (it was just written)."""
        for path in (folder, *folder.parents):
            self._listings.pop(path, None)
            if path == self.root:
                break

    def _list(self, folder: Path) -> tuple[Path, ...]:
        """Return ``folder``'s entries, sorted (nothing when it does not exist)."""
        known = self._listings.get(folder)
        try:
            changed = folder.stat().st_mtime_ns
            if known is not None and known[0] == changed and known[1] - changed > SETTLED_NS:
                return known[2]
            listed_at = time.time_ns()
            entries = tuple(sorted(folder.iterdir()))
        except (FileNotFoundError, NotADirectoryError):
            self._listings.pop(folder, None)
            return ()
        self._listings[folder] = (changed, listed_at, entries)
        return entries

    def files(self, folder: Path) -> tuple[Path, ...]:
        """Return the ``.parquet`` partition files in ``folder``, oldest period first."""
        return tuple(p for p in self._list(folder) if p.suffix == ".parquet")

    def streams(self) -> list[StreamKey]:
        """List every stored series (a kind folder with at least one partition)."""
        keys: list[StreamKey] = []
        for exchange_dir in self._list(self.root):
            if exchange_dir.name.startswith("."):
                continue  # the lock file, the staging folder
            for symbol_dir in self._list(exchange_dir):
                symbol = path_to_symbol(symbol_dir.name)
                keys.extend(StreamKey(exchange_dir.name, symbol, kind_dir.name)
                            for kind_dir in self._list(symbol_dir) if self.files(kind_dir))  # fmt: skip
        return keys
