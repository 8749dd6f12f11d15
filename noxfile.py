"""Every developer and CI task, one session each: ``nox -l`` lists them.

All installs go through ``constraints.txt`` (the CPU build of torch). ``nox --no-venv -s X``
runs a session in the current environment without installing anything.
"""

from __future__ import annotations

import os
import shutil
import time
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
    """Install the package (editable) and dependency groups, unless running with --no-venv.

    The first install on a machine downloads torch (CPU), lightning, vectorbt and ccxt: minutes
    of pip that is silent by default, so the session says so before and after.
    """
    if session.venv_backend == "none":
        return
    started = time.monotonic()
    session.log(
        "installing mmts and its dependencies into .nox/ (torch CPU, lightning, vectorbt, ccxt, "
        "...): 2 to 5 minutes the first time (more when pip's cache is empty), seconds after"
    )
    session.install("--upgrade", "pip")
    target = f".[{extras}]" if extras else "."
    session.install(*CONSTRAINTS, "-e", target)
    deps = nox.project.dependency_groups(PROJECT, *groups) if groups else ()
    if deps:
        session.install(*CONSTRAINTS, *deps)
    session.log(f"installed in {time.monotonic() - started:.0f} s")


#: Headless browsers the page tests drive; Debian's ``chromium`` is installed when none is found.
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _browser(session: nox.Session) -> None:
    """Make sure headless Chromium and its driver are on PATH (the page and dashboard tests).

    Installed from Debian's packages (chromium, chromium-driver) when the machine lacks them
    and nox runs as root (CI does); elsewhere those tests fail and say how to install them.
    """
    if any(shutil.which(name) for name in BROWSERS) and shutil.which("chromedriver"):
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        session.warn("no Chromium or chromedriver on PATH and no root apt-get: the browser tests "
                     "will fail (apt-get install chromium chromium-driver)")  # fmt: skip
        return
    session.log("installing Chromium and chromedriver from Debian's packages: ~1 min")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    try:
        session.run("apt-get", "update", "-qq", external=True, env=env)
        session.run("apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium",
                    "chromium-driver", "fonts-dejavu-core", external=True, env=env)  # fmt: skip
    except nox.command.CommandFailed:
        # The suite still runs; the browser tests then fail, by name, saying what is missing.
        session.warn("could not install Chromium: the browser tests cannot run")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the full test suite (everything but GPU and nightly tests): what CI runs.

    With the ray and optuna extras: the study's ray engine is tested against the serial one
    (two CPUs), and Optuna sweeps for determinism and resuming.
    """
    _install(session, "test", extras="ray,optuna")
    _browser(session)
    session.run("pytest", "-m", "not gpu and not nightly", "-p", "no:cacheprovider",
                "--durations=20", *session.posargs)  # fmt: skip


@nox.session(default=False)
def quick(session: nox.Session) -> None:
    """The edit loop: every test not marked slow (no notebooks, no live sessions, no training)."""
    _install(session, "test")
    session.run("pytest", "-m", "not slow and not gpu and not nightly", "-p", "no:cacheprovider",
                "--durations=20", *session.posargs)  # fmt: skip


#: The kernels' tests that also run with numba's JIT off (the kernels are plain Python there).
KERNEL_TESTS = ("tests/unit/core", "tests/unit/data/test_binance_ws.py", "tests/unit/data/test_bars.py",
                "tests/unit/features/test_input_formulas.py", "tests/unit/features/test_pivots.py",
                "tests/unit/features/test_cob.py", "tests/unit/backtest/test_signals.py")  # fmt: skip


@nox.session(default=False)
def tests_nojit(session: nox.Session) -> None:
    """Run the kernel tests with numba's JIT off: the kernels are plain Python there too."""
    _install(session, "test")
    session.run("pytest", "-p", "no:cacheprovider", *KERNEL_TESTS, *session.posargs,
                env={"NUMBA_DISABLE_JIT": "1"})  # fmt: skip


@nox.session(default=False)
def coverage(session: nox.Session) -> None:
    """Line and branch coverage of the full suite, per package; an HTML report in coverage-html/.

    Compiled kernels are invisible to coverage.py, so their tests run a second time with the
    JIT off and both runs are combined. Subprocesses (the CLI, the fast engine's workers) count.
    """
    _install(session, "test", "coverage")
    _browser(session)
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", "-m", "not gpu and not nightly",
                "-p", "no:cacheprovider", "-q", *session.posargs)  # fmt: skip
    session.run("coverage", "run", "-m", "pytest", "-p", "no:cacheprovider", "-q", "-m", "not slow",
                *KERNEL_TESTS, env={"NUMBA_DISABLE_JIT": "1"})  # fmt: skip
    session.run("coverage", "combine", "-q")
    session.run("coverage", "html", "-q", "-d", "coverage-html")
    session.run("coverage", "json", "-q", "-o", "coverage.json")
    session.run("python", "scripts/coverage_by_package.py", "coverage.json")


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
    session.log(
        "backtest: trains the CNN and the DQN first when they have no usable checkpoint (about "
        "2 minutes on an idle 2-core machine, once), then replays the test segment (~15 s)"
    )
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
