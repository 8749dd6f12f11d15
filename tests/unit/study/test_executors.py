"""The executor seam: every backend yields every task's result; failures are results too."""

from __future__ import annotations

import os

import pytest

from mmts.study.executors import run_tasks
from mmts.testing.tasks import probe as square


def failed(task: int, message: str) -> dict[str, object]:
    return {"task": task, "error": message}


def test_serial_runs_in_order_and_reports_a_raising_task() -> None:
    out = list(run_tasks(square, [1, 2, 3], engine="serial", on_error=failed))
    assert [r["task"] for r in out] == [1, 2, 3]
    assert out[2]["error"] == "ValueError: three is bad"
    assert {r["pid"] for r in out[:2]} == {os.getpid()}


@pytest.mark.slow
def test_processes_run_tasks_elsewhere_and_report_a_dead_worker() -> None:
    out = {r["task"]: r for r in run_tasks(square, [1, 2, 3], engine="process", workers=2,
                                           on_error=failed)}  # fmt: skip
    assert out[1]["value"] == 1 and out[2]["value"] == 4
    assert out[3]["error"] == "ValueError: three is bad"
    assert os.getpid() not in {out[1]["pid"], out[2]["pid"]}
    dead = list(run_tasks(square, [4], engine="process", workers=1, on_error=failed))
    assert "BrokenProcessPool" in dead[0]["error"]


@pytest.mark.slow
def test_ray_runs_the_same_tasks_with_two_cpus() -> None:
    pytest.importorskip("ray", reason="the ray extra: pip install 'mmts[ray]'")
    out = {r["task"]: r for r in run_tasks(square, [1, 2, 3], engine="ray", workers=2,
                                           on_error=failed)}  # fmt: skip
    assert out[1]["value"] == 1 and out[2]["value"] == 4
    assert "three is bad" in out[3]["error"]


def test_an_unknown_engine_or_a_stray_address_is_refused() -> None:
    with pytest.raises(ValueError, match="engine must be one of"):
        list(run_tasks(square, [1], engine="threads", on_error=failed))
    with pytest.raises(ValueError, match="--ray-address needs --engine ray"):
        list(run_tasks(square, [1], engine="process", ray_address="x:1", on_error=failed))
