"""Numba kernels for the consolidated order book (COB) features.

Definitions (exact; the pandas oracle in the tests implements the same words):

- bucket index of a price ``p``: ``floor(p / w + 0.5)``; the centre bucket is the index of
  ``mid = (best bid + best ask) / 2``.
- ``bid_usd[k]`` (``k`` in ``-n..n``): sum of ``price * qty`` over bid levels in bucket
  ``centre + k``; ``ask_usd[k]`` likewise over asks. A bucket lying entirely beyond the deepest
  known level of its side (a lower index than the lowest bid's bucket, a higher one than the
  highest ask's) is NaN: unknown, not zero. Sums run from the best level outwards.
- imbalance: ``(sum bid_usd - sum ask_usd) / (sum bid_usd + sum ask_usd)`` over ``-k..k``,
  ignoring NaN buckets; sampled once per effective time at which the book changed while valid.
- imbalance moving average over ``W``: the mean of samples with time in ``(t - W, t]``, summed
  oldest first; NaN without samples.

State (arrays, mutated in place)::

    tb           tuple          # the book: core.tickbook_nb arrays (px, qty, bsum, ...)
    status       int64[5]       # [valid, samples written, pending time, overflow, last event]
    sample_ts    int64[ring]    # imbalance samples, a ring buffer
    sample_v     float64[ring]
"""

from __future__ import annotations

import numpy as np

from mmts.core import sync_nb
from mmts.core import tickbook_nb as tbk
from mmts.core.jit import njit

STATUS_VALID = 0
STATUS_N_SAMPLES = 1
#: Effective time of book changes not yet sampled (-1: none pending).
STATUS_PENDING_TS = 2
STATUS_OVERFLOW = 3
#: Effective time of the latest applied event (-1: none).
STATUS_LAST_EVENT_TS = 4
#: Length of the status array.
STATUS_SIZE = 5


@njit(cache=True)
def bucket_sums_nb(tb, tick, width, n, out_bid, out_ask):
    """Fill ``out_bid``/``out_ask`` (float64[2n + 1], offsets ``-n..n``); return the mid."""
    px, qty, bsum, bcmp, bcnt, meta, far_keys, _far_qtys, far_counts = tb
    return tbk.tb_bucket_sums_nb(px, qty, bsum, bcmp, bcnt, meta, far_keys, far_counts, tick, width, n,
                                 out_bid, out_ask)  # fmt: skip


@njit(cache=True)
def imbalance_nb(bid_usd, ask_usd, n, k):
    """Imbalance over offsets ``-k..k`` of bucket arrays centred at index ``n``."""
    total_bid = 0.0
    total_ask = 0.0
    for j in range(n - k, n + k + 1):
        if not np.isnan(bid_usd[j]):
            total_bid += bid_usd[j]
        if not np.isnan(ask_usd[j]):
            total_ask += ask_usd[j]
    denominator = total_bid + total_ask
    if denominator == 0.0:
        return np.nan
    return (total_bid - total_ask) / denominator


@njit(cache=True)
def _sample_nb(tb, status, sample_ts, sample_v, tick, width, k, scratch_bid, scratch_ask):
    ts = status[STATUS_PENDING_TS]
    status[STATUS_PENDING_TS] = -1
    if ts < 0 or status[STATUS_VALID] == 0:
        return
    mid = bucket_sums_nb(tb, tick, width, k, scratch_bid, scratch_ask)
    value = np.nan if np.isnan(mid) else imbalance_nb(scratch_bid, scratch_ask, k, k)
    ring = sample_ts.shape[0]
    slot = status[STATUS_N_SAMPLES] % ring
    sample_ts[slot] = ts
    sample_v[slot] = value
    status[STATUS_N_SAMPLES] += 1


