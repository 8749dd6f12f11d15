"""Binance's local-book procedure over stored depth rows, one message at a time, on a tick book.

The procedure, as Binance documents it for a local order book: buffer diffs until a snapshot,
drop those already in it, the first applied diff must bridge the snapshot's ``lastUpdateId``,
then require id continuity (spot ``U == previous u + 1``, futures ``pu == previous u``). A break,
or a book that comes out crossed, makes the book invalid until the next snapshot.

:func:`sync_message_nb` handles one message and is the single implementation: the batch replay
(:func:`sync_book_nb`) and the fused COB replay (``features.cob_nb``) both loop over it, so the
book they hold is the same, event for event. The book is a ``core.tickbook_nb`` tuple.

Sync status (int64 array, mutated in place; see :func:`new_sync_status`)::

    [state, last update id, first buffered message, open incident, incidents, log entries]
"""

from __future__ import annotations

import numpy as np

from mmts.core import tickbook_nb as tbk
from mmts.core.enums import FLAG_SNAPSHOT
from mmts.core.jit import njit

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

# Sync status slots.
SY_STATE = 0
SY_LAST_U = 1
#: First message that may still be applied after the next snapshot.
SY_BUFFER_FROM = 2
#: Incident waiting for the snapshot that repairs it (-1: none).
SY_OPEN_INCIDENT = 3
SY_N_INCIDENTS = 4
#: Application-log entries produced so far (counted even when the log is not kept).
SY_N_LOG = 5
SY_SIZE = 6

#: Columns of an incident row.
INCIDENT_COLUMNS = ("row", "kind", "expected_id", "found_id", "local_ts", "resync_ts")


def new_sync_status() -> np.ndarray:
    """Return the status of a book that has seen nothing yet."""
    status = np.zeros(SY_SIZE, np.int64)
    status[SY_LAST_U] = -1
    status[SY_OPEN_INCIDENT] = -1
    return status


@njit(cache=True)
def message_bounds_nb(local_ts, first_id, last_id, flags):
    """Return the start row of every message, plus a final sentinel (``n_rows``).

    A message is a run of rows sharing ``local_ts``, ``first_id``, ``last_id`` and the
    snapshot bit.
    """
    n = local_ts.shape[0]
    # Two passes: count, then fill an array of exactly that size (one of n + 1 rows, sliced,
    # would keep 8 bytes per row alive through the whole replay: 138 MB for a day of depth).
    n_msg = 0
    for r in range(n):
        if _starts_message_nb(r, local_ts, first_id, last_id, flags):
            n_msg += 1
    starts = np.empty(n_msg + 1, np.int64)  # (n_messages + 1,)
    m = 0
    for r in range(n):
        if _starts_message_nb(r, local_ts, first_id, last_id, flags):
            starts[m] = r
            m += 1
    starts[m] = n
    return starts


@njit(cache=True, inline="always")
def _starts_message_nb(r, local_ts, first_id, last_id, flags):
    return (
        r == 0
        or local_ts[r] != local_ts[r - 1]
        or first_id[r] != first_id[r - 1]
        or last_id[r] != last_id[r - 1]
        or (flags[r] & FLAG_SNAPSHOT) != (flags[r - 1] & FLAG_SNAPSHOT)
    )


@njit(cache=True, inline="always")
def _log_nb(status, log_code, log_ts, code, ts):
    n = status[SY_N_LOG]
    if log_code.shape[0] > 0:
        log_code[n] = code
        log_ts[n] = ts
    status[SY_N_LOG] = n + 1


@njit(cache=True)
def _apply_rows_nb(tb, side, price, qty, r0, r1, ts, tick, width, status, applied, effective_ts,
                   log_code, log_ts):  # fmt: skip
    """Apply rows ``r0:r1`` taking effect at ``ts``; mark and log them. Returns a tickbook code."""
    keep_rows = applied.shape[0] > 0
    for r in range(r0, r1):
        if side[r] != 0:  # 0: placeholder row of an empty message
            code = tbk.tb_set_nb(tb, 0 if side[r] > 0 else 1, price[r], qty[r], tick, width)
            if code != tbk.TB_OK:
                return code
        if keep_rows:
            applied[r] = True
            effective_ts[r] = ts
        _log_nb(status, log_code, log_ts, r, ts)
    return tbk.TB_OK


@njit(cache=True, inline="always")
def _incident_nb(status, incidents, r0, kind, expected, found, ts):
    n_inc = status[SY_N_INCIDENTS]
    incidents[n_inc, 0] = r0
    incidents[n_inc, 1] = kind
    incidents[n_inc, 2] = expected
    incidents[n_inc, 3] = found
    incidents[n_inc, 4] = ts
    incidents[n_inc, 5] = -1
    if status[SY_OPEN_INCIDENT] < 0:
        status[SY_OPEN_INCIDENT] = n_inc
    status[SY_N_INCIDENTS] = n_inc + 1


