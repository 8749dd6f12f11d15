"""Numba kernels that normalise raw windows into model-input blocks (see ``features.inputs``)."""

from __future__ import annotations

import math

import numpy as np

from mmts.core.jit import njit


@njit(cache=True)
def ohlcv_block_nb(opens, values, last_open, step, frames):
    """Place closed bars on the ``frames``-slot grid ending at ``last_open`` and normalise them.

    Returns ``(block float32[frames, 5], mask bool[frames], c0)``: per slot
    ``log(o/c0), log(h/c0), log(l/c0), log(c/c0), log1p(v / mean v)`` with ``c0`` the latest
    close and the mean over the bars on the grid; empty slots are zero and masked.
    """
    block = np.zeros((frames, 5), np.float32)
    mask = np.zeros(frames, np.bool_)
    n = opens.shape[0]
    first = last_open - (frames - 1) * step
    c0 = np.nan
    total_volume = 0.0
    count = 0
    for i in range(n):
        if first <= opens[i] <= last_open:
            c0 = values[i, 3]
            total_volume += values[i, 4]
            count += 1
    if count == 0:
        return block, mask, c0
    mean_volume = total_volume / count
    scale = mean_volume if mean_volume > 0 else 1.0
    for i in range(n):
        if not first <= opens[i] <= last_open:
            continue
        slot = (opens[i] - first) // step
        ok = True
        row = np.empty(5)
        for k in range(4):
            row[k] = math.log(values[i, k] / c0) if values[i, k] > 0 and c0 > 0 else np.nan
        row[4] = math.log1p(values[i, 4] / scale)
        for k in range(5):
            if not np.isfinite(row[k]):
                ok = False
        if ok:
            for k in range(5):
                block[slot, k] = row[k]
            mask[slot] = True
    return block, mask, c0


@njit(cache=True)
def cob_blocks_nb(bid, ask, imb, ma):
    """Normalise COB rows: each side's buckets as shares of the row's total; imbalance and MAs.

    ``bid``/``ask`` hold ``m = 2n + 1`` buckets at offsets ``-n..+n`` from the mid. A bid
    above the mid or an ask below it cannot exist in a valid book, so the block keeps the bids
    at ``-n..0`` and the asks at ``0..+n``: ``cob`` is ``[bids -n..0, asks 0..+n]``.

    Returns ``(cob float32[r, 2(n + 1)], cob_mask, imbalance float32[r, 1 + w], imbalance_mask)``.
    """
    rows = bid.shape[0]
    centre = bid.shape[1] // 2
    side = centre + 1
    w = ma.shape[1]
    cob = np.zeros((rows, 2 * side), np.float32)
    cob_mask = np.zeros(rows, np.bool_)
    imbalance = np.zeros((rows, 1 + w), np.float32)
    imb_mask = np.zeros(rows, np.bool_)
    for r in range(rows):
        total = 0.0
        for k in range(side):
            if np.isfinite(bid[r, k]):
                total += bid[r, k]
            if np.isfinite(ask[r, centre + k]):
                total += ask[r, centre + k]
        if total > 0 and np.isfinite(total):
            cob_mask[r] = True
            for k in range(side):
                if np.isfinite(bid[r, k]):
                    cob[r, k] = bid[r, k] / total
                if np.isfinite(ask[r, centre + k]):
                    cob[r, side + k] = ask[r, centre + k] / total
        ok = np.isfinite(imb[r])
        for k in range(w):
            ok = ok and np.isfinite(ma[r, k])
        if ok:
            imb_mask[r] = True
            imbalance[r, 0] = imb[r]
            for k in range(w):
                imbalance[r, 1 + k] = ma[r, k]
    return cob, cob_mask, imbalance, imb_mask


@njit(cache=True)
def pivot_select_nb(level, kind, time, confirmed, price, at, c0, levels):
    """Per (level, kind) row, the most recently confirmed pivot known at ``at`` as features.

    Returns ``(block float32[2 * levels, 3], mask)``: ``log(price / c0)``, ``log1p`` of the
    seconds since the pivot and since its confirmation. Ties on confirmation take the later pivot.
    """
    rows = 2 * levels
    block = np.zeros((rows, 3), np.float32)
    mask = np.zeros(rows, np.bool_)
    best = np.full(rows, -1, np.int64)
    for i in range(level.shape[0]):
        if confirmed[i] > at or level[i] > levels:
            continue
        row = 2 * (level[i] - 1) + kind[i]
        j = best[row]
        if (
            j < 0
            or confirmed[i] > confirmed[j]
            or (confirmed[i] == confirmed[j] and time[i] > time[j])
        ):
            best[row] = i
    for row in range(rows):
        j = best[row]
        if j < 0:
            continue
        block[row, 0] = math.log(price[j] / c0)
        block[row, 1] = math.log1p((at - time[j]) / 1e9)
        block[row, 2] = math.log1p((at - confirmed[j]) / 1e9)
        mask[row] = True
    return block, mask
