"""A backtest of online learning: deterministic, the same in both engines, checkpoints kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mmts.history import open_ledger

#: Online learning that retrains and promotes within the ten minutes of the book window.
ONLINE = """
[online]
enabled = true
models = ["cnn", "rl"]
retrain_every = 20
window = 40
min_outcomes = 10
max_outcomes = 30
batch_size = 8
learning_rate = 0.001
regression_window = 10
"""


@pytest.fixture(scope="module")
def runs(book_toml: str, backtest_untrained: Any,
         tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:  # fmt: skip
    """The recorded book window with online learning: the event engine twice, the fast once."""
    toml = book_toml.replace("decision_every = 10", "decision_every = 5") + ONLINE
    results = backtest_untrained(toml, tmp_path_factory.mktemp("online"),
                                 {"event": ("event", 1), "again": ("event", 1), "fast": ("fast", 1)})  # fmt: skip
    return {key: Path(results[key]["run_dir"]) for key in ("event", "again", "fast")}


def _tables(run_dir: Path) -> dict[str, pd.DataFrame]:
    ledger = open_ledger(run_dir)
    return {
        "predictions": ledger.predictions().drop(columns=["latency_us"]),  # wall time
        "outcomes": ledger.outcomes(), "promotions": ledger.promotions(),
        "fills": pd.read_parquet(run_dir / "fills.parquet"),
    }  # fmt: skip


@pytest.mark.slow
def test_two_runs_write_the_same_ledger_promotions_and_fills(runs: dict[str, Path]) -> None:
    one, two = _tables(runs["event"]), _tables(runs["again"])
    for name in one:
        pd.testing.assert_frame_equal(one[name], two[name], check_exact=True, obj=name)
    events = one["promotions"]
    assert {"trained", "promoted"} <= set(events["event"])  # the run did learn something
    assert set(events[events["event"] == "trained"]["model"]) == {"cnn", "rl"}
    shadow = one["predictions"][one["predictions"]["role"] == "shadow"]
    assert len(shadow) > 20 and set(shadow["model"]) == {"cnn", "rl"}
    # A DQN shadow walks with its own position: Q-values kept, actions its own.
    rl = shadow[shadow["model"] == "rl"]
    assert rl["q_values"].notna().all() and rl["action"].notna().all()


@pytest.mark.slow
def test_the_fast_engine_learns_exactly_as_the_event_loop(runs: dict[str, Path]) -> None:
    event, fast = _tables(runs["event"]), _tables(runs["fast"])
    columns = ["time", "model", "event", "from_version", "to_version"]
    pd.testing.assert_frame_equal(event["promotions"][columns], fast["promotions"][columns])
    assert (event["fills"]["time"] == fast["fills"]["time"]).all()
    np.testing.assert_allclose(event["fills"]["signed_qty"], fast["fills"]["signed_qty"], rtol=1e-6)
    a, b = event["predictions"], fast["predictions"]
    assert (a[["time", "model", "role", "version", "action"]].to_numpy()
            == b[["time", "model", "role", "version", "action"]].to_numpy()).all()  # fmt: skip


@pytest.mark.slow
def test_a_shadow_is_judged_after_its_purge_and_every_model_is_a_checkpoint(
    runs: dict[str, Path],
) -> None:
    from mmts.models.checkpoints import CheckpointStore

    ledger = open_ledger(runs["event"])
    events = ledger.promotions()
    horizon = pd.Timedelta(15, "s")  # 15 decision bars of 1 s
    trained = events[events["event"] == "trained"]
    judged = events[events["event"].isin(["promoted", "rejected"])]
    for _, row in judged.iterrows():
        made = trained[(trained["to_version"] == row["to_version"])].iloc[0]
        evidence = json.loads(row["evidence"])
        assert pd.Timestamp(evidence["judged_from"]) >= made["time"] + horizon
        assert evidence["outcomes"] >= 10
    store = CheckpointStore(runs["event"] / "checkpoints")
    entries = {e["id"]: e for name in ("cnn", "rl") for e in store.list(name)}
    for _, row in trained.iterrows():
        entry = entries[row["to_version"]]
        assert entry["parent"] == row["from_version"] and Path(entry["path"]).is_file()
        assert entry["data"]["start"] < entry["data"]["end"]
        if row["model"] == "rl":  # it read the CNN's output: which one is kept
            assert set(entry["upstream"]) == {"cnn"}
    for name in ("cnn", "rl"):
        changed = events[(events["model"] == name)
                         & events["event"].isin(["promoted", "rolled_back"])]  # fmt: skip
        active = store.active(name)["id"]  # type: ignore[index]
        assert active == (changed["to_version"].iloc[-1] if len(changed) else "untrained")
        # The model a retrain started from was active, and its examples were judged, by then.
        first = trained[trained["model"] == name].iloc[0]
        assert entries[first["to_version"]]["parent"] == "untrained"


@pytest.mark.slow
def test_the_report_shows_the_run_beside_the_same_period_frozen(runs: dict[str, Path]) -> None:
    run_dir = runs["event"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    frozen = json.loads((run_dir / "frozen" / "metrics.json").read_text())
    assert metrics["frozen"] == frozen and frozen["decisions"] == metrics["decisions"]
    frozen_ledger = open_ledger(run_dir / "frozen")
    assert frozen_ledger.promotions().empty  # nothing learned in the twin
    assert set(frozen_ledger.predictions()["role"]) == {"active"}
    page = (run_dir / "report.html").read_text()
    assert "Online learning, beside the same period frozen" in page
    for event in set(open_ledger(run_dir).promotions()["event"]):
        assert f">{event}<" in page  # every kind of learning event is listed
