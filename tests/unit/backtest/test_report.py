"""The report a person opens: rendered by headless Chromium, screenshot and all (README shows it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
#: Where README's screenshot lives; ``MMTS_UPDATE_DOCS=1`` makes this test write it there.
DOCS_SHOT = ROOT / "docs" / "report.png"


@pytest.mark.slow
def test_the_report_renders_in_a_browser(browser: str, busy_experiment: str, tmp_path: Path,
                                         run_rules) -> None:  # fmt: skip
    run = Path(run_rules(busy_experiment, tmp_path / "runs")["run_dir"])  # busy: trades to draw
    shot = tmp_path / "report.png"
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--window-size=1400,2200", f"--screenshot={shot}", (run / "report.html").as_uri()],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(tmp_path)},
        check=False,
    )  # fmt: skip
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    from matplotlib.image import imread

    pixels = (imread(shot)[:, :, :3] * 255).astype(np.int64)
    assert pixels.shape[:2] == (2200, 1400)
    # Charts were drawn (Plotly ran, offline): many distinct colours, in the upper half too.
    top = pixels[:1100].reshape(-1, 3)
    assert len(np.unique(top[::7], axis=0)) > 50
    assert (pixels.std(axis=(0, 1)) > 10).all()  # not a blank page
    if os.environ.get("MMTS_UPDATE_DOCS"):
        DOCS_SHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS_SHOT)


def test_readme_shows_the_report_screenshot() -> None:
    assert "docs/report.png" in (ROOT / "README.md").read_text()
    assert DOCS_SHOT.is_file(), "run MMTS_UPDATE_DOCS=1 pytest tests/unit/backtest/test_report.py"
