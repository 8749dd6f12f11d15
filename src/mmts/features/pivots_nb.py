"""Numba kernels for Williams market-structure pivots.

A level-1 swing high at position ``i`` of a series ``v`` with strength ``n``: ``v[i]`` is
strictly above each of the ``n`` values before it and at least each of the ``n`` values after
it (so a flat top yields one pivot, at its first bar). Swing lows mirror this. Level ``k + 1``
applies the same rule to the sequence of level-``k`` pivots of the same kind.

A pivot becomes knowable only when its ``n``-th right neighbour exists: at level 1 that is bar
``i + n``; at higher levels it is when the ``n``-th later pivot of the level below was confirmed.
"""

from __future__ import annotations

import numpy as np

from mmts.core.jit import njit


@njit(cache=True)
def swing_points_nb(values, n, is_high):
    """Return the positions of swing highs (``is_high``) or lows of ``values`` with strength n.

    Equivalent to a Python loop over ``i`` testing ``v[i] > max(v[i-n:i])`` and
    ``v[i] >= max(v[i+1:i+n+1])`` (min and ``<``/``<=`` for lows).
    """
    m = values.shape[0]
    out = np.empty(m, np.int64)  # (n_pivots <= m,)
    k = 0
    for i in range(n, m - n):
        v = values[i]
        ok = True
        for j in range(i - n, i):
            if (values[j] >= v) if is_high else (values[j] <= v):
                ok = False
                break
        if ok:
            for j in range(i + 1, i + n + 1):
                if (values[j] > v) if is_high else (values[j] < v):
                    ok = False
                    break
        if ok:
            out[k] = i
            k += 1
    return out[:k]
