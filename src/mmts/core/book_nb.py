"""L2 order book kernels: a price-level book in flat arrays and Binance's sync rules.

Each side is a sorted array of *keys* with quantities beside them. The key is ``price`` for
bids and ``-price`` for asks, so both sides are ascending and the best level sits at the end,
where most updates land and insertion shifts the fewest elements.

State (all arrays, mutated in place)::

    keys   float64[2, capacity]   # [side (0 bids, 1 asks), level] ascending keys
    qtys   float64[2, capacity]   # quantities beside the keys
    counts int64[2]               # levels in use per side

The sync kernel replays stored depth rows (``mmts.core.schema.book_dt``) exactly as Binance
documents for a local order book: buffer diffs until a snapshot, drop those already in it, the
first applied diff must bridge the snapshot's ``lastUpdateId``, then require id continuity
(spot ``U == previous u + 1``, futures ``pu == previous u``). A break, or a book that comes out
crossed, makes the book invalid until the next snapshot.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from mmts.core.enums import FLAG_SNAPSHOT

SIDE_BID = 0
SIDE_ASK = 1

# Incident kinds.
INCIDENT_GAP = 1
INCIDENT_CROSSED = 2
#: The first diff after a snapshot does not bridge its lastUpdateId.
INCIDENT_NO_BRIDGE = 3

# Application-log markers (``log_code`` values below 0; others are row indices).
LOG_RESET = -1
LOG_INVALIDATE = -2
#: The book became valid: the first diff after a snapshot bridged its lastUpdateId.
LOG_SYNCED = -3

# Sync states.
STATE_UNSYNCED = 0
STATE_AWAITING_BRIDGE = 1
STATE_SYNCED = 2


def new_book(capacity: int = 1 << 14) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Allocate an empty book state ``(keys, qtys, counts)``."""
    keys = np.empty((2, capacity), np.float64)  # (2, capacity)
    qtys = np.empty((2, capacity), np.float64)  # (2, capacity)
    counts = np.zeros(2, np.int64)  # (2,)
    return keys, qtys, counts