@njit(cache=True)
def apply_event_nb(tb, status, sample_ts, sample_v, code, ts, side, price, qty, tick, width, k,
                   scratch_bid, scratch_ask):  # fmt: skip
    """Apply one application-log entry (see ``core.sync_nb.sync_message_nb``).

    ``code`` is ``LOG_RESET``, ``LOG_SYNCED``, ``LOG_INVALIDATE`` or a level update (any value
    >= 0) with ``side`` (+1 bid, -1 ask, 0 none), ``price`` and ``qty``. Book changes at one
    time are sampled together when an entry with a later time arrives (or on
    :func:`flush_nb`). Returns a ``core.tickbook_nb`` code (``TB_OK`` on success).
    """
    status[STATUS_LAST_EVENT_TS] = ts
    pending = status[STATUS_PENDING_TS]
    if pending >= 0 and ts > pending:
        _sample_nb(tb, status, sample_ts, sample_v, tick, width, k, scratch_bid, scratch_ask)
    if code == sync_nb.LOG_RESET:
        tbk.tb_reset_nb(tb)
        status[STATUS_VALID] = 0
        return tbk.TB_OK
    if code == sync_nb.LOG_SYNCED:
        status[STATUS_VALID] = 1
        status[STATUS_PENDING_TS] = ts
        return tbk.TB_OK
    if code == sync_nb.LOG_INVALIDATE:
        status[STATUS_VALID] = 0
        status[STATUS_PENDING_TS] = -1
        return tbk.TB_OK
    if side != 0:
        result = tbk.tb_set_nb(tb, 0 if side > 0 else 1, price, qty, tick, width)
        if result != tbk.TB_OK:
            return result
    if status[STATUS_VALID] == 1:
        status[STATUS_PENDING_TS] = ts
    return tbk.TB_OK


@njit(cache=True)
def flush_nb(tb, status, sample_ts, sample_v, tick, width, k, scratch_bid, scratch_ask):
    """Sample any pending book change (call before reading features at a time)."""
    if status[STATUS_PENDING_TS] >= 0:
        _sample_nb(tb, status, sample_ts, sample_v, tick, width, k, scratch_bid, scratch_ask)


@njit(cache=True)
def window_means_nb(status, sample_ts, sample_v, t, windows_ns, out):
    """Fill ``out[i]`` with the mean of samples in ``(t - windows_ns[i], t]``.

    Returns the latest sample at or before ``t`` (NaN if none). Samples are summed oldest first.
    """
    n_samples = status[STATUS_N_SAMPLES]
    ring = sample_ts.shape[0]
    first = max(0, n_samples - ring)
    # Newest sample at or before t.
    hi = n_samples - 1
    while hi >= first and sample_ts[hi % ring] > t:
        hi -= 1
    latest = np.nan if hi < first else sample_v[hi % ring]
    for w in range(windows_ns.shape[0]):
        lo = hi
        while lo >= first and sample_ts[lo % ring] > t - windows_ns[w]:
            lo -= 1
        if lo == first - 1 and first > 0:
            status[STATUS_OVERFLOW] = 1  # the window reaches past what the ring holds
        count = hi - lo
        if count <= 0:
            out[w] = np.nan
            continue
        total = 0.0
        for j in range(lo + 1, hi + 1):
            total += sample_v[j % ring]
        out[w] = total / count
    return latest


@njit(cache=True)
def cob_row_nb(tb, status, sample_ts, sample_v, t, tick, width, n, windows_ns, stale_ns,
               out_bid, out_ask, out_ma):  # fmt: skip
    """Write the COB row at time ``t`` (after everything <= t was applied and flushed).

    Returns ``(mid, imbalance)``; everything is NaN while the book is not valid, or stale: no
    event for more than ``stale_ns`` (the feed stopped, or the recording ended).
    """
    if status[STATUS_VALID] == 0 or t - status[STATUS_LAST_EVENT_TS] > stale_ns:
        out_bid[:] = np.nan
        out_ask[:] = np.nan
        out_ma[:] = np.nan
        return np.nan, np.nan
    mid = bucket_sums_nb(tb, tick, width, n, out_bid, out_ask)
    latest = window_means_nb(status, sample_ts, sample_v, t, windows_ns, out_ma)
    return mid, latest


