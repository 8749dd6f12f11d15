"""Train the CNN and the DQN on the bundled data (tiny), deterministically; evaluate them.

The evaluation runs on a store holding only 1 m / 1 h / 1 d bars (no 1 s, no order book):
masks, not errors.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mmts.cli.main import main
from mmts.data import open_store
from mmts.features.inputs import LAYOUT_VERSION
from mmts.models.experiment import load_experiment
from mmts.models.rl import module as rl_module
from mmts.models.rl.train import train_rl
from mmts.models.train import train_cnn

TINY = """
[experiment]
name = "tiny"
seed = 3
store = "{store}"
[features]
tick = {{ "ETH/USDT" = 0.01 }}
[data]
start = "2024-08-12T00:00:00Z"
end = "2024-08-20T00:00:00Z"
decision_every = 15
[labels]
horizon = 15
[cnn]
channels = 4
hidden = 8
[rl]
hidden = 16
steps = 300
steps_per_epoch = 150
warmup_steps = 64
batch_size = 32
episode_length = 64
epsilon_decay_steps = 200
[train]
epochs = 1
batch_size = 32
max_train_samples = 96
[checkpoints]
keep = 2
dir = "{checkpoints}"
"""


@pytest.fixture
def bars_only_store(sample_store_path: Path, tmp_path: Path) -> Path:
    root = tmp_path / "bars_only"
    for symbol_dir in (sample_store_path / "binance").iterdir():
        for kind in ("bars_1m", "bars_1h", "bars_1d"):
            shutil.copytree(symbol_dir / kind, root / "binance" / symbol_dir.name / kind)
    return root


def _experiment(tmp_path: Path, store: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(store=store, checkpoints=tmp_path / "models"))
    return path


@pytest.mark.slow
def test_same_seed_data_and_config_give_the_same_checkpoint(
    sample_store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp = load_experiment(_experiment(tmp_path, sample_store_path))
    store = open_store(sample_store_path)
    first = train_cnn(store, exp, progress=False, checkpoint_dir=tmp_path / "a")
    second = train_cnn(store, exp, progress=False, checkpoint_dir=tmp_path / "b")
    assert first["state_hash"] == second["state_hash"]
    rl_first = train_rl(store, exp, progress=False, checkpoint_dir=tmp_path / "a")
    # Environment steps grouped differently per Lightning batch (150 = 21 x 7 + 3): same weights.
    monkeypatch.setattr(rl_module, "STEPS_PER_BATCH", 7)
    rl_second = train_rl(store, exp, progress=False, checkpoint_dir=tmp_path / "b")
    assert rl_first["state_hash"] == rl_second["state_hash"]
    assert rl_first["val_return"] == rl_second["val_return"]
    assert first["val_loss"] == second["val_loss"]
    assert first["samples"]["train"] == 96
    # The purge gap separates the segments by at least the label horizon.
    assert first["data"]["train"][1] < first["data"]["val"][0] < first["data"]["test"][0]


@pytest.mark.slow
def test_cli_train_list_and_evaluate_on_bars_only(bars_only_store: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    experiment = str(_experiment(tmp_path, bars_only_store))
    assert main(["train", "cnn", "--experiment", experiment, "--no-progress", "--json"]) == 0
    trained = json.loads(capsys.readouterr().out)
    assert main(["models", "list", "--experiment", experiment, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["active"] and listed[0]["id"] == trained["best"]
    assert listed[0]["layout_version"] == LAYOUT_VERSION
    assert main(["train", "rl", "--experiment", experiment, "--no-progress", "--json"]) == 0
    rl = json.loads(capsys.readouterr().out)
    assert rl["upstream"] == {"cnn": trained["best"]} and rl["checkpoints"] >= 1
    args = ["evaluate", "--experiment", experiment, "--store", str(bars_only_store),
            "--start", "2024-08-18T00:00:00Z", "--end", "2024-08-20T00:00:00Z", "--json"]  # fmt: skip
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["period"]["decisions"] == 2 * 24 * 4
    for name in ("buy_and_hold", "flat", "logistic"):
        assert {"accuracy", "f1_macro", "net_return", "sharpe", "trades"} <= set(
            report["baselines"][name]
        )
    assert set(report["models"]) == {"cnn", "rl"}
    assert "warnings" not in report
    cnn = report["models"]["cnn"]
    assert 0.0 <= cnn["accuracy"] <= 1.0 and cnn["calibration"]
    assert (
        report["baselines"]["flat"]["net_return"] == 0.0
        and report["baselines"]["flat"]["trades"] == 0
    )
    # Evaluating twice gives the same numbers (deterministic end to end).
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out) == report
    # Models trained on 15-bar labels refuse an experiment that means 60 (and say what differs).
    Path(experiment).write_text(
        Path(experiment).read_text().replace("horizon = 15", "horizon = 60")
    )
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "cnn checkpoint" in err and "[labels] horizon = 15 in training, 60 now" in err
    backtest = ["backtest", "--experiment", experiment, "--start", "2024-08-19T00:00:00Z",
                "--end", "2024-08-19T02:00:00Z", "--no-progress", "--out", str(tmp_path / "runs")]  # fmt: skip
    assert main(backtest) == 2
    assert "[labels] horizon = 15 in training, 60 now" in capsys.readouterr().err


def test_datamodule_segments_are_purged_by_the_label_horizon(
    sample_store_path: Path, tmp_path: Path
) -> None:
    from mmts.models.datamodule import DecisionDataModule

    exp = load_experiment(_experiment(tmp_path, sample_store_path))
    dm = DecisionDataModule(open_store(sample_store_path), exp)
    dm.setup()
    data = dm.prepared()
    t = data.decisions.times
    train, val, test = (t[s.index] for s in (data.train, data.val, data.test))
    assert train.max() + exp.horizon_ns < val.min()
    assert val.max() + exp.horizon_ns < test.min()
    batch = next(iter(dm.test_dataloader()))
    assert batch["ohlcv_1m"].shape[1:] == (300, 5) and not batch["mask_ohlcv_1s"].any()


def test_retraining_never_takes_the_active_checkpoint_away(
    sample_store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lightning as L

    from mmts.models.checkpoints import CheckpointStore
    from mmts.models.predictors import load_active_models

    exp = load_experiment(_experiment(tmp_path, sample_store_path))
    store, root = open_store(sample_store_path), tmp_path / "models"
    first = train_cnn(store, exp, progress=False, checkpoint_dir=root)
    active = CheckpointStore(root).active("cnn")
    assert active is not None and active["id"] == first["best"]
    seen: list[bool] = []
    fit = L.Trainer.fit

    def fit_while_a_backtest_loads(self: L.Trainer, *args: object, **kwargs: object) -> None:
        # The same experiment again (same run name): what a backtest loads meanwhile must load.
        seen.append(
            Path(active["path"]).exists() and "cnn" in load_active_models(root, exp.features)[0]
        )
        fit(self, *args, **kwargs)
        seen.append(
            Path(active["path"]).exists() and "cnn" in load_active_models(root, exp.features)[0]
        )

    monkeypatch.setattr(L.Trainer, "fit", fit_while_a_backtest_loads)
    second = train_cnn(store, exp, progress=False, checkpoint_dir=root)
    assert seen == [True, True]
    assert second["best"] == first["best"]  # same seed, data and config: the same checkpoint
    assert not list((root / "cnn" / ".staging").glob("*/*")), "staging is left empty"


def test_evaluate_on_a_store_that_holds_only_later_data(
    sample_store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mmts.core.time import to_ns

    experiment = str(_experiment(tmp_path, sample_store_path))  # trains on 08-12 .. 08-20
    assert main(["train", "cnn", "--experiment", experiment, "--no-progress", "--json"]) == 0
    capsys.readouterr()
    # Newly imported months, the normal out-of-sample case: real bars from 08-21 on only.
    sample, later = open_store(sample_store_path), open_store(tmp_path / "later")
    cut = to_ns("2024-08-21T00:00:00Z")
    for symbol in ("ETH/USDT", "BTC/USDT"):
        for kind in ("bars_1m", "bars_1h", "bars_1d"):
            later.write("binance", symbol, kind, sample.read("binance", symbol, kind, cut, None))
    args = ["evaluate", "--experiment", experiment, "--store", str(tmp_path / "later"),
            "--start", "2024-08-22T00:00:00Z", "--end", "2024-08-24T00:00:00Z", "--json"]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    report = json.loads(capsys.readouterr().out)
    assert report["period"]["decisions"] == 2 * 24 * 4 and "logistic" in report["baselines"]
    # Where the experiment's own (training) data is missing, it says which.
    Path(experiment).write_text(
        Path(experiment).read_text().replace(str(sample_store_path), str(tmp_path / "later"))
    )
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "fitted on the experiment's training segment, which is missing" in err
    assert "no ETH/USDT 1m bars in 2024-08-12T00:00:00Z .. 2024-08-20T00:00:00Z" in err


@pytest.mark.slow
def test_lstm_and_transformer_train_evaluate_and_join_the_mixture_by_config_alone(
    sample_store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    experiment = _experiment(tmp_path, sample_store_path)
    text = (
        experiment.read_text()
        + "[lstm]\nwidth = 8\nsteps = 20\n"
        + ("[transformer]\nwidth = 8\nheads = 2\nsteps = 40\nlayers = 1\n")
    )
    experiment.write_text(text)
    for kind in ("lstm", "transformer"):
        assert (
            main(["train", kind, "--experiment", str(experiment), "--no-progress", "--json"]) == 0
        )
        trained = json.loads(capsys.readouterr().out)
        assert trained["model"] == kind and trained["checkpoints"] >= 1
        assert trained["samples"]["train"] == 96
    args = ["evaluate", "--experiment", str(experiment), "--start", "2024-08-19T00:00:00Z",
            "--end", "2024-08-20T00:00:00Z", "--json"]  # fmt: skip
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["models"]) == {"lstm", "transformer"}  # no CNN trained here: no rl either
    assert set(report["baselines"]) == {"buy_and_hold", "flat", "logistic"}
    # The mixture takes them by config alone: [backtest] experts.
    experiment.write_text(text + '[backtest]\nexperts = ["lstm", "transformer", "ma_cross"]\n')
    backtest = ["backtest", "--experiment", str(experiment), "--start", "2024-08-19T00:00:00Z",
                "--end", "2024-08-19T06:00:00Z", "--no-progress", "--json",
                "--out", str(tmp_path / "runs")]  # fmt: skip
    assert main(backtest) == 0
    run = json.loads(capsys.readouterr().out)
    manifest = json.loads((Path(run["run_dir"]) / "manifest.json").read_text())
    assert set(manifest["models"]) == {"lstm", "transformer", "ma_cross"}
    assert manifest["models"]["lstm"].startswith("tiny-")


@pytest.mark.slow
def test_the_cnn_and_the_dqn_retrain_to_the_same_weights_in_fresh_processes(
    sample_store_path: Path, tmp_path: Path
) -> None:
    """Two fresh processes, one allowed two threads: the same seeds and data give the same weights.

    (A fresh checkout once trained a DQN whose backtest differed from the session before.)
    """
    import os
    import subprocess
    import sys

    hashes = []
    for run, threads in (("a", "1"), ("b", "2")):
        folder = tmp_path / run
        folder.mkdir()
        experiment = _experiment(folder, sample_store_path)
        env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
        found = {}
        for model in ("cnn", "rl"):
            out = subprocess.run([sys.executable, "-m", "mmts.cli", "train", model, "--experiment",
                                  str(experiment), "--no-progress", "--json"],
                                 capture_output=True, text=True, env=env, check=True, timeout=600)  # fmt: skip
            found[model] = json.loads(out.stdout)["state_hash"]
        hashes.append(found)
    assert hashes[0] == hashes[1]