@njit(cache=True, inline="always")
def book_set_level_nb(keys, qtys, counts, side, price, qty):
    """Set the level at ``price`` on ``side`` (0 bid, 1 ask) to ``qty``; 0 removes it.

    Returns False when the side is full (the caller grows the arrays and replays).
    """
    key = price if side == SIDE_BID else -price
    n = counts[side]
    k = keys[side]
    q = qtys[side]
    lo = 0
    hi = n
    while lo < hi:
        mid = (lo + hi) >> 1
        if k[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    found = lo < n and k[lo] == key
    if qty == 0.0:
        if found:
            for j in range(lo, n - 1):
                k[j] = k[j + 1]
                q[j] = q[j + 1]
            counts[side] = n - 1
        return True
    if found:
        q[lo] = qty
        return True
    if n >= k.shape[0]:
        return False
    for j in range(n, lo, -1):
        k[j] = k[j - 1]
        q[j] = q[j - 1]
    k[lo] = key
    q[lo] = qty
    counts[side] = n + 1
    return True


@njit(cache=True, inline="always")
def book_best_nb(keys, counts, side):
    """Return the best price on ``side``, or NaN when the side is empty."""
    n = counts[side]
    if n == 0:
        return np.nan
    key = keys[side, n - 1]
    return key if side == SIDE_BID else -key


@njit(cache=True, inline="always")
def book_is_crossed_nb(keys, counts):
    """Return True when both sides exist and best bid >= best ask."""
    if counts[SIDE_BID] == 0 or counts[SIDE_ASK] == 0:
        return False
    return keys[SIDE_BID, counts[SIDE_BID] - 1] >= -keys[SIDE_ASK, counts[SIDE_ASK] - 1]


@njit(cache=True, inline="always")
def _apply_rows_nb(keys, qtys, counts, side, price, qty, r0, r1):
    for r in range(r0, r1):
        if side[r] == 0:
            continue  # placeholder row of an empty message
        s = SIDE_BID if side[r] > 0 else SIDE_ASK
        if not book_set_level_nb(keys, qtys, counts, s, price[r], qty[r]):
            return False
    return True


@njit(cache=True)
def _apply_logged_nb(keys, qtys, counts, side, price, qty, r0, r1, ts, applied, effective_ts,
                     log_code, log_ts, n_log):  # fmt: skip
    """Apply rows ``r0:r1`` taking effect at ``ts``; mark and log them. Returns ``(ok, n_log)``."""
    if not _apply_rows_nb(keys, qtys, counts, side, price, qty, r0, r1):
        return False, n_log
    for r in range(r0, r1):
        applied[r] = True
        effective_ts[r] = ts
        log_code[n_log] = r
        log_ts[n_log] = ts
        n_log += 1
    return True, n_log


@njit(cache=True)
def message_bounds_nb(local_ts, first_id, last_id, flags):
    """Return the start row of every message, plus a final sentinel (``n_rows``).

    A message is a run of rows sharing ``local_ts``, ``first_id``, ``last_id`` and the
    snapshot bit.
    """
    n = local_ts.shape[0]
    starts = np.empty(n + 1, np.int64)  # (n_messages + 1,)
    m = 0
    for r in range(n):
        if (
            r == 0
            or local_ts[r] != local_ts[r - 1]
            or first_id[r] != first_id[r - 1]
            or last_id[r] != last_id[r - 1]
            or (flags[r] & FLAG_SNAPSHOT) != (flags[r - 1] & FLAG_SNAPSHOT)
        ):
            starts[m] = r
            m += 1
    starts[m] = n
    return starts[: m + 1]


@njit(cache=True)
def sync_book_nb(
    local_ts, first_id, last_id, prev_id, side, price, qty, flags, is_futures, stop_ts,
    keys, qtys, counts,
):  # fmt: skip
    """Replay stored depth rows through Binance's local-book procedure.

    Parameters
    ----------
    local_ts, first_id, last_id, prev_id, side, price, qty, flags : arrays of ``book_dt`` fields
        Rows in stored order.
    is_futures : bool
        Use futures continuity (``pu``) instead of spot (``U``).
    stop_ts : int
        Replay only messages with ``local_ts <= stop_ts``.
    keys, qtys, counts : the book state, overwritten.

    Returns
    -------
    applied : bool[n_rows]
        Whether each row was applied to the book.
    effective_ts : int64[n_rows]
        When each applied row took effect: its ``local_ts``, or the snapshot's for diffs that
        were buffered while waiting for it.
    incidents : int64[n_incidents, 6]
        ``[row, kind, expected_id, found_id, local_ts, resync_ts]``; ``resync_ts`` is -1 when no
        snapshot restored the book.
    state : int
        The sync state at the end (``STATE_SYNCED`` means the final book is valid).
    full : bool
        True when the book arrays overflowed (grow them and call again).
    log_code, log_ts : int64[n_log]
        What a consumer replays to rebuild the book in step with it: row indices in the order
        they were applied, ``LOG_RESET`` before each applied snapshot, ``LOG_SYNCED`` where the
        book became valid and ``LOG_INVALIDATE`` where it stopped being valid; ``log_ts`` is each entry's effective time, and is
        non-decreasing.
    """
    n = local_ts.shape[0]
    applied = np.zeros(n, np.bool_)
    effective_ts = np.full(n, np.iinfo(np.int64).min, np.int64)
    incidents = np.zeros((16, 6), np.int64)  # (capacity, 6), grown on demand
    n_inc = 0
    bounds = message_bounds_nb(local_ts, first_id, last_id, flags)
    n_msg = bounds.shape[0] - 1
    # The application log: row indices in the order they were applied, with RESET before each
    # snapshot and INVALIDATE where the book stopped being valid, each with its effective time.
    log_code = np.empty(n + 3 * n_msg + 1, np.int64)  # (n_log,)
    log_ts = np.empty(n + 3 * n_msg + 1, np.int64)  # (n_log,)
    n_log = 0
    counts[0] = 0
    counts[1] = 0
    state = STATE_UNSYNCED
    last_u = np.int64(-1)
    buffer_from = 0  # first message that may still be applied after the next snapshot
    open_incident = -1
    full = False  # the book arrays overflowed: the caller grows them and replays

    m = 0
    while m < n_msg:
        r0 = bounds[m]
        r1 = bounds[m + 1]
        if local_ts[r0] > stop_ts:
            break
        if flags[r0] & FLAG_SNAPSHOT:
            lid = last_id[r0]
            if state == STATE_SYNCED and lid <= last_u:
                m += 1  # older than the book we hold: keep it stored, don't apply
                continue
            counts[0] = 0
            counts[1] = 0
            log_code[n_log] = LOG_RESET
            log_ts[n_log] = local_ts[r0]
            n_log += 1
            ok, n_log = _apply_logged_nb(
                keys, qtys, counts, side, price, qty, r0, r1, local_ts[r0], applied, effective_ts,
                log_code, log_ts, n_log,
            )  # fmt: skip
            if not ok:
                full = True
                break
            state = STATE_AWAITING_BRIDGE
            last_u = lid
            snap_ts = local_ts[r0]
            # Replay the diffs buffered since the book became invalid, then carry on.
            for mm in range(buffer_from, m):
                if flags[bounds[mm]] & FLAG_SNAPSHOT:
                    continue
                q0 = bounds[mm]
                q1 = bounds[mm + 1]
                u_first = first_id[q0]
                u_last = last_id[q0]
                ok_apply = False
                if state == STATE_AWAITING_BRIDGE:
                    if (u_last < last_u) if is_futures else (u_last <= last_u):
                        continue
                    bridge = last_u if is_futures else last_u + 1
                    if u_first <= bridge <= u_last:
                        ok_apply = True
                    else:
                        break  # the buffer cannot bridge; live diffs below decide
                elif state == STATE_SYNCED:
                    if is_futures:
                        ok_apply = prev_id[q0] == last_u
                    else:
                        ok_apply = u_first <= last_u + 1 <= u_last
                    if not ok_apply:
                        break
                if ok_apply:
                    ok, n_log = _apply_logged_nb(
                        keys, qtys, counts, side, price, qty, q0, q1, snap_ts, applied,
                        effective_ts, log_code, log_ts, n_log,
                    )  # fmt: skip
                    if not ok:
                        full = True
                        break
                    last_u = u_last
                    if state != STATE_SYNCED:
                        log_code[n_log] = LOG_SYNCED
                        log_ts[n_log] = snap_ts
                        n_log += 1
                    state = STATE_SYNCED
            if full:
                break
            if state == STATE_SYNCED and open_incident >= 0:
                incidents[open_incident, 5] = snap_ts
                open_incident = -1
            buffer_from = m + 1
            m += 1
            continue

        # A diff message.
        u_first = first_id[r0]
        u_last = last_id[r0]
        if state == STATE_UNSYNCED:
            m += 1
            continue
        expected = np.int64(-1)
        found = np.int64(-1)
        kind = 0
        do_apply = False
        if state == STATE_AWAITING_BRIDGE:
            if (u_last < last_u) if is_futures else (u_last <= last_u):
                m += 1
                continue
            bridge = last_u if is_futures else last_u + 1
            if u_first <= bridge <= u_last:
                do_apply = True
            else:
                kind = INCIDENT_NO_BRIDGE
                expected = bridge
                found = u_first
        else:
            if is_futures:
                if prev_id[r0] == last_u:
                    do_apply = True
                elif u_last <= last_u:
                    m += 1
                    continue
                else:
                    kind = INCIDENT_GAP
                    expected = last_u
                    found = prev_id[r0]
            else:
                if u_last <= last_u:
                    m += 1
                    continue
                if u_first <= last_u + 1:
                    do_apply = True
                else:
                    kind = INCIDENT_GAP
                    expected = last_u + 1
                    found = u_first
        if do_apply:
            ok, n_log = _apply_logged_nb(
                keys, qtys, counts, side, price, qty, r0, r1, local_ts[r0], applied, effective_ts,
                log_code, log_ts, n_log,
            )  # fmt: skip
            if not ok:
                full = True
                break
            was_awaiting = state == STATE_AWAITING_BRIDGE
            last_u = u_last
            if was_awaiting:
                log_code[n_log] = LOG_SYNCED
                log_ts[n_log] = local_ts[r0]
                n_log += 1
            state = STATE_SYNCED
            if was_awaiting and open_incident >= 0:
                incidents[open_incident, 5] = local_ts[r0]
                open_incident = -1
            if book_is_crossed_nb(keys, counts):
                kind = INCIDENT_CROSSED
                expected = np.int64(-1)
                found = u_last
                for r in range(r0, r1):
                    applied[r] = False
                    effective_ts[r] = np.iinfo(np.int64).min
        if kind != 0:
            if n_inc == incidents.shape[0]:
                grown = np.zeros((2 * n_inc, 6), np.int64)
                grown[:n_inc] = incidents
                incidents = grown
            incidents[n_inc, 0] = r0
            incidents[n_inc, 1] = kind
            incidents[n_inc, 2] = expected
            incidents[n_inc, 3] = found
            incidents[n_inc, 4] = local_ts[r0]
            incidents[n_inc, 5] = -1
            if open_incident < 0:
                open_incident = n_inc
            n_inc += 1
            if state != STATE_UNSYNCED:
                log_code[n_log] = LOG_INVALIDATE
                log_ts[n_log] = local_ts[r0]
                n_log += 1
            state = STATE_UNSYNCED
            # The message that broke continuity may still bridge the next snapshot.
            buffer_from = m if kind != INCIDENT_CROSSED else m + 1
        m += 1
    if full:
        return applied, effective_ts, incidents[:n_inc], state, True, log_code[:0], log_ts[:0]
    return applied, effective_ts, incidents[:n_inc], state, False, log_code[:n_log], log_ts[:n_log]


@njit(cache=True)
def book_levels_nb(keys, qtys, counts, side, depth):
    """Return the best ``depth`` levels of ``side`` as ``(prices, qtys)``, best first."""
    n = counts[side]
    k = min(depth, n)
    px = np.empty(k, np.float64)  # (k,)
    qt = np.empty(k, np.float64)  # (k,)
    for j in range(k):
        key = keys[side, n - 1 - j]
        px[j] = key if side == SIDE_BID else -key
        qt[j] = qtys[side, n - 1 - j]
    return px, qt
