"""The command line: subcommands, JSON output, exit codes."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mmts.cli.main import main

LINE = (
    '1723161253937085768 {"stream":"ethusdt@trade","data":{"e":"trade","t":1,"p":"2683.81",'
    '"q":"0.02","T":1723161255342,"m":false,"M":true}}\n'
)


def test_help_lists_the_data_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "import" in out and "info" in out


def test_import_then_info_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rec = tmp_path / "ethusdt_20240808.gz"
    rec.write_bytes(gzip.compress(LINE.encode()))
    store = tmp_path / "store"
    assert main(["data", "import", str(rec), "--store", str(store), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["written"][0]["kind"] in {"bars_1s", "trades"}
    assert main(["data", "info", "--store", str(store), "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry == {
        "exchange": "binance", "market": "spot", "symbol": "ETH/USDT", "kind": "trades",
        "start": "2024-08-08T23:54:13.937085768Z", "end": "2024-08-08T23:54:13.937085768Z",
        "rows": 1, "gaps": [],
    }  # fmt: skip


def test_errors_exit_2_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "x.txt"
    bad.write_text("nope\n")
    assert main(["data", "import", str(bad), "--store", str(tmp_path / "s")]) == 2
    assert "x.txt: unrecognised format" in capsys.readouterr().err


def test_overrides_name_market_and_symbol(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = tmp_path / "rec.txt"
    rec.write_text(LINE)
    store = tmp_path / "store"
    args = [
        "data",
        "import",
        str(rec),
        "--store",
        str(store),
        "--market",
        "usdm",
        "--symbol",
        "ETH/USDT:USDT",
    ]
    assert main(args) == 0
    capsys.readouterr()
    main(["data", "info", "--store", str(store), "--json"])
    assert {e["symbol"] for e in json.loads(capsys.readouterr().out)} == {"ETH/USDT:USDT"}


def test_console_entry_point_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mmts.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "data" in out


@pytest.mark.network
def test_download_command_against_the_simulator(
    tmp_path: Path, sample_store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mmts.data import open_store
    from mmts.testing.exchange_sim import ExchangeSimulator

    with ExchangeSimulator(open_store(sample_store_path), exchange="binance") as sim:
        args = ["data", "download", "--exchange", "binance", "--symbol", "BTC/USDT,ETH/USDT",
                "--timeframe", "1h", "--start", "2024-08-01", "--end", "2024-08-03",
                "--store", str(tmp_path), "--api-url", sim.url, "--json"]  # fmt: skip
        assert main(args) == 0
    reports = json.loads(capsys.readouterr().out)
    assert [(r["symbol"], r["bars_new"]) for r in reports] == [("BTC/USDT", 48), ("ETH/USDT", 48)]


@pytest.mark.parametrize(
    "command",
    [
        ["data", "info"],
        ["features", "build"],
        ["backtest", "--no-progress"],
        ["train", "cnn"],
        ["evaluate"],
    ],
)
def test_a_store_that_does_not_exist_is_an_error(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere"
    assert main([*command, "--store", str(missing)]) == 2
    assert f"store '{missing}' does not exist" in capsys.readouterr().err
    assert not missing.exists()  # and reading did not create it


def test_sim_exchange_on_a_port_in_use_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    raw = Path(__file__).resolve().parents[3] / "data" / "raw" / "binance-ws" / "spot"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["sim-exchange", "--data", str(raw / "ethusdt_20240808.gz"),
                     "--port", str(port), "--exit-at-end"])  # fmt: skip
    assert code == 2
    assert f"port {port} on 127.0.0.1 is already in use" in capsys.readouterr().err


def test_live_against_a_port_where_nothing_listens_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import itertools
    import socket

    from mmts.live import feed

    monkeypatch.setattr(feed, "backoff_delays", lambda *a, **k: itertools.repeat(0.0))
    with socket.socket() as closed:  # a port that was free a moment ago: nothing listens
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    experiment = Path(__file__).resolve().parents[3] / "experiments" / "paper_rules.toml"
    code = main(["live", "--experiment", str(experiment), "--exchange", "binance",
                 "--ws-url", f"ws://127.0.0.1:{port}/ws", "--rest-url", f"http://127.0.0.1:{port}",
                 "--duration", "5", "--out", str(tmp_path / "live")])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert f"cannot reach binance at http://127.0.0.1:{port}" in err and "Traceback" not in err


def test_live_money_on_futures_is_refused_before_asking_for_yes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_prompt(prompt: str = "") -> str:
        raise AssertionError("asked for confirmation of something it cannot do")

    monkeypatch.setattr("builtins.input", no_prompt)
    assert main(["live", "--exchange", "binanceusdm", "--live"]) == 2
    err = capsys.readouterr().err
    assert "--live trades spot accounts only (binance, mexc): binanceusdm" in err


def test_train_missing_retrains_what_the_experiment_cannot_use() -> None:
    from mmts.features.inputs import ModelInputLayout
    from mmts.models.experiment import Experiment
    from mmts.models.predictors import checkpoint_problem

    exp = Experiment()

    class Index:
        def __init__(self, entry):
            self.entry = entry

        def active(self, name):
            return self.entry

    assert checkpoint_problem(Index(None), "cnn", exp) == "no checkpoint yet"
    old = ModelInputLayout(config=exp.features).describe() | {"version": "1.0"}
    why = checkpoint_problem(Index({"id": "old", "layout": old}), "cnn", exp)
    assert why is not None and "input layout 1.0" in why
    same = {"id": "ok", "layout": ModelInputLayout(config=exp.features).describe(),
            "experiment": exp.to_dict()}  # fmt: skip
    assert checkpoint_problem(Index(same), "cnn", exp) is None
