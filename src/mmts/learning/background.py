"""Retrains in a background process, so a live session's decisions never wait for training."""

from __future__ import annotations

import logging
import os
from concurrent.futures import Future, ProcessPoolExecutor
from functools import partial
from multiprocessing import get_context

from mmts.features.inputs import ModelInputLayout
from mmts.learning.retrain import RetrainJob, RetrainResult, load_retrained, run_retrain

log = logging.getLogger(__name__)


def _worker_init() -> None:
    """One torch thread and a lower priority: training takes what trading leaves."""
    import torch

    torch.set_num_threads(1)
    if hasattr(os, "nice"):
        os.nice(10)


class BackgroundTrainer:
    """One worker process; a finished model is loaded off the decision loop, then polled."""

    def __init__(self, layout: ModelInputLayout) -> None:
        self.layout = layout
        self.pool = ProcessPoolExecutor(
            1, mp_context=get_context("spawn"), initializer=_worker_init
        )
        self.running: dict[str, Future[RetrainResult]] = {}
        self.ready: dict[str, RetrainResult] = {}

    def submit(self, job: RetrainJob) -> None:
        """Start ``job`` (one per model at a time)."""
        future = self.pool.submit(run_retrain, job, False)
        self.running[job.name] = future
        future.add_done_callback(partial(self._finished, job))

    def _finished(self, job: RetrainJob, future: Future[RetrainResult]) -> None:
        """Load the finished model in the pool's thread, not on the decision loop."""
        try:
            result = future.result()
            if not result.error:
                result.model = load_retrained(result, self.layout)
                if hasattr(result.model, "warm"):
                    result.model.warm()  # its first decision must not build the ONNX session
        except Exception as e:
            log.exception("background retrain %s failed", job.version)
            result = RetrainResult(job.name, job.version, job.parent, job.out, job.at, job.why,
                                   (0, 0), error=f"{type(e).__name__}: {e}")  # fmt: skip
        self.ready[job.name] = result

    def poll(self, name: str) -> RetrainResult | None:
        """Return ``name``'s finished retrain once (None while it runs)."""
        result = self.ready.pop(name, None)
        if result is not None:
            self.running.pop(name, None)
        return result

    def close(self) -> None:
        """Stop the worker (a retrain still running is abandoned)."""
        self.pool.shutdown(wait=False, cancel_futures=True)
