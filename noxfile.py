"""Every developer and CI task, one session each: ``nox -l`` lists them.

All installs go through ``constraints.txt`` (the CPU build of torch). ``nox --no-venv -s X``
runs a session in the current environment without installing anything.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.default_venv_backend = "virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "tests"]

ROOT = Path(__file__).parent
PROJECT = nox.project.load_toml("pyproject.toml")
CONSTRAINTS = ("-c", str(ROOT / "constraints.txt"))
#: Where the real recorded data lives (see README and data/README.md).
SHARED_DATA = Path(os.environ.get("MMTS_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _install(session: nox.Session, *groups: str, extras: str = "") -> None:
    """Install the package (editable) and dependency groups, unless running with --no-venv."""
    if session.venv_backend == "none":
        return
    session.install("--upgrade", "pip")
    target = f".[{extras}]" if extras else "."
    session.install(*CONSTRAINTS, "-e", target)
    deps = nox.project.dependency_groups(PROJECT, *groups) if groups else ()
    if deps:
        session.install(*CONSTRAINTS, *deps)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (everything but GPU and nightly tests)."""
    _install(session, "test")
    session.run(
        "pytest", "-m", "not gpu and not nightly", "-p", "no:cacheprovider", *session.posargs
    )


@nox.session(default=False)
def tests_nojit(session: nox.Session) -> None:
    """Run the kernel tests with numba's JIT off: the kernels are plain Python there too."""
    _install(session, "test")
    session.run(
        "pytest", "-p", "no:cacheprovider", "tests/unit/core", "tests/unit/data/test_binance_ws.py",
        "tests/unit/data/test_bars.py", "tests/unit/features/test_input_formulas.py", *session.posargs,
        env={"NUMBA_DISABLE_JIT": "1"},
    )  # fmt: skip


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff (lint + format check) and mypy."""
    _install(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session
def backtest(session: nox.Session) -> None:
    """The main job: backtest the default experiment on the bundled real data.

    Trains the small CNN and DQN first when they have no checkpoint, then replays the test
    segment (never seen in training) and writes runs/<time>_default/ with the report.
    """
    _install(session)
    session.run("mmts", "data", "info", "--store", "data")
    session.run("mmts", "backtest", "--train-missing", *session.posargs)


@nox.session
def notebooks(session: nox.Session) -> None:
    """Execute every notebook in notebooks/ top to bottom; a failing cell fails the session."""
    _install(session, "test", extras="notebooks")
    session.run("pytest", "tests/notebooks", "-m", "", "-p", "no:cacheprovider", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Run benchmarks/ and print a table (ratios against a plain reference in the same run)."""
    _install(session, "test")
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session(default=False)
def sample(session: nox.Session) -> None:
    """Rebuild the bundled sample in data/ from the shared real recordings."""
    _install(session)
    session.run("python", "scripts/build_sample.py", "--shared", str(SHARED_DATA), "--out", "data")
