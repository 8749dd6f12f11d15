"""Feed a book replay's application log to a step driver, as live trading would."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def feed_log(
    apply: Callable[..., object],
    log_code: np.ndarray,
    log_ts: np.ndarray,
    rows: np.ndarray,
    start: int,
    until: int,
) -> int:
    """Call ``apply(code, ts[, side, price, qty])`` for log entries ``start..`` with ``ts <= until``.

    Level updates pass the row's side, price and quantity; markers pass only code and time.
    Returns the index of the first entry not fed, to continue from.
    """
    j = start
    while j < log_code.shape[0] and log_ts[j] <= until:
        code = int(log_code[j])
        if code >= 0:
            apply(code, int(log_ts[j]), int(rows["side"][code]), float(rows["price"][code]),
                  float(rows["qty"][code]))  # fmt: skip
        else:
            apply(code, int(log_ts[j]))
        j += 1
    return j
