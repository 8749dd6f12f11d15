"""Numba kernel of the input summary (see ``mmts.models.summary``)."""

from __future__ import annotations

from mmts.core.jit import njit


@njit(cache=True)
def block_summary_nb(rows, mask, out, at):
    """Write ``[last available row, mean over available rows, share available]`` at ``out[at:]``.

    ``rows`` is float32[n, k]; returns the next free index of ``out``.
    """
    n, k = rows.shape
    count = 0
    last = -1
    for i in range(n):
        if mask[i]:
            count += 1
            last = i
    for j in range(k):
        out[at + j] = rows[last, j] if last >= 0 else 0.0
    for j in range(k):
        total = 0.0
        if count:
            for i in range(n):
                if mask[i]:
                    total += rows[i, j]
        out[at + k + j] = total / max(count, 1)
    out[at + 2 * k] = count / max(n, 1)
    return at + 2 * k + 1
