"""One seam for running many independent tasks (study folds, sweep trials): serial, process, ray.

Every backend takes the same picklable tasks and the same module-level function and yields each
result as it finishes, so a study runs unchanged on one core, on every core of this machine, or
on a Ray cluster (``--ray-address``). Tasks carry paths, never data: a worker reads the store
itself, so it must see the same filesystem (on a cluster: a shared mount at the same path).
A task that raises, or whose worker dies, yields ``on_error(task, message)`` instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: The backends, in the order of ``--engine``'s choices.
ENGINES = ("serial", "process", "ray")

#: The object store a local Ray gets: small, as the tasks carry paths, not data (a 2-core
#: machine with 24 GB must not be swapped out by Ray's default of 30 % of memory).
RAY_OBJECT_STORE_BYTES = 256 * 1024**2


def default_workers() -> int:
    """One worker per core this process may use."""
    return max(1, len(os.sched_getaffinity(0)))


def worker_setup() -> None:
    """Give this worker one torch intra-op thread before its first task.

    The networks are tiny, and the other workers use the other cores.
    """
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


def _run(fn: Callable[[Any], Any], task: Any) -> Any:
    worker_setup()
    return fn(task)


def run_tasks(fn: Callable[[Any], Any], tasks: list[Any], *, engine: str = "serial",
              workers: int | None = None, ray_address: str | None = None,
              on_error: Callable[[Any, str], Any]) -> Iterator[Any]:  # fmt: skip
    """Yield ``fn(task)`` for every task as each finishes, on ``engine``."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}; was {engine!r}")
    if ray_address is not None and engine != "ray":
        raise ValueError("--ray-address needs --engine ray")
    if not tasks:
        return
    if engine == "serial":
        yield from _serial(fn, tasks, on_error)
    elif engine == "process":
        yield from _processes(fn, tasks, workers or default_workers(), on_error)
    else:
        yield from _ray(fn, tasks, workers, ray_address, on_error)


def _serial(fn: Callable[[Any], Any], tasks: list[Any], on_error: Callable[[Any, str], Any]
            ) -> Iterator[Any]:  # fmt: skip
    for task in tasks:
        try:
            yield fn(task)
        except Exception as e:  # noqa: BLE001 - a failed task is reported; the others go on
            yield on_error(task, f"{type(e).__name__}: {e}")


def _processes(fn: Callable[[Any], Any], tasks: list[Any], workers: int,
               on_error: Callable[[Any, str], Any]) -> Iterator[Any]:  # fmt: skip
    """Run in a pool of fresh (spawned) processes: none of this process's torch state is shared."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=context) as pool:
        futures = {pool.submit(_run, fn, task): task for task in tasks}
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as e:  # noqa: BLE001 - the task raised, or its worker died
                yield on_error(futures[future], f"{type(e).__name__}: {e}")


def _ray(fn: Callable[[Any], Any], tasks: list[Any], workers: int | None, address: str | None,
         on_error: Callable[[Any, str], Any]) -> Iterator[Any]:  # fmt: skip
    """Run as Ray tasks of one CPU each; a local Ray (no ``address``) gets ``workers`` CPUs."""
    ray = _import_ray()
    with engine_session("ray", workers, address):
        remote = ray.remote(num_cpus=1, max_retries=0)(_run)
        pending = {remote.remote(fn, task): task for task in tasks}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                task = pending.pop(ref)
                try:
                    yield ray.get(ref)
                except Exception as e:  # noqa: BLE001 - the task raised, or its worker died
                    yield on_error(task, f"{type(e).__name__}: {e}")


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise RuntimeError(
            "--engine ray needs Ray: pip install 'mmts[ray]' (or use --engine process)"
        ) from e
    return ray


@contextmanager
def engine_session(engine: str, workers: int | None = None, address: str | None = None
                   ) -> Iterator[None]:  # fmt: skip
    """Hold the engine's resources across many :func:`run_tasks` calls (a sweep's trials).

    For ``ray``: start (or join, with ``address``) Ray once, unless it already runs, and shut it
    down after; a local Ray gets ``workers`` CPUs and a small object store. Other engines need
    nothing held.
    """
    if engine != "ray":
        yield
        return
    ray = _import_ray()
    if ray.is_initialized():
        yield
        return
    if address is None:
        ray.init(num_cpus=workers or default_workers(), include_dashboard=False,
                 object_store_memory=RAY_OBJECT_STORE_BYTES, log_to_driver=False,
                 configure_logging=False)  # fmt: skip
    else:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()