@njit(cache=True, inline="always")
def _close_incident_nb(status, incidents, ts):
    if status[SY_OPEN_INCIDENT] >= 0:
        incidents[status[SY_OPEN_INCIDENT], 5] = ts
        status[SY_OPEN_INCIDENT] = -1


@njit(cache=True)
def _snapshot_nb(m, bounds, local_ts, first_id, last_id, prev_id, side, price, qty, flags,
                 is_futures, tb, tick, width, status, applied, effective_ts, incidents, log_code,
                 log_ts):  # fmt: skip
    r0 = bounds[m]
    lid = last_id[r0]
    if status[SY_STATE] == STATE_SYNCED and lid <= status[SY_LAST_U]:
        return tbk.TB_OK  # older than the book we hold: keep it stored, don't apply
    snap_ts = local_ts[r0]
    tbk.tb_reset_nb(tb)
    _log_nb(status, log_code, log_ts, LOG_RESET, snap_ts)
    code = _apply_rows_nb(tb, side, price, qty, r0, bounds[m + 1], snap_ts, tick, width, status,
                          applied, effective_ts, log_code, log_ts)  # fmt: skip
    if code != tbk.TB_OK:
        return code
    state = STATE_AWAITING_BRIDGE
    last_u = lid
    # Replay the diffs buffered since the book became invalid, then carry on.
    for mm in range(status[SY_BUFFER_FROM], m):
        q0 = bounds[mm]
        if flags[q0] & FLAG_SNAPSHOT:
            continue
        u_first = first_id[q0]
        u_last = last_id[q0]
        if state == STATE_AWAITING_BRIDGE:
            if (u_last < last_u) if is_futures else (u_last <= last_u):
                continue
            bridge = last_u if is_futures else last_u + 1
            if not u_first <= bridge <= u_last:
                break  # the buffer cannot bridge; live diffs decide
        elif not ((prev_id[q0] == last_u) if is_futures else (u_first <= last_u + 1 <= u_last)):
            break
        code = _apply_rows_nb(tb, side, price, qty, q0, bounds[mm + 1], snap_ts, tick, width,
                              status, applied, effective_ts, log_code, log_ts)  # fmt: skip
        if code != tbk.TB_OK:
            return code
        last_u = u_last
        if state != STATE_SYNCED:
            _log_nb(status, log_code, log_ts, LOG_SYNCED, snap_ts)
        state = STATE_SYNCED
    if state == STATE_SYNCED:
        _close_incident_nb(status, incidents, snap_ts)
    status[SY_STATE] = state
    status[SY_LAST_U] = last_u
    status[SY_BUFFER_FROM] = m + 1
    return tbk.TB_OK


