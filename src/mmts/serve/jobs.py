"""Training jobs ``mmts serve`` runs: each ``mmts train`` in a process of its own, with progress.

A job trains one model of an experiment into the experiment's checkpoint folder, exactly as
``mmts train`` at a terminal does (its log is ``<root>/jobs/<id>.log``). Its progress is the
run's own Lightning metrics file (``<checkpoints>/<model>/<run>/logs/metrics.csv``): epoch, step,
training loss and the validation metric as they are written. A job is stopped by terminating its
process group; a run stopped half-way publishes no checkpoint (``models.train``).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mmts.core.files import json_text, write_atomically
from mmts.models.experiment import load_experiment
from mmts.serve.sessions import pid_alive

log = logging.getLogger(__name__)

JOBS_FILE = "jobs.json"
MODELS = ("cnn", "rl")
#: The metric each model's run is selected on (``models.train`` / ``models.rl.train``).
METRIC = {"cnn": "val_loss", "rl": "val_return"}


@dataclass
class JobRecord:
    """What the server keeps about one training job."""

    id: str
    experiment: str
    model: str
    metrics: str
    log: str
    epochs: int
    pid: int | None = None
    started_at: int = 0
    desired: str = "running"
    exit_code: int | None = None


def run_metrics(experiment: str, model: str) -> tuple[Path, int]:
    """Return where ``model``'s run of ``experiment`` writes its metrics, and its epochs."""
    exp = load_experiment(experiment)
    name = f"{exp.name}-{exp.digest()}-s{exp.seed}"
    folder = Path(exp.checkpoints.dir) / model / name / "logs" / "metrics.csv"
    epochs = (
        exp.train.epochs if model == "cnn" else max(1, -(-exp.rl.steps // exp.rl.steps_per_epoch))
    )
    return folder, int(epochs)


def progress(record: JobRecord) -> dict[str, Any]:
    """Return the job's progress: the latest epoch, step, training loss and validation metric."""
    path = Path(record.metrics)
    out: dict[str, Any] = {"epochs": record.epochs, "epoch": None, "step": None, "loss": None,
                           "metric_name": METRIC[record.model], "metric": None, "rows": 0}  # fmt: skip
    if not path.exists() or path.stat().st_mtime_ns < record.started_at:
        return out  # this job has not written yet (a file there is an earlier run's)
    with path.open() as f:
        rows = list(csv.DictReader(f))
    out["rows"] = len(rows)
    for row in rows:
        if row.get("epoch"):
            out["epoch"], out["step"] = int(row["epoch"]), int(row.get("step") or 0)
        if row.get("train_loss"):
            out["loss"] = float(row["train_loss"])
        if row.get(METRIC[record.model]):
            out["metric"] = float(row[METRIC[record.model]])
    return out


class Jobs:
    """Start, watch and stop training jobs under ``root``; records in ``<root>/jobs.json``."""

    def __init__(self, root: Path, python: str = sys.executable) -> None:
        self.root, self.python = root, python
        self.folder = root / "jobs"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.records: dict[str, JobRecord] = {}
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        path = root / JOBS_FILE
        if path.exists():
            for item in json.loads(path.read_text()).get("jobs", []):
                record = JobRecord(**item)
                self.records[record.id] = record

    def save(self) -> None:
        """Write every record (atomically)."""
        body = {"jobs": [asdict(r) for r in self.records.values()]}
        write_atomically(self.root / JOBS_FILE, lambda path: path.write_text(json_text(body)))

    def start(self, experiment: str, model: str) -> JobRecord:
        """Start training ``model`` of ``experiment``; return the job's record."""
        if model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}; was {model!r}")
        if any(r.model == model and r.experiment == experiment and self.state(r) == "running"
               for r in self.records.values()):  # fmt: skip
            raise ValueError(f"{model} of {experiment} is already training")
        metrics, epochs = run_metrics(experiment, model)
        jid = f"train-{model}-{len(self.records) + 1}"
        log_path = self.folder / f"{jid}.log"
        record = JobRecord(id=jid, experiment=experiment, model=model, metrics=str(metrics),
                           log=str(log_path), epochs=epochs)  # fmt: skip
        args = [self.python, "-m", "mmts.cli", "train", model, "--experiment", experiment,
                "--no-progress", "--json"]  # fmt: skip
        with log_path.open("ab") as log_file:
            child = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log_file,
                                     stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        record.pid, record.started_at = child.pid, time.time_ns()
        self.children[jid] = child
        self.records[jid] = record
        self.save()
        log.info("training job %s started (pid %d)", jid, child.pid)
        return record

    def state(self, record: JobRecord) -> str:
        """Say what the job does: running, stopped, finished or failed."""
        child = self.children.get(record.id)
        if child is not None and child.poll() is None:
            return "running"
        if child is not None:
            record.exit_code = child.returncode
        elif pid_alive(record.pid, record.experiment):
            return "running"
        if record.desired == "stopped":
            return "stopped"
        return "finished" if record.exit_code == 0 else "failed"

    def stop(self, jid: str) -> None:
        """Terminate the job's process group (its run publishes nothing)."""
        record = self.records[jid]
        record.desired = "stopped"
        self.save()
        if record.pid and self.state(record) == "running":
            os.killpg(record.pid, signal.SIGTERM)

    def summary(self, record: JobRecord) -> dict[str, Any]:
        """Return what the API shows of a job."""
        return {"id": record.id, "experiment": record.experiment, "model": record.model,
                "state": self.state(record), "pid": record.pid, "progress": progress(record)}  # fmt: skip
