"""Background tasks whose failures are seen: in live trading no exception may vanish.

asyncio keeps a failed task's exception until someone asks; a task nobody awaits (a kline
fetch, a depth snapshot, an order request) would take a crash while deciding or ordering with
it silently. Every task the live code starts goes through :func:`spawn`, which hands an
unexpected exception to an error handler: by default it is logged with its traceback; a
session installs one that also stops trading (:meth:`mmts.live.session.LiveSession.fail`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

#: Called with what failed (``"kline fetch ETHUSDT 1m"``) and the exception.
ErrorHandler = Callable[[str, BaseException], None]


def log_error(what: str, error: BaseException) -> None:
    """Log ``error`` with its traceback (the handler when nothing else is installed)."""
    log.error("%s failed: %s: %s", what, type(error).__name__, error, exc_info=error)


def watch(task: asyncio.Task[Any], what: str, on_error: Callable[[], ErrorHandler]) -> None:
    """Report ``task``'s exception, if it ends with one, to the handler ``on_error()`` returns.

    The handler is looked up when the task ends, so one installed after the task started
    still hears of it. Cancellation is an ordinary end.
    """

    def done(finished: asyncio.Task[Any]) -> None:
        if finished.cancelled():
            return
        error = finished.exception()
        if error is not None:
            on_error()(what, error)

    task.add_done_callback(done)


def spawn(coro: Coroutine[Any, Any, Any], what: str, on_error: Callable[[], ErrorHandler],
          tasks: set[asyncio.Task[Any]] | None = None) -> asyncio.Task[Any]:  # fmt: skip
    """Start ``coro`` on the running loop, watched (:func:`watch`); keep it in ``tasks``."""
    task = asyncio.get_running_loop().create_task(coro)
    if tasks is not None:
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    watch(task, what, on_error)
    return task
