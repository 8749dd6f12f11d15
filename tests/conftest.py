"""Shared fixtures: the real recorded data, the bundled sample store, empty stores."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MMTS_SHARED_DATA", ROOT.parent / "shared" / "data"))
SAMPLE_STORE = ROOT / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real recordings (../shared/data). CI always has them; elsewhere a test skips."""
    if not (SHARED_DATA / "binance-ws").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"shared data missing at {SHARED_DATA}: CI must run beside shared/")
        pytest.skip(f"shared data not found at {SHARED_DATA} (set MMTS_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def sample_store_path() -> Path:
    """The bundled sample store in the repository's data/ folder."""
    return SAMPLE_STORE


#: Headless browsers the page tests drive (Debian's ``chromium``; ``nox -s tests`` installs it).
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@pytest.fixture(scope="session")
def browser() -> str:
    """The headless Chromium binary (``nox -s tests`` installs it); without it a test fails.

    Never skipped: a page nobody opened is not tested. The message says how to get it.
    """
    found = next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)
    if found is None:
        pytest.fail(
            "no Chromium on PATH: run `nox -s tests` as root (it installs Debian's "
            "chromium and chromium-driver), or apt-get install chromium chromium-driver"
        )
    return found


@pytest.fixture(scope="session")
def project_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch copy of the project: the bundled data, the experiment files and the notebooks.

    Notebooks and whole-job tests run in it, so what they write (checkpoints in
    ``experiments/models``, ``runs/``, feature tables beside the data) lands there and never in
    the working tree. One copy per session: the notebooks train the default models in it, and
    the shipped experiments' backtests then find them.
    """
    copy = tmp_path_factory.mktemp("project")
    shutil.copytree(
        SAMPLE_STORE,
        copy / "data",
        ignore=shutil.ignore_patterns(".staging", ".lock", "features_*"),
    )
    (copy / "experiments").mkdir()
    for path in (ROOT / "experiments").glob("*.toml"):
        shutil.copy2(path, copy / "experiments" / path.name)
    shutil.copytree(
        ROOT / "notebooks", copy / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints")
    )
    return copy


# -- what the suite must not do: write into the working tree --------------------------------------

#: Where commands write by default; a test writing there would leave files in the checkout.
WRITE_TARGETS = ("experiments/models", "runs", "live", "lightning_logs", "notebooks/runs")


def _written(root: Path) -> set[str]:
    found = {str(p.relative_to(root)) for target in WRITE_TARGETS if (root / target).exists()
             for p in [root / target, *(root / target).rglob("*")]}  # fmt: skip
    found |= {str(p.relative_to(root)) for p in (root / "data").rglob("features_*")}
    found |= {str(p.relative_to(root)) for p in (root / "notebooks").glob("*") if p.is_dir()}
    return found


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_BEFORE] = _written(ROOT)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    new = sorted(_written(ROOT) - session.config.stash.get(_BEFORE, set()))
    if new:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"tests wrote into the working tree (use tmp_path or project_copy): {new[:10]}",
                red=True,
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# -- honest markers: a test that takes long without @slow is named at the end ---------------------

#: A test's call taking longer than this should be marked ``slow`` (``nox -s quick`` skips it).
SLOW_S = 3.0


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.duration > SLOW_S and "slow" not in report.keywords:
        _UNMARKED.append((report.nodeid, report.duration))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _UNMARKED:
        terminalreporter.section(f"slower than {SLOW_S:g} s and not marked slow")
        for nodeid, seconds in sorted(_UNMARKED, key=lambda x: -x[1]):
            terminalreporter.write_line(f"{seconds:6.1f} s  {nodeid}")


_BEFORE = pytest.StashKey[set[str]]()
_UNMARKED: list[tuple[str, float]] = []
