"""The dashboard in headless Chromium against `mmts serve` running a paper session on the simulator.

Everything is a real process on 127.0.0.1: `mmts sim-exchange` replaying the bundled
recordings, `mmts serve`, the session it starts, and Chromium driven by Selenium through
Debian's chromedriver (no browser or driver is downloaded). Screenshots of each page are kept in
``test-artefacts/dashboard/``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.network]

ROOT = Path(__file__).resolve().parents[2]
RECORDINGS = [ROOT / "data" / "raw" / "binance-ws" / "spot" / f"{s}usdt_20240808.gz"
              for s in ("eth", "btc")]  # fmt: skip
ARTEFACTS = ROOT / "test-artefacts" / "dashboard"


_READERS: dict[int, Any] = {}


def _line(process: subprocess.Popen[str], pattern: str, timeout_s: float = 60) -> re.Match[str]:
    """Wait for a line of ``process``'s output matching ``pattern`` (never past the timeout)."""
    import queue
    import threading

    lines = _READERS.get(process.pid)
    if lines is None:  # one reader thread per process: a blocking readline never stalls the test
        lines = _READERS[process.pid] = queue.SimpleQueue()
        stdout = process.stdout
        assert stdout is not None
        threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            if process.poll() is not None and lines.empty():
                break
            continue
        found = re.search(pattern, line)
        if found:
            return found
    raise AssertionError(f"no line matching {pattern!r}")


def _rest(process: subprocess.Popen[str]) -> str:
    """Return what ``process`` printed that :func:`_line` has not taken yet (it has exited)."""
    lines = _READERS.get(process.pid)
    if lines is None:
        return process.stdout.read() if process.stdout else ""
    time.sleep(0.2)  # the reader thread drains the closed pipe
    out = []
    while not lines.empty():
        out.append(lines.get())
    return "".join(out)


