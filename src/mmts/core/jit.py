"""numba's ``njit`` for mmts kernels, with a compile cache that never goes stale.

numba keys a cached kernel on its own source file only, so a kernel calling one in another
file (``cob_nb`` calls ``tickbook_nb``) kept running the old callee after an edit. Kernels
import ``njit`` from here instead: every kernel under a kernel root (the mmts package, and any
folder given to :func:`register_kernel_root`) is stamped with one hash of all ``*_nb.py``
sources under its root, so changing any kernel recompiles every kernel of that root. The cache
stays where numba puts it (``__pycache__`` beside the sources, ``NUMBA_CACHE_DIR`` when set,
else numba's user-wide folder).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from numba import njit
from numba.core import caching
from numba.core import config as numba_config

#: Folders whose ``*_nb.py`` kernels share one source stamp.
KERNEL_ROOTS: list[Path] = [Path(__file__).resolve().parents[1]]


def register_kernel_root(folder: str | Path) -> None:
    """Stamp the kernels under ``folder`` (your own package's) with their sources' hash too."""
    root = Path(folder).resolve()
    if root not in KERNEL_ROOTS:
        KERNEL_ROOTS.append(root)


def kernel_root(py_file: str) -> Path | None:
    """Return the kernel root holding ``py_file`` when it is a ``*_nb.py`` kernel, else None."""
    path = Path(py_file).resolve()
    if not path.name.endswith("_nb.py"):
        return None
    return next((root for root in KERNEL_ROOTS if root in path.parents), None)


@functools.cache
def kernel_sources_stamp(root: Path) -> str:
    """Return the hash of every ``*_nb.py`` file under ``root`` (names and contents)."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*_nb.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


class _KernelStamp:
    """Claim kernels under a kernel root and stamp them with their root's sources hash."""

    _py_file: str

    @classmethod
    def from_function(cls, py_func: Any, py_file: str) -> Any:
        if kernel_root(py_file) is None:
            return None
        return super().from_function(py_func, py_file)  # type: ignore[misc]

    def get_source_stamp(self) -> str:
        root = kernel_root(self._py_file)
        if root is None:  # from_function claims only kernels under a root
            raise RuntimeError(f"{self._py_file} is not under a kernel root")
        return kernel_sources_stamp(root)


class KernelUserProvidedLocator(_KernelStamp, caching.UserProvidedCacheLocator):
    """``NUMBA_CACHE_DIR``, when set."""


class KernelInTreeLocator(_KernelStamp, caching.InTreeCacheLocator):
    """``__pycache__`` beside the kernel's source."""


class KernelUserWideLocator(_KernelStamp, caching.UserWideCacheLocator):
    """numba's user-wide cache folder (a read-only install)."""


#: numba's own locators, in its order (what ``NUMBA_CACHE_LOCATOR_CLASSES`` replaces).
NUMBA_LOCATORS = ("UserProvidedCacheLocator", "InTreeCacheLocator", "UserWideCacheLocator",
                  "IPythonCacheLocator", "ZipCacheLocator")  # fmt: skip


def install_locators() -> None:
    """Put the kernel locators first in numba's list (its ``NUMBA_CACHE_LOCATOR_CLASSES`` knob).

    Set on ``numba.config`` itself, which numba keeps unless a ``NUMBA_*`` variable changes
    later (then its own locators apply again: kernels still cache, stamped per file).
    """
    config: Any = numba_config  # its settings are module attributes numba sets at run time
    ours = [f"{__name__}.{cls.__name__}" for cls in
            (KernelUserProvidedLocator, KernelInTreeLocator, KernelUserWideLocator)]  # fmt: skip
    current = [c.strip() for c in (config.CACHE_LOCATOR_CLASSES or "").split(",") if c.strip()]
    rest = [c for c in current or NUMBA_LOCATORS if c not in ours]
    config.CACHE_LOCATOR_CLASSES = ",".join([*ours, *rest])


install_locators()

__all__ = ["KERNEL_ROOTS", "kernel_root", "kernel_sources_stamp", "njit", "register_kernel_root"]
