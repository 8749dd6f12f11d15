"""The report a person opens: rendered by headless Chromium, screenshot and all (README shows it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mmts.cli.main import main

ROOT = Path(__file__).resolve().parents[3]
#: Where README's screenshot lives; ``MMTS_UPDATE_DOCS=1`` makes this test write it there.
DOCS_SHOT = ROOT / "docs" / "report.png"
TOML = """
[experiment]
name = "rules"
store = "{store}"
[features]
tick = {{ "ETH/USDT" = 0.01 }}
[data]
decision_every = 5
[strategy]
cooldown_s = 30.0
buy_threshold = 0.4
sell_threshold = 0.4
[backtest]
experts = ["ma_cross", "imbalance"]
"""


@pytest.mark.slow
def test_the_report_renders_in_a_browser(browser: str, sample_store_path: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    experiment = tmp_path / "rules.toml"
    experiment.write_text(TOML.format(store=sample_store_path))
    args = ["backtest", "--experiment", str(experiment), "--start", "2024-08-20T00:00:00Z",
            "--end", "2024-08-22T00:00:00Z", "--out", str(tmp_path / "runs"), "--no-progress",
            "--json"]  # fmt: skip
    assert main(args) == 0
    run = Path(json.loads(capsys.readouterr().out)["run_dir"])
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