def _api(url: str, token: str, path: str, body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(url + path,  # noqa: S310 - 127.0.0.1 only method="POST" if body is not None else "GET",
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - 127.0.0.1
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


@pytest.fixture
def served(tmp_path: Path, browser: str) -> Iterator[dict[str, Any]]:
    """The simulator, `mmts serve` and one paper session it runs."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    sim = subprocess.Popen([sys.executable, "-m", "mmts.cli", "sim-exchange", "--data",
                            *map(str, RECORDINGS), "--store", str(ROOT / "data"), "--speed", "5"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)  # fmt: skip
    serve = subprocess.Popen([sys.executable, "-m", "mmts.cli", "serve", "--root", str(tmp_path / "serve"),
                              "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, env=env, cwd=ROOT)  # fmt: skip
    try:
        rest_url = _line(sim, r"rest: (http://\S+)").group(1)
        ws_url = _line(sim, r"ws: +(ws://\S+)").group(1)
        url = _line(serve, r"(http://127\.0\.0\.1:\d+)/").group(1)
        token = _line(serve, r"token \(shown once.*\): (\S+)").group(1)
        # A busy session: a decision every second of the replay, five replayed seconds a second.
        busy = tmp_path / "busy.toml"
        text = (ROOT / "experiments" / "paper_rules.toml").read_text()
        busy.write_text(text.replace("decision_every = 5 ", "decision_every = 1 "))
        assert busy.read_text() != text
        status, body = _api(url, token, "/api/sessions", {
            "experiment": str(busy), "exchange": "binance", "ws_url": ws_url, "rest_url": rest_url,
            "duration": 240})  # fmt: skip
        assert status == 201, body
        yield {"url": url, "token": token, "sid": body["id"], "root": tmp_path / "serve",
               "browser": browser}  # fmt: skip
    finally:
        for process in (serve, sim):
            process.terminate()
            process.wait(10)
        for record in json.loads((tmp_path / "serve" / "sessions.json").read_text())["sessions"]:
            if record.get("pid"):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(record["pid"], 15)


def _driver(browser: str) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1400,1000"):  # fmt: skip
        options.add_argument(flag)
    driver_path = shutil.which("chromedriver")
    if driver_path is None:
        pytest.fail("no chromedriver on PATH: apt-get install chromium-driver (nox -s tests does)")
    return webdriver.Chrome(service=Service(driver_path), options=options)


def _wait(driver: Any, script: str, timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.25)
    console = [entry["message"] for entry in driver.get_log("browser")]
    raise AssertionError(f"timed out: {script}; the page's console: {console}")


def test_the_dashboard_shows_and_steers_a_running_paper_session(served: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    driver = _driver(served["browser"])
    try:
        driver.get(served["url"] + "/")
        driver.find_element(By.ID, "token").send_keys("wrong-token")
        driver.find_element(By.ID, "connect").click()
        _wait(driver, "return document.getElementById('login-error').textContent")
        assert "refused" in driver.find_element(By.ID, "login-error").text
        driver.save_screenshot(str(ARTEFACTS / "login-refused.png"))
        token_box = driver.find_element(By.ID, "token")
        token_box.clear()
        token_box.send_keys(served["token"])
        driver.find_element(By.ID, "connect").click()
        # Candles and markers appear; markers arrive over the stream.
        _wait(
            driver,
            "const d = document.getElementById('candles').data; return d && d[0].x.length > 5",
        )
        _wait(driver, "return window.mmts.latencies.length >= 20", 90)
        # The order book under the chart follows the stream too: imbalance and depth.
        _wait(
            driver,
            "const d = document.getElementById('imbalance').data; return d && d[0].x.length >= 5",
        )
        _wait(
            driver, "const d = document.getElementById('depth').data; return d && d[0].y.length > 0"
        )
        driver.save_screenshot(str(ARTEFACTS / "market.png"))
        # Zoom changes the visible range.
        before = driver.execute_script(
            "return document.getElementById('candles')._fullLayout.xaxis.range.slice()"
        )
        driver.execute_script("""const el = document.getElementById('candles');
            const r = el._fullLayout.xaxis.range.map((v) => new Date(v).getTime());
            const mid = (r[0] + r[1]) / 2, half = (r[1] - r[0]) / 8;
            Plotly.relayout(el, {'xaxis.range': [new Date(mid - half).toISOString(), new Date(mid + half).toISOString()]});""")
        after = _wait(
            driver, "const r = document.getElementById('candles')._fullLayout.xaxis.range; return r"
        )
        assert after != before
        # Moving the BUY slider and applying it changes the running session's threshold.
        driver.find_element(By.CSS_SELECTOR, "a[data-page=controls]").click()
        driver.execute_script(
            "const s = document.getElementById('buy'); s.value = '0.93'; s.dispatchEvent(new Event('input'));"
        )
        driver.execute_script("window.confirm = () => true;")
        driver.find_element(By.ID, "apply-thresholds").click()
        _wait(
            driver,
            "return document.getElementById('control-result').textContent.includes('applied')",
        )
        driver.save_screenshot(str(ARTEFACTS / "controls.png"))
        for page in ("portfolio", "models", "system"):
            driver.find_element(By.CSS_SELECTOR, f"a[data-page={page}]").click()
            time.sleep(1.5)
            driver.save_screenshot(str(ARTEFACTS / f"{page}.png"))
        # The next decisions record the new value.
        url, token, sid = served["url"], served["token"], served["sid"]
        _wait(driver, "return window.mmts.decisions.some((d) => d.buy_threshold === 0.93)", 60)
        _, rows = _api(url, token, f"/api/sessions/{sid}/decisions")
        assert rows[-1]["buy_threshold"] == 0.93
        # The server's own CPU while the session trades and the page follows it (10 s).
        first = _api(url, token, "/api/health")[1]["server"]
        t0 = time.monotonic()
        time.sleep(10)
        second = _api(url, token, "/api/health")[1]["server"]
        cpu_share = (second["cpu_s"] - first["cpu_s"]) / (time.monotonic() - t0)
        latencies = sorted(driver.execute_script("return window.mmts.latencies"))
        p95 = latencies[int(0.95 * (len(latencies) - 1))]
        (ARTEFACTS / "latency.json").write_text(json.dumps({
            "decision_to_marker_ms_p95": p95, "decision_to_marker_ms_max": latencies[-1],
            "n": len(latencies), "server_cpu_share": cpu_share}))  # fmt: skip
        # Stop stops the session.
        driver.find_element(By.CSS_SELECTOR, "a[data-page=controls]").click()
        driver.find_element(By.ID, "stop").click()
        _wait(
            driver,
            "return document.getElementById('control-result').textContent.includes('Stop the session: applied')",
        )
        deadline = time.monotonic() + 30
        while _api(url, token, "/api/health")[1]["sessions"][sid] != "stopped":
            assert time.monotonic() < deadline, "the session did not stop"
            time.sleep(0.5)
    finally:
        driver.quit()


def _decisions(out: Path) -> int:
    from mmts.live.journal import read_journal

    return sum(line["type"] == "decision" for line in read_journal(out / "journal.jsonl")[0])


def test_killing_the_server_loses_no_decision_and_a_new_one_takes_the_sessions_back(
    served: dict[str, Any], tmp_path: Path
) -> None:
    """kill -9 of `mmts serve` while a session trades: it goes on; a new server re-attaches.

    Then the session is killed too (a crash, a reboot): the next server restarts it from its
    state.json. Secrets in the environment appear in no response and no log.
    """
    import signal

    import pandas as pd

    url, token, sid, root = served["url"], served["token"], served["sid"], served["root"]
    record = json.loads((root / "sessions.json").read_text())["sessions"][0]
    out = Path(record["out"])
    deadline = time.monotonic() + 60
    while _decisions(out) < 5:
        assert time.monotonic() < deadline, "no decisions"
        time.sleep(0.5)
    health = _api(url, token, "/api/health")[1]
    serve_pid = health["server"]["pid"]
    os.kill(serve_pid, signal.SIGKILL)
    before = _decisions(out)
    time.sleep(6)
    after = _decisions(out)
    assert after > before, "the session stopped deciding when the server died"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MMTS_BINANCE_API_KEY": "kEy-sEcReT-1",
           "MMTS_BINANCE_API_SECRET": "vAlUe-sEcReT-2"}  # fmt: skip
    second = subprocess.Popen([sys.executable, "-m", "mmts.cli", "serve", "--root", str(root),
                               "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=env, cwd=ROOT)  # fmt: skip
    texts: list[str] = []
    try:
        url = _line(second, r"(http://127\.0\.0\.1:\d+)/").group(1)
        status, sessions = _api(url, token, "/api/sessions")
        assert status == 200 and [s["state"] for s in sessions] == ["running"]
        texts.append(json.dumps(sessions))
        # The session crashes (kill -9) once it has saved its state: this server sees it; the
        # next one restarts it from that state.
        deadline = time.monotonic() + 60
        while not (out / "state.json").exists():
            assert time.monotonic() < deadline, "the session never saved its state"
            time.sleep(0.2)
        os.kill(record["pid"], signal.SIGKILL)
        time.sleep(1)
        assert _api(url, token, f"/api/sessions/{sid}")[1]["state"] in {"failed", "exited"}
        second.terminate()
        second.wait(10)
        third = subprocess.Popen([sys.executable, "-m", "mmts.cli", "serve", "--root", str(root),
                                  "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, env=env, cwd=ROOT)  # fmt: skip
        try:
            restarted = _line(third, rf"{sid}: restarted from its state.json").group(0)
            url = _line(third, r"(http://127\.0\.0\.1:\d+)/").group(1)
            resumed_at = _decisions(out)
            deadline = time.monotonic() + 90
            while _decisions(out) < resumed_at + 3:
                assert time.monotonic() < deadline, "the restarted session never decided"
                time.sleep(0.5)
            for _, path, body in [("GET", "/api/health", None), ("GET", "/api/sessions", None),
                                  ("GET", f"/api/sessions/{sid}", None),
                                  ("GET", f"/api/sessions/{sid}/decisions", None),
                                  ("GET", f"/api/sessions/{sid}/models", None),
                                  ("GET", "/api/commands", None)]:  # fmt: skip
                texts.append(json.dumps(_api(url, token, path, body)[1]))
            health = _api(url, token, "/api/health")[1]
            assert _api(url, token, f"/api/sessions/{sid}/stop", {})[0] == 200
        finally:
            third.terminate()
            third.wait(10)
            texts.append(_rest(third))
    finally:
        if second.poll() is None:
            second.terminate()
        texts.append(_rest(second))
    assert restarted
    texts += [p.read_text() for p in out.rglob("*.log")] + [(out / "journal.jsonl").read_text()]
    assert not any("sEcReT" in text for text in texts)
    # Nothing decided before the crash was lost: the saved decisions hold every one up to the
    # last save, and the restarted session went on from its state.
    decisions = pd.read_parquet(out / "decisions.parquet")
    assert len(decisions) >= after and decisions["time"].is_monotonic_increasing
    (ARTEFACTS.parent / "serve-faults.json").parent.mkdir(parents=True, exist_ok=True)
    (ARTEFACTS.parent / "serve-faults.json").write_text(json.dumps({
        "decisions_while_server_dead": after - before, "seconds": 6,
        "server_cpu_share": health["server"]["cpu_share"], "decisions_saved": len(decisions)}))  # fmt: skip