@njit(cache=True)
def sync_message_nb(m, bounds, local_ts, first_id, last_id, prev_id, side, price, qty, flags,
                    is_futures, tb, tick, width, status, applied, effective_ts, incidents,
                    log_code, log_ts):  # fmt: skip
    """Run message ``m`` (rows ``bounds[m]:bounds[m + 1]``) through the procedure.

    Applies what it should to the tick book ``tb``, records an incident row when continuity
    breaks or the book comes out crossed (``incidents`` needs one row per message), and appends
    to the application log: row indices as they are applied, ``LOG_RESET`` before each applied
    snapshot, ``LOG_SYNCED`` where the book becomes valid, ``LOG_INVALIDATE`` where it stops
    being valid; each entry's time is when it took effect (the snapshot's for buffered diffs).
    Pass empty ``applied``/``effective_ts``/``log_code``/``log_ts`` to skip keeping them.

    Returns a ``core.tickbook_nb`` code: ``TB_OK``, or ``TB_FULL``/``TB_OFF_GRID``.
    """
    r0 = bounds[m]
    if flags[r0] & FLAG_SNAPSHOT:
        return _snapshot_nb(m, bounds, local_ts, first_id, last_id, prev_id, side, price, qty,
                            flags, is_futures, tb, tick, width, status, applied, effective_ts,
                            incidents, log_code, log_ts)  # fmt: skip
    state = status[SY_STATE]
    if state == STATE_UNSYNCED:
        return tbk.TB_OK
    last_u = status[SY_LAST_U]
    u_first = first_id[r0]
    u_last = last_id[r0]
    ts = local_ts[r0]
    expected = np.int64(-1)
    found = np.int64(-1)
    kind = 0
    if state == STATE_AWAITING_BRIDGE:
        if (u_last < last_u) if is_futures else (u_last <= last_u):
            return tbk.TB_OK
        bridge = last_u if is_futures else last_u + 1
        if not u_first <= bridge <= u_last:
            kind, expected, found = INCIDENT_NO_BRIDGE, bridge, u_first
    elif is_futures:
        if prev_id[r0] != last_u:
            if u_last <= last_u:
                return tbk.TB_OK
            kind, expected, found = INCIDENT_GAP, last_u, prev_id[r0]
    else:
        if u_last <= last_u:
            return tbk.TB_OK
        if u_first > last_u + 1:
            kind, expected, found = INCIDENT_GAP, last_u + 1, u_first
    if kind == 0:
        code = _apply_rows_nb(tb, side, price, qty, r0, bounds[m + 1], ts, tick, width, status,
                              applied, effective_ts, log_code, log_ts)  # fmt: skip
        if code != tbk.TB_OK:
            return code
        status[SY_LAST_U] = u_last
        status[SY_STATE] = STATE_SYNCED
        if state == STATE_AWAITING_BRIDGE:
            _log_nb(status, log_code, log_ts, LOG_SYNCED, ts)
            _close_incident_nb(status, incidents, ts)
        if not tbk.tb_is_crossed_nb(tb):
            return tbk.TB_OK
        kind, found = INCIDENT_CROSSED, u_last
        if applied.shape[0] > 0:
            for r in range(r0, bounds[m + 1]):
                applied[r] = False
                effective_ts[r] = np.iinfo(np.int64).min
    _incident_nb(status, incidents, r0, kind, expected, found, ts)
    if status[SY_STATE] != STATE_UNSYNCED:
        _log_nb(status, log_code, log_ts, LOG_INVALIDATE, ts)
    status[SY_STATE] = STATE_UNSYNCED
    # The message that broke continuity may still bridge the next snapshot.
    status[SY_BUFFER_FROM] = m if kind != INCIDENT_CROSSED else m + 1
    return tbk.TB_OK


@njit(cache=True)
def sync_book_nb(local_ts, first_id, last_id, prev_id, side, price, qty, flags, is_futures,
                 stop_ts, tb, tick, width):  # fmt: skip
    """Replay stored depth rows (``mmts.core.schema.book_dt`` fields, stored order) into ``tb``.

    Only messages with ``local_ts <= stop_ts`` are replayed; ``tb`` is reset first.

    Returns
    -------
    applied : bool[n_rows]
        Whether each row was applied to the book.
    effective_ts : int64[n_rows]
        When each applied row took effect: its ``local_ts``, or the snapshot's for diffs that
        were buffered while waiting for it.
    incidents : int64[n_incidents, 6]
        ``INCIDENT_COLUMNS``; ``resync_ts`` is -1 when no snapshot restored the book.
    state : int
        The sync state at the end (``STATE_SYNCED`` means the final book is valid).
    code : int
        ``core.tickbook_nb.TB_OK``, or the error that stopped the replay (grow the overflow
        book, or use a finer tick, and call again).
    log_code, log_ts : int64[n_log]
        The application log (see :func:`sync_message_nb`); ``log_ts`` is non-decreasing.
    """
    n = local_ts.shape[0]
    applied = np.zeros(n, np.bool_)
    effective_ts = np.full(n, np.iinfo(np.int64).min, np.int64)
    bounds = message_bounds_nb(local_ts, first_id, last_id, flags)
    n_msg = bounds.shape[0] - 1
    incidents = np.zeros((n_msg, 6), np.int64)  # (n_messages, 6): at most one per message
    log_code = np.empty(n + 3 * n_msg + 1, np.int64)  # (n_log,)
    log_ts = np.empty(n + 3 * n_msg + 1, np.int64)  # (n_log,)
    status = np.zeros(SY_SIZE, np.int64)
    status[SY_LAST_U] = -1
    status[SY_OPEN_INCIDENT] = -1
    tbk.tb_reset_nb(tb)
    code = tbk.TB_OK
    for m in range(n_msg):
        if local_ts[bounds[m]] > stop_ts:
            break
        code = sync_message_nb(m, bounds, local_ts, first_id, last_id, prev_id, side, price, qty,
                               flags, is_futures, tb, tick, width, status, applied, effective_ts,
                               incidents, log_code, log_ts)  # fmt: skip
        if code != tbk.TB_OK:
            break
    n_log = status[SY_N_LOG] if code == tbk.TB_OK else 0
    n_inc = status[SY_N_INCIDENTS]
    return (applied, effective_ts, incidents[:n_inc], status[SY_STATE], code, log_code[:n_log],
            log_ts[:n_log])  # fmt: skip