@njit(cache=True)
def cob_replay_nb(local_ts, first_id, last_id, prev_id, side, price, qty, flags, is_futures,
                  row_times, tick, width, n, k, windows_ns, stale_ns, tb, status, sample_ts,
                  sample_v):  # fmt: skip
    """Replay depth rows through the sync procedure; emit a COB row at each of ``row_times``.

    The batch driver: one book, one pass; ``row_times`` sorted.

    Per message it runs ``core.sync_nb.sync_message_nb`` on ``tb`` and then does to ``status``
    exactly what :func:`apply_event_nb` does for that message's application-log entries (all
    entries of a message share its time), so it matches a step driver fed the log.

    Returns ``(bid_usd[n_rows, 2n+1], ask_usd[n_rows, 2n+1], mid[n_rows], imbalance[n_rows],
    ma[n_rows, n_windows], code)`` where ``code`` is ``core.tickbook_nb.TB_OK`` or the error.
    """
    n_rows = row_times.shape[0]
    width_b = 2 * n + 1
    out_bid = np.empty((n_rows, width_b))  # (n_rows, 2n+1)
    out_ask = np.empty((n_rows, width_b))  # (n_rows, 2n+1)
    out_mid = np.empty(n_rows)
    out_imb = np.empty(n_rows)
    out_ma = np.empty((n_rows, windows_ns.shape[0]))  # (n_rows, n_windows)
    scratch_bid = np.empty(2 * k + 1)
    scratch_ask = np.empty(2 * k + 1)
    bounds = sync_nb.message_bounds_nb(local_ts, first_id, last_id, flags)
    n_msg = bounds.shape[0] - 1
    incidents = np.zeros((n_msg, 6), np.int64)  # (n_messages, 6)
    no_rows = np.empty(0, np.bool_)
    no_ts = np.empty(0, np.int64)
    sync = np.zeros(sync_nb.SY_SIZE, np.int64)
    sync[sync_nb.SY_LAST_U] = -1
    sync[sync_nb.SY_OPEN_INCIDENT] = -1
    r = 0
    for m in range(n_msg + 1):
        ts = local_ts[bounds[m]] if m < n_msg else np.iinfo(np.int64).max
        while r < n_rows and row_times[r] < ts:
            flush_nb(tb, status, sample_ts, sample_v, tick, width, k, scratch_bid, scratch_ask)
            mid, latest = cob_row_nb(
                tb, status, sample_ts, sample_v, row_times[r], tick, width, n, windows_ns,
                stale_ns, out_bid[r], out_ask[r], out_ma[r],
            )  # fmt: skip
            out_mid[r] = mid
            out_imb[r] = latest
            r += 1
        if m == n_msg:
            break
        pending = status[STATUS_PENDING_TS]
        if pending >= 0 and ts > pending:
            _sample_nb(tb, status, sample_ts, sample_v, tick, width, k, scratch_bid, scratch_ask)
        logged = sync[sync_nb.SY_N_LOG]
        code = sync_nb.sync_message_nb(
            m, bounds, local_ts, first_id, last_id, prev_id, side, price, qty, flags, is_futures,
            tb, tick, width, sync, no_rows, no_ts, incidents, no_ts, no_ts,
        )  # fmt: skip
        if code != tbk.TB_OK:
            return out_bid, out_ask, out_mid, out_imb, out_ma, code
        if sync[sync_nb.SY_N_LOG] != logged:
            status[STATUS_LAST_EVENT_TS] = ts
            if sync[sync_nb.SY_STATE] == sync_nb.STATE_SYNCED:
                status[STATUS_VALID] = 1
                status[STATUS_PENDING_TS] = ts
            else:
                status[STATUS_VALID] = 0
                status[STATUS_PENDING_TS] = -1
    return out_bid, out_ask, out_mid, out_imb, out_ma, tbk.TB_OK
