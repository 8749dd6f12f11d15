"""The ledger of a backtest: every prediction and decision, with inputs rebuilt bit for bit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mmts.features import model_input
from mmts.features.inputs import input_hash
from mmts.history import LedgerError, open_ledger

COLUMNS = ["time", "symbol", "model", "version", "role", "action", "p_sell", "p_hold", "p_buy",
           "confidence", "input_id"]  # fmt: skip


@pytest.fixture(scope="module")
def runs(book_toml: str, backtest_untrained: Any,
         tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:  # fmt: skip
    """The recorded book window backtested by the event and the fast engine (untrained CNN + DQN)."""
    results = backtest_untrained(book_toml, tmp_path_factory.mktemp("ledger"),
                                 {"event": ("event", None), "fast": ("fast", 2)})  # fmt: skip
    for engine in ("event", "fast"):
        assert results[engine]["engine"] == engine
    return {
        **results,
        "event": Path(results["event"]["run_dir"]),
        "fast": Path(results["fast"]["run_dir"]),
    }


@pytest.mark.slow
def test_every_expert_output_and_decision_is_in_the_ledger(runs: dict[str, Any]) -> None:
    ledger = open_ledger(runs["event"])
    predictions = ledger.predictions()
    assert set(COLUMNS) <= set(predictions.columns)
    decisions = pd.read_parquet(runs["event"] / "decisions.parquet")
    counts = predictions.groupby("model").size().to_dict()
    assert counts == dict.fromkeys(
        ["cnn", "imbalance", "ma_cross", "mixture", "rl"], len(decisions)
    )
    mixture = ledger.predictions(model="mixture")
    assert (mixture["time"].to_numpy() == decisions["time"].to_numpy()).all()
    assert (mixture["action"].to_numpy() == decisions["action"].to_numpy()).all()
    np.testing.assert_array_equal(mixture["confidence"], decisions["confidence"])
    assert (predictions["role"] == "active").all()
    assert predictions.loc[predictions["model"] == "rl", "q_values"].map(len).eq(3).all()
    assert (predictions.loc[predictions["model"] != "mixture", "latency_us"] > 0).all()
    # Filters: one model, a time range [start, end).
    window = ledger.predictions(
        model="cnn", start="2024-08-09T00:00:00Z", end="2024-08-09T00:01:00Z"
    )
    assert len(window) == 6 and (window["model"] == "cnn").all()


@pytest.mark.slow
def test_an_input_is_rebuilt_bit_for_bit_from_either_engine(runs: dict[str, Any]) -> None:
    store, exp = runs["store"], runs["exp"]
    for engine in ("event", "fast"):
        ledger = open_ledger(runs[engine])
        predictions = ledger.predictions()
        recorded = ledger.inputs().set_index("input_id")
        assert set(predictions["input_id"]) <= set(recorded.index)
        for model in ("cnn", "rl"):
            row = predictions[predictions["model"] == model].iloc[-5]
            x = ledger.input(row["input_id"])
            assert input_hash(x) == recorded.loc[row["input_id"], "hash"]
            at = int(row["time"].value)
            slots = {"rl": ("cnn",)}.get(model, ())
            expected = model_input(store, at, exp.features, model_slots=slots,
                                   model_outputs={"cnn": x.blocks["model_outputs"][0]})  # fmt: skip
            for name in expected.blocks:
                if name != "model_outputs":
                    np.testing.assert_array_equal(x.blocks[name], expected.blocks[name], name)
                    np.testing.assert_array_equal(x.masks[name], expected.masks[name], name)
            if model == "rl":  # the CNN's output sits in the DQN's slot, as it read it
                cnn = predictions[
                    (predictions["model"] == "cnn") & (predictions["time"] == row["time"])
                ]
                np.testing.assert_allclose(x.blocks["model_outputs"][0, :3],
                                           cnn[["p_sell", "p_hold", "p_buy"]].to_numpy()[0], rtol=1e-6)  # fmt: skip
                assert x.masks["model_outputs"].all()


@pytest.mark.slow
def test_both_engines_write_the_same_ledger(runs: dict[str, Any]) -> None:
    event, fast = (open_ledger(runs[e]) for e in ("event", "fast"))
    a, b = event.predictions(), fast.predictions()
    assert (a["input_id"] == b["input_id"]).all() and (a["model"] == b["model"]).all()
    assert (a["action"] == b["action"]).all()
    np.testing.assert_allclose(a[["p_sell", "p_hold", "p_buy"]], b[["p_sell", "p_hold", "p_buy"]],
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    base = [i for i in a["input_id"].unique() if i.count(":") == 1]
    hashes = [x.set_index("input_id").loc[base, "hash"] for x in (event.inputs(), fast.inputs())]
    assert (hashes[0] == hashes[1]).all()  # step driver and batch driver: the same inputs


@pytest.mark.slow
def test_frames_are_stored_once(runs: dict[str, Any]) -> None:
    ledger = open_ledger(runs["event"])
    inputs = ledger.inputs()
    bars = ledger.read("bar_frames")
    assert not bars.duplicated(["series", "open"]).any()
    raw = sum(b.nbytes for b in ledger.input(inputs["input_id"].iloc[0]).blocks.values())
    assert ledger.disk_bytes() < raw * len(inputs) / 10  # even over a 10-minute window


def test_a_folder_without_a_ledger_is_named(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match=str(tmp_path / "ledger" / "ledger.json")):
        open_ledger(tmp_path)


@pytest.mark.slow
def test_outcomes_are_joined_once_the_horizon_has_passed(runs: dict[str, Any]) -> None:
    from mmts.models.labels import cost_aware_labels
    from mmts.models.output import ACTION_NAMES

    exp = runs["exp"]
    ledger = open_ledger(runs["event"])
    joined = ledger.predictions(with_outcomes=True)
    assert {"outcome", "realized_return", "correct"} <= set(joined.columns)
    judged = joined[joined["outcome"].notna()]
    horizon = pd.Timedelta(exp.horizon_ns, "ns")
    assert (judged["resolved_at"] >= judged["time"] + horizon).all()  # never before the horizon
    # The last horizon's predictions are still open at the end of the run.
    assert joined.loc[joined["time"] > joined["time"].max() - horizon, "outcome"].isna().all()
    # The realised return is the decision price's, at both ends; the label is training's rule.
    price = ledger.predictions(model="mixture").set_index("time")["price"]
    first = judged[judged["model"] == "mixture"].iloc[0]
    r = price[first["resolved_at"]] / price[first["time"]] - 1
    assert first["realized_return"] == pytest.approx(r, rel=1e-12)
    labels = cost_aware_labels(
        judged["realized_return"].to_numpy(), exp.costs, exp.labels.dead_zone
    )
    assert list(judged["outcome"]) == [ACTION_NAMES[k] for k in labels]
    assert (judged["correct"] == (judged["action"] == judged["outcome"])).all()


@pytest.mark.slow
def test_outcomes_become_weighted_examples_and_lived_transitions(runs: dict[str, Any]) -> None:
    from mmts.history.examples import classification_examples, dqn_transitions

    exp = runs["exp"]
    ledger = open_ledger(runs["event"])
    examples = classification_examples(ledger, "cnn")
    judged = ledger.outcomes(model="cnn")
    assert len(examples) == judged["outcome"].notna().sum() > 10
    wrong, right = examples[~examples["correct"]], examples[examples["correct"]]
    np.testing.assert_allclose(wrong["weight"], 1 + 2 * wrong["confidence"])
    np.testing.assert_allclose(right["weight"], 1 - right["confidence"] / 2)
    x = ledger.input(examples["input_id"].iloc[0])  # every example's input can be rebuilt
    assert x.at == int(examples["time"].iloc[0].value)

    transitions = dqn_transitions(ledger, exp.costs)
    rl = ledger.predictions(model="rl")
    assert len(transitions) == len(rl) - 1
    assert list(transitions["next_input_id"]) == list(rl["input_id"].iloc[1:])
    k = 5
    pos = {"SELL": -1.0, "HOLD": 0.0, "BUY": 1.0}
    p0, p1 = rl["price"].iloc[k], rl["price"].iloc[k + 1]
    held, before = pos[rl["action"].iloc[k]], pos[rl["action"].iloc[k - 1]]
    want = held * (p1 / p0 - 1) - exp.costs.per_fill * abs(held - before)
    assert transitions["reward"].iloc[k] == pytest.approx(want, rel=1e-12, abs=1e-15)
    # Every action from each lived state: the lived rows unchanged, the others by the same rule.
    every = dqn_transitions(ledger, exp.costs, all_actions=True)
    assert len(every) == 3 * len(transitions)
    pd.testing.assert_frame_equal(every[every["lived"]].reset_index(drop=True), transitions)
    step = every[every["time"] == transitions["time"].iloc[k]]
    assert list(step["action"]) == ["SELL", "HOLD", "BUY"]
    for action, reward in zip(step["action"], step["reward"], strict=True):
        target = pos[action]
        want = target * (p1 / p0 - 1) - exp.costs.per_fill * abs(target - before)
        assert reward == pytest.approx(want, rel=1e-12, abs=1e-15)
    # From a start on, the first row in the window only says what was held at the second.
    later = dqn_transitions(ledger, exp.costs, start=rl["time"].iloc[k])
    pd.testing.assert_frame_equal(later, transitions.iloc[k + 1 :].reset_index(drop=True))


@pytest.mark.slow
def test_archive_then_restore_round_trips_and_later_inputs_still_rebuild(
    runs: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    import shutil

    from mmts.cli.main import main

    run_dir = tmp_path / "run"
    shutil.copytree(runs["event"], run_dir)
    ledger = open_ledger(run_dir)
    before = {name: ledger.read(name) for name in ("predictions", "outcomes", "inputs")}
    cut = "2024-08-09T00:00:00Z"
    assert main(["history", "archive", "--ledger", str(run_dir), "--before", cut, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [Path(f).name for f in report["files"]] == ["2024-08-08.zip"]  # one file per day
    left = ledger.predictions()
    assert left["time"].min() >= pd.Timestamp(cut) and report["rows"]["predictions"] > 0
    later = left[left["model"] == "rl"]["input_id"].iloc[0]  # the first input after the cut
    assert ledger.input(later).at == int(pd.Timestamp(cut).value)  # its frames stayed
    assert (
        main(["history", "restore", "--ledger", str(run_dir), "--archive", report["files"][0]]) == 0
    )
    capsys.readouterr()
    for name, rows in before.items():
        again = ledger.read(name)
        key = ["time", "model", "role"] if name != "inputs" else ["input_id"]
        pd.testing.assert_frame_equal(
            again.sort_values(key).reset_index(drop=True),
            rows.sort_values(key).reset_index(drop=True),
        )
    early = before["predictions"]["input_id"].iloc[0]
    assert ledger.input(early).at == int(before["predictions"]["time"].iloc[0].value)  # frames back
    assert (
        main(["history", "restore", "--ledger", str(run_dir), "--archive", report["files"][0]]) == 2
    )
    assert "restored into" in capsys.readouterr().err  # twice would count rows twice


@pytest.mark.slow
def test_notable_predictions_are_kept_longer(runs: dict[str, Any], tmp_path: Path) -> None:
    import shutil

    from mmts.history.retention import CONFIDENT_MISTAKE, archive

    run_dir = tmp_path / "run"
    shutil.copytree(runs["event"], run_dir)
    ledger = open_ledger(run_dir)
    joined = ledger.predictions(with_outcomes=True)
    report = archive(run_dir, "2024-08-09T00:00:00Z", keep_notable_until="2024-08-08T23:58:00Z")
    assert report.kept_notable > 0
    left = ledger.predictions(with_outcomes=True)
    kept = left[left["time"] < pd.Timestamp("2024-08-09T00:00:00Z")]
    assert (
        len(kept) == report.kept_notable
        and (kept["time"] >= pd.Timestamp("2024-08-08T23:58:00Z")).all()
    )
    mistakes = (kept["correct"] == False) & (kept["confidence"] >= CONFIDENT_MISTAKE)
    pool = joined[joined["time"] < pd.Timestamp("2024-08-09T00:00:00Z")]  # what was archived
    large = kept["realized_return"].abs() >= pool["realized_return"].abs().quantile(0.95)
    assert (mistakes | large).all()
    for iid in kept["input_id"].head(3):
        assert ledger.input(iid).at > 0  # a kept example's input still rebuilds


@pytest.mark.slow
def test_mmts_monitor_reports_scores_alerts_and_learning(runs: dict[str, Any],
                                                         capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    import json

    from mmts.cli.main import main

    assert main(["monitor", "--ledger", str(runs["event"]), "--window", "20", "--json"]) == 0
    health = json.loads(capsys.readouterr().out)
    assert {"cnn/active", "rl/active", "imbalance/active", "ma_cross/active"} <= set(
        health["models"]
    )
    cnn = health["models"]["cnn/active"]
    assert cnn["outcomes"] == 20 and 0 <= cnn["accuracy"] <= 1 and cnn["brier"] >= 0
    assert health["data_flow"]["decisions"] == 61 and health["data_flow"]["write_errors"] == 0
    assert main(["monitor", "--ledger", str(runs["event"])]) == 0
    assert "open alerts:" in capsys.readouterr().out


@pytest.mark.slow
def test_max_age_archives_old_days_as_the_writer_goes(runs: dict[str, Any], tmp_path: Path) -> None:
    import shutil
    from functools import partial

    from mmts.history.retention import enforce

    run_dir = tmp_path / "run"
    shutil.copytree(runs["event"], run_dir)
    ledger = open_ledger(run_dir)
    alerts: list[tuple[str, ...]] = []
    policy = partial(enforce, max_bytes=None, max_age_days=3 / 86400, archive_dir=None,
                     keep_longer=1.0, max_disk_bytes=1000)  # fmt: skip
    now = int(pd.Timestamp("2024-08-09T00:05:00Z").value)
    files = policy(ledger.folder, now, alert=lambda *a, **_: alerts.append(a))
    assert files and ledger.predictions()["time"].min() >= pd.Timestamp(now - 3 * 10**9, tz="UTC")
    assert alerts and alerts[0][1] == "disk" and "over the 0.0 MB limit" in alerts[0][3]
