"""`mmts sim-exchange` and `mmts live --paper` as a user runs them: two processes, real sockets."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.network

ROOT = Path(__file__).resolve().parents[3]


def _mmts(*args: str) -> list[str]:
    return [sys.executable, "-m", "mmts.cli", *args]


@pytest.fixture
def simulator(sample_store_path: Path):  # type: ignore[no-untyped-def]
    spot = ROOT / "data" / "raw" / "binance-ws" / "spot"
    files = [str(spot / f"{s}usdt_2024080{d}.gz") for s in ("eth", "btc") for d in (8, 9)]
    proc = subprocess.Popen(
        _mmts("sim-exchange", "--data", *files, "--store", str(sample_store_path), "--port", "0",
              "--speed", "10"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    rest = proc.stdout.readline().split()[-1]
    ws = proc.stdout.readline().split()[-1]
    assert rest.startswith("http://127.0.0.1:") and ws.startswith("ws://127.0.0.1:")
    yield rest, ws
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 0


@pytest.mark.slow
def test_paper_session_runs_stops_on_ctrl_c_and_continues(
    simulator: tuple[str, str], tmp_path: Path
) -> None:
    rest, ws = simulator
    out = tmp_path / "session"
    args = _mmts("live", "--experiment", str(ROOT / "experiments" / "paper_rules.toml"),
                 "--exchange", "binance", "--paper", "--ws-url", ws, "--rest-url", rest,
                 "--out", str(out), "--save-every", "1")  # fmt: skip
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )

    def decisions_saved() -> int:
        try:
            return len(pd.read_parquet(out / "decisions.parquet"))
        except (OSError, ValueError):
            return 0

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and decisions_saved() < 8:
        time.sleep(0.2)  # the session saves every second (--save-every 1)
    proc.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop that saves everything
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr[-2000:]
    summary = json.loads(stdout)
    assert summary["decisions"] > 5
    assert "book ok" in stderr and "pos" in stderr and "pnl" in stderr  # the status line
    first = pd.read_parquet(out / "decisions.parquet")
    assert len(first) == summary["decisions"]
    state = json.loads((out / "state.json").read_text())
    assert state["mode"] == "paper" and state["experiment"] == "paper_rules"
    # A restart on the same folder continues: the tables grow, the state carries over.
    again = subprocess.run([*args, "--duration", "4"], capture_output=True, text=True, cwd=ROOT,
                           timeout=120, check=False)  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]
    both = pd.read_parquet(out / "decisions.parquet")
    assert len(both) > len(first) and both["time"].is_monotonic_increasing
    pd.testing.assert_frame_equal(both.iloc[: len(first)], first)


def test_live_money_needs_confirmation(tmp_path: Path) -> None:
    result = subprocess.run(
        _mmts("live", "--experiment", str(ROOT / "experiments" / "paper_rules.toml"), "--live",
              "--rest-url", "http://127.0.0.1:9", "--out", str(tmp_path)),
        input="no\n", capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1 and "not confirmed" in result.stderr
    assert not list(tmp_path.iterdir())
