"""A task for testing the executors (``mmts.study.executors``): spawned workers import it by name."""

from __future__ import annotations

import os
import signal


def probe(task: int) -> dict[str, int]:
    """Return ``task`` squared and the worker's pid; task 3 raises, task 4 kills its worker."""
    if task == 3:
        raise ValueError("three is bad")
    if task == 4:
        os.kill(os.getpid(), signal.SIGKILL)
    return {"task": task, "value": task * task, "pid": os.getpid()}
