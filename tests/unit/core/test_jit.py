"""The kernel cache goes stale with plain numba when a called kernel changes; not with ours."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mmts.core.jit import KERNEL_ROOTS, kernel_root, kernel_sources_stamp

CALLER = """
{njit_import}

from callee_nb import value


@njit(cache=True)
def caller():
    return value() + 1
"""
CALLEE = """
{njit_import}


@njit(cache=True{options})
def value():
    return {value}
"""
RUN = """
import sys
sys.path.insert(0, {folder!r})
{register}
import caller_nb
print(caller_nb.caller())
"""
REGISTER = "from mmts.core.jit import register_kernel_root; register_kernel_root({folder!r})"


def _scenario(folder: Path, njit_import: str, options: str = "") -> list[str]:
    """Compile the caller (cached), change only the callee's file, run in a fresh process."""
    folder.mkdir()
    (folder / "caller_nb.py").write_text(CALLER.format(njit_import=njit_import))
    seen = []
    for value in (1, 41):
        (folder / "callee_nb.py").write_text(
            CALLEE.format(njit_import=njit_import, value=value, options=options)
        )
        register = REGISTER.format(folder=str(folder)) if "mmts" in njit_import else ""
        code = textwrap.dedent(RUN.format(folder=str(folder), register=register))
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=120, check=True)  # fmt: skip
        seen.append(run.stdout.strip())
    return seen


@pytest.mark.slow
@pytest.mark.skipif(
    bool(os.environ.get("NUMBA_DISABLE_JIT")), reason="nothing compiles, nothing caches"
)
def test_a_changed_callee_recompiles_its_callers(tmp_path: Path) -> None:
    # The control: plain numba keeps the caller compiled against the old callee.
    assert _scenario(tmp_path / "plain", "from numba import njit") == ["2", "2"]
    assert _scenario(tmp_path / "ours", "from mmts.core.jit import njit") == ["2", "42"]
    # Inlined callees (most of mmts's) are compiled into their callers: the same holds.
    inline = ', inline="always"'
    assert _scenario(tmp_path / "plain_inline", "from numba import njit", inline) == ["2", "2"]
    assert _scenario(tmp_path / "ours_inline", "from mmts.core.jit import njit", inline) == [
        "2",
        "42",
    ]


def test_only_kernels_under_a_root_are_claimed(tmp_path: Path) -> None:
    package = KERNEL_ROOTS[0]
    assert kernel_root(str(package / "core" / "book_nb.py")) == package
    assert kernel_root(str(package / "core" / "time.py")) is None  # not a kernel
    assert kernel_root(str(tmp_path / "x_nb.py")) is None  # not under a root
    (tmp_path / "a_nb.py").write_text("x = 1\n")
    before = kernel_sources_stamp(tmp_path)
    kernel_sources_stamp.cache_clear()
    (tmp_path / "a_nb.py").write_text("x = 2\n")
    assert kernel_sources_stamp(tmp_path) != before
