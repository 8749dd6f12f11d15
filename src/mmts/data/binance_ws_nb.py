"""Numba kernels that parse raw Binance websocket recordings into columns.

The input is the whole decompressed file as ``uint8`` bytes, one message per line:
``<local receive timestamp> <raw JSON>``. The JSON is a combined-stream payload
``{"stream": "<sym>@<kind>", "data": {...}}`` or a REST depth snapshot
``{"lastUpdateId": .., "bids": [[p, q], ..], "asks": [..]}``. Keys are found by name, so their
order does not matter; white space between tokens is allowed.

Decimal strings are converted with Clinger's fast path: an integer mantissa below 2**53
divided by an exact power of ten is correctly rounded, hence bit-identical to Python's
``float(s)``. Anything outside that path (exponents, mantissas of 2**53 or more) is flagged
``ERR_NUMBER`` and re-read by the Python wrapper with ``json``, never approximated.
"""

from __future__ import annotations

import numpy as np

from mmts.core.jit import njit

# Message kinds (``kind`` column).
MSG_BLANK = 0
MSG_DEPTH = 1
MSG_SNAPSHOT = 2
MSG_TRADE = 3
MSG_BBO = 4
#: A recognised stream that mmts does not store (markPrice, kline, aggTrade, ...).
MSG_OTHER = 5

# Parse outcomes (``err`` column).
ERR_NONE = 0
ERR_MALFORMED = 1
ERR_NUMBER = 2
ERR_MISSING_FIELD = 3

# Market evidence bits (``hint`` column).
HINT_SPOT = 1
HINT_FUTURES = 2
HINT_COINM = 4

# Indices of the JSON keys in ``keys`` (see ``binance_ws._KEY_NAMES``).
K_stream = 0
K_data = 1
K_lastUpdateId = 2
K_bids = 3
K_asks = 4
K_E = 5
K_T = 6
K_U = 7
K_u = 8
K_pu = 9
K_b = 10
K_a = 11
K_B = 12
K_A = 13
K_t = 14
K_p = 15
K_q = 16
K_m = 17
K_ps = 18
K_X = 19
K_M = 20
K_e = 21
K_symbol = 22
N_JSON_KEYS = 23

_POW10 = np.array([10.0**i for i in range(23)])  # (23,) exact doubles
_MAX_MANTISSA = 2**53
_INT64_MAX = 2**63 - 1

_QUOTE = 34  # "
_COLON = 58
_COMMA = 44
_LBRACK = 91
_RBRACK = 93
_LBRACE = 123
_RBRACE = 125
_NEWLINE = 10
_SPACE = 32
_MINUS = 45
_DOT = 46
_AT = 64


@njit(cache=True)
def _skip_ws_nb(buf, i, end):
    while i < end and (buf[i] == _SPACE or buf[i] == 9 or buf[i] == 13):
        i += 1
    return i


@njit(cache=True)
def skip_value_nb(buf, i, end):
    """Return the index just past the JSON value starting at ``i``."""
    if i >= end:
        return end
    c = buf[i]
    if c == _QUOTE:
        i += 1
        while i < end and buf[i] != _QUOTE:
            if buf[i] == 92:  # backslash escapes the next byte
                i += 1
            i += 1
        return i + 1
    if c == _LBRACK or c == _LBRACE:
        depth = 0
        while i < end:
            c = buf[i]
            if c == _QUOTE:
                i += 1
                while i < end and buf[i] != _QUOTE:
                    if buf[i] == 92:
                        i += 1
                    i += 1
            elif c == _LBRACK or c == _LBRACE:
                depth += 1
            elif c == _RBRACK or c == _RBRACE:
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        return end
    while i < end and buf[i] != _COMMA and buf[i] != _RBRACE and buf[i] != _RBRACK:
        i += 1
    return i


#: Size of the key lookup table (a power of two).
KEY_TABLE_SIZE = 1024


@njit(cache=True)
def key_slot_nb(first, last, length):
    """Slot of a key in the lookup table, from its first and last byte and its length."""
    return (np.int64(first) * 37 + np.int64(last) * 101 + np.int64(length) * 3) & (
        KEY_TABLE_SIZE - 1
    )


@njit(cache=True)
def scan_object_nb(buf, i, end, key_bytes, key_offsets, key_table, pos, lazy_key):
    """Index the members of the JSON object at ``i`` in one pass.

    ``key_bytes[key_offsets[k]:key_offsets[k + 1]]`` spells key ``k``; ``key_table`` maps
    :func:`key_slot_nb` of a key to its index (-1 for none), so each member costs one lookup.
    Fills ``pos`` (int64[n_keys]): ``pos[k]`` is where the value of key ``k`` starts, or -1
    when the object has no such member. Returns ``(pos, ok)``; ``ok`` is False when the object
    is malformed. When key ``lazy_key`` (-1 for none) is the last member and holds an object,
    the scan stops there without walking it: ``data`` is scanned next anyway.
    """
    pos[:] = -1
    i = _skip_ws_nb(buf, i, end)
    if i >= end or buf[i] != _LBRACE:
        return pos, False
    i += 1
    while i < end:
        i = _skip_ws_nb(buf, i, end)
        if i < end and buf[i] == _RBRACE:
            return pos, True
        if i >= end or buf[i] != _QUOTE:
            return pos, False
        key_start = i + 1
        key_end = key_start
        while key_end < end and buf[key_end] != _QUOTE:
            key_end += 1
        i = _skip_ws_nb(buf, key_end + 1, end)
        if i >= end or buf[i] != _COLON:
            return pos, False
        value = _skip_ws_nb(buf, i + 1, end)
        n = key_end - key_start
        if n > 0:
            k = key_table[key_slot_nb(buf[key_start], buf[key_end - 1], n)]
            if k >= 0:
                k0 = key_offsets[k]
                if key_offsets[k + 1] - k0 == n:
                    same = True
                    for j in range(n):
                        if buf[key_start + j] != key_bytes[k0 + j]:
                            same = False
                            break
                    if same:
                        pos[k] = value
        if lazy_key >= 0 and pos[lazy_key] == value and buf[end - 1] == _RBRACE:
            # The member is an object that closes right before ours: the usual combined-stream
            # layout, where "data" comes last. Skip scanning it here; the caller scans it.
            j = end - 2
            while j > value and (buf[j] == _SPACE or buf[j] == 9 or buf[j] == 13):
                j -= 1
            if buf[value] == _LBRACE and buf[j] == _RBRACE:
                return pos, True
        i = _skip_ws_nb(buf, skip_value_nb(buf, value, end), end)
        if i < end and buf[i] == _COMMA:
            i += 1
        elif i < end and buf[i] == _RBRACE:
            return pos, True
        else:
            return pos, False
    return pos, False


@njit(cache=True)
def _number_start_nb(buf, i, end):
    """Skip an opening quote and a minus sign; return ``(quoted, negative, index)``."""
    quoted = i < end and buf[i] == _QUOTE
    if quoted:
        i += 1
    neg = i < end and buf[i] == _MINUS
    if neg:
        i += 1
    return quoted, neg, i


@njit(cache=True)
def parse_int_nb(buf, i, end):
    """Parse an optionally quoted integer at ``i``; return ``(value, next_index, ok)``."""
    quoted, neg, i = _number_start_nb(buf, i, end)
    value = np.int64(0)
    n_digits = 0
    while i < end and 48 <= buf[i] <= 57:
        digit = np.int64(buf[i]) - 48
        if value > (_INT64_MAX - digit) // 10:
            return 0, i, False  # would overflow int64
        value = value * 10 + digit
        n_digits += 1
        i += 1
    if n_digits == 0:
        return 0, i, False
    if quoted:
        if i >= end or buf[i] != _QUOTE:
            return 0, i, False
        i += 1
    return (-value if neg else value), i, True


@njit(cache=True)
def parse_decimal_nb(buf, i, end):
    """Parse an optionally quoted plain decimal at ``i``; return ``(value, next_index, err)``.

    ``err`` is ``ERR_NONE``, ``ERR_NUMBER`` (valid but outside the exact fast path) or
    ``ERR_MALFORMED``. Equivalent to ``float(s)`` on every input it accepts.
    """
    quoted, neg, i = _number_start_nb(buf, i, end)
    mantissa = np.int64(0)
    n_digits = 0
    n_frac = 0  # fractional digits folded into the mantissa
    pending_zeros = 0  # fractional zeros not yet folded (trailing ones never are)
    seen_dot = False
    significant = 0
    while i < end:
        c = np.int64(buf[i])
        if 48 <= c <= 57:
            n_digits += 1
            if seen_dot and c == 48:
                pending_zeros += 1
            else:
                if mantissa > 0 or c != 48:
                    significant += 1 + pending_zeros
                if significant > 17:
                    return np.nan, i, ERR_NUMBER
                for _ in range(pending_zeros):
                    mantissa *= 10
                if seen_dot:
                    n_frac += pending_zeros + 1
                pending_zeros = 0
                mantissa = mantissa * 10 + (c - 48)
        elif c == _DOT and not seen_dot:
            seen_dot = True
        else:
            break
        i += 1
    if n_digits == 0:
        return np.nan, i, ERR_MALFORMED
    if i < end and (buf[i] == 101 or buf[i] == 69):  # e, E
        return np.nan, i, ERR_NUMBER
    if quoted:
        if i >= end or buf[i] != _QUOTE:
            return np.nan, i, ERR_MALFORMED
        i += 1
    if mantissa == 0:
        n_frac = 0
    if mantissa >= _MAX_MANTISSA or n_frac > 22:
        return np.nan, i, ERR_NUMBER
    value = float(mantissa) / _POW10[n_frac]
    return (-value if neg else value), i, ERR_NONE


@njit(cache=True)
def parse_levels_nb(buf, i, end, side, out_side, out_px, out_qty, n_out):
    """Parse ``[[p, q], ...]`` at ``i`` into the level columns from row ``n_out``.

    Returns ``(next_index, n_out, err)``.
    """
    i = _skip_ws_nb(buf, i, end)
    if i >= end or buf[i] != _LBRACK:
        return i, n_out, ERR_MALFORMED
    i = _skip_ws_nb(buf, i + 1, end)
    if i < end and buf[i] == _RBRACK:
        return i + 1, n_out, ERR_NONE
    while i < end:
        if buf[i] != _LBRACK:
            return i, n_out, ERR_MALFORMED
        i = _skip_ws_nb(buf, i + 1, end)
        px, i, err = parse_decimal_nb(buf, i, end)
        if err != ERR_NONE:
            return i, n_out, err
        i = _skip_ws_nb(buf, i, end)
        if i >= end or buf[i] != _COMMA:
            return i, n_out, ERR_MALFORMED
        i = _skip_ws_nb(buf, i + 1, end)
        qty, i, err = parse_decimal_nb(buf, i, end)
        if err != ERR_NONE:
            return i, n_out, err
        i = _skip_ws_nb(buf, i, end)
        if i >= end or buf[i] != _RBRACK:
            return i, n_out, ERR_MALFORMED
        if n_out >= out_px.shape[0]:
            return i, n_out, ERR_MALFORMED
        out_side[n_out] = side
        out_px[n_out] = px
        out_qty[n_out] = qty
        n_out += 1
        i = _skip_ws_nb(buf, i + 1, end)
        if i < end and buf[i] == _COMMA:
            i = _skip_ws_nb(buf, i + 1, end)
        elif i < end and buf[i] == _RBRACK:
            return i + 1, n_out, ERR_NONE
        else:
            return i, n_out, ERR_MALFORMED
    return i, n_out, ERR_MALFORMED


@njit(cache=True)
def _ends_with_nb(buf, start, end, suffix):
    n = suffix.shape[0]
    if end - start < n:
        return False
    for j in range(n):
        if buf[end - n + j] != suffix[j]:
            return False
    return True


@njit(cache=True)
def _starts_with_nb(buf, start, end, prefix):
    n = prefix.shape[0]
    if end - start < n:
        return False
    for j in range(n):
        if buf[start + j] != prefix[j]:
            return False
    return True


@njit(cache=True)
def _hash_nb(buf, start, end):
    # A polynomial hash of the stream's symbol part, kept below 2**55 so it never overflows
    # (identical with and without the JIT); 0 is reserved for "no symbol".
    h = np.int64(1)
    for j in range(start, end):
        h = (h * 257 + np.int64(buf[j])) & np.int64((1 << 55) - 1)
    return h | np.int64(1 << 56)


@njit(cache=True)
def _ms_at_nb(buf, k, end):
    """Return the exchange millisecond time at value position ``k`` as ns, or -1."""
    if k < 0:
        return np.int64(-1)
    value, _, ok = parse_int_nb(buf, k, end)
    if not ok:
        return np.int64(-1)
    return np.int64(value) * 1_000_000


@njit(cache=True)
def parse_lines_nb(buf, keys, key_bytes, key_offsets, key_table, level_capacity):
    """Parse every line of a recording.

    Parameters
    ----------
    buf : uint8[n_bytes]
        The decompressed file.
    keys : tuple of uint8 arrays
        Key and suffix spellings, in the order built by ``binance_ws._KEYS``.
    key_bytes, key_offsets, key_table : uint8[n], int64[n_keys + 1], int64[KEY_TABLE_SIZE]
        The same spellings concatenated, and their lookup table, for the member scanner.
    level_capacity : int
        Rows to allocate for depth levels (an upper bound: the number of ``[`` in ``buf``).

    Returns
    -------
    tuple
        Per line (``n_lines`` rows): ``kind, err, hint, line_start, line_end, local_ts, exch_ts,
        id_a, id_b, id_c, sym_hash, sym_start, sym_end, px_a, qty_a, px_b, qty_b, side,
        lvl_start, lvl_count``; per level (``n_levels`` rows): ``lvl_side, lvl_px, lvl_qty``.
        ``id_a/id_b/id_c`` are ``U/u/pu`` (depth), ``lastUpdateId`` (snapshot, in ``id_b``),
        ``t`` (trade), ``u`` (bbo). ``local_ts`` is the raw prefix integer, unit unscaled.
    """
    s_depth = keys[N_JSON_KEYS]
    s_trade = keys[N_JSON_KEYS + 1]
    s_bbo = keys[N_JSON_KEYS + 2]
    s_perp = keys[N_JSON_KEYS + 3]
    n_bytes = buf.shape[0]
    n_lines = 0
    for j in range(n_bytes):
        if buf[j] == _NEWLINE:
            n_lines += 1
    if n_bytes > 0 and buf[n_bytes - 1] != _NEWLINE:
        n_lines += 1

    kind = np.zeros(n_lines, np.int8)
    err = np.zeros(n_lines, np.int8)
    hint = np.zeros(n_lines, np.int8)
    line_start = np.zeros(n_lines, np.int64)
    line_end = np.zeros(n_lines, np.int64)
    local_ts = np.zeros(n_lines, np.int64)
    exch_ts = np.full(n_lines, -1, np.int64)
    id_a = np.full(n_lines, -1, np.int64)
    id_b = np.full(n_lines, -1, np.int64)
    id_c = np.full(n_lines, -1, np.int64)
    sym_hash = np.zeros(n_lines, np.int64)
    sym_start = np.zeros(n_lines, np.int64)
    sym_end = np.zeros(n_lines, np.int64)
    px_a = np.full(n_lines, np.nan)
    qty_a = np.full(n_lines, np.nan)
    px_b = np.full(n_lines, np.nan)
    qty_b = np.full(n_lines, np.nan)
    side = np.zeros(n_lines, np.int8)
    lvl_start = np.zeros(n_lines, np.int64)
    lvl_count = np.zeros(n_lines, np.int64)
    lvl_side = np.zeros(level_capacity, np.int8)  # (n_levels,)
    lvl_px = np.empty(level_capacity, np.float64)
    lvl_qty = np.empty(level_capacity, np.float64)
    n_lvl = 0
    env_pos = np.empty(N_JSON_KEYS, np.int64)  # (n_keys,) member positions of the envelope
    dat_pos = np.empty(N_JSON_KEYS, np.int64)  # (n_keys,) member positions of ``data``

    pos = 0
    for row in range(n_lines):
        start = pos
        end = start
        while end < n_bytes and buf[end] != _NEWLINE:
            end += 1
        pos = end + 1
        stop = end
        while stop > start and (buf[stop - 1] == 13 or buf[stop - 1] == _SPACE):
            stop -= 1
        line_start[row] = start
        line_end[row] = stop
        lvl_start[row] = n_lvl
        if stop == start:
            kind[row] = MSG_BLANK
            continue
        ts, i, ok = parse_int_nb(buf, start, stop)
        if not ok or i >= stop or buf[i] != _SPACE:
            err[row] = ERR_MALFORMED
            continue
        local_ts[row] = ts
        i = _skip_ws_nb(buf, i, stop)
        if buf[i] != _LBRACE or buf[stop - 1] != _RBRACE:
            err[row] = ERR_MALFORMED
            continue
        obj_start = i
        env, ok = scan_object_nb(
            buf, obj_start, stop, key_bytes, key_offsets, key_table, env_pos, K_data
        )
        if not ok:
            err[row] = ERR_MALFORMED
            continue
        s = env[K_stream]
        if s < 0:
            # A REST depth snapshot.
            k = env[K_lastUpdateId]
            if k < 0:
                err[row] = ERR_MISSING_FIELD
                continue
            kind[row] = MSG_SNAPSHOT
            lid, _, ok = parse_int_nb(buf, k, stop)
            if not ok:
                err[row] = ERR_MALFORMED
                continue
            id_a[row] = lid
            id_b[row] = lid
            t = _ms_at_nb(buf, env[K_T], stop)
            exch_ts[row] = t if t >= 0 else _ms_at_nb(buf, env[K_E], stop)
            k = env[K_symbol]
            if k >= 0 and buf[k] == _QUOTE:
                e = k + 1
                while e < stop and buf[e] != _QUOTE:
                    e += 1
                sym_start[row] = k + 1
                sym_end[row] = e
                sym_hash[row] = _hash_nb(buf, k + 1, e)
                hint[row] |= HINT_FUTURES
                if _ends_with_nb(buf, k + 1, e, s_perp):
                    hint[row] |= HINT_COINM
            kb = env[K_bids]
            ka = env[K_asks]
            if kb < 0 or ka < 0:
                err[row] = ERR_MISSING_FIELD
                continue
            _, n_lvl, e1 = parse_levels_nb(buf, kb, stop, 1, lvl_side, lvl_px, lvl_qty, n_lvl)
            if e1 == ERR_NONE:
                _, n_lvl, e1 = parse_levels_nb(buf, ka, stop, -1, lvl_side, lvl_px, lvl_qty, n_lvl)
            if e1 != ERR_NONE:
                err[row] = e1
                n_lvl = lvl_start[row]
                continue
            lvl_count[row] = n_lvl - lvl_start[row]
            continue

        # A combined-stream message: locate the stream name and the data object.
        if buf[s] != _QUOTE:
            err[row] = ERR_MALFORMED
            continue
        name_start = s + 1
        name_end = name_start
        at = -1
        while name_end < stop and buf[name_end] != _QUOTE:
            if buf[name_end] == _AT and at < 0:
                at = name_end
            name_end += 1
        if at < 0 or name_end >= stop:
            err[row] = ERR_MALFORMED
            continue
        sym_start[row] = name_start
        sym_end[row] = at
        sym_hash[row] = _hash_nb(buf, name_start, at)
        d = env[K_data]
        if d < 0 or buf[d] != _LBRACE:
            err[row] = ERR_MISSING_FIELD
            continue
        data_start = d
        data_end = stop - 1  # "data" closes right before the envelope (checked by the scan)
        j = data_end - 1
        while j > d and (buf[j] == _SPACE or buf[j] == 9 or buf[j] == 13):
            j -= 1
        if buf[j] != _RBRACE:
            data_end = skip_value_nb(buf, d, stop)  # "data" is not the last member
        dat, ok = scan_object_nb(
            buf, data_start, data_end, key_bytes, key_offsets, key_table, dat_pos, -1
        )
        if not ok:
            err[row] = ERR_MALFORMED
            continue
        if _ends_with_nb(buf, name_start, at, s_perp):
            hint[row] |= HINT_COINM | HINT_FUTURES
        if dat[K_ps] >= 0:
            hint[row] |= HINT_COINM | HINT_FUTURES

        after = at + 1 + s_depth.shape[0]
        is_diff_depth = _starts_with_nb(buf, at + 1, name_end, s_depth) and (
            after == name_end or buf[after] == _AT
        )
        if is_diff_depth:
            kind[row] = MSG_DEPTH
            t = _ms_at_nb(buf, dat[K_T], data_end)
            exch_ts[row] = t if t >= 0 else _ms_at_nb(buf, dat[K_E], data_end)
            ku = dat[K_U]
            kl = dat[K_u]
            if ku < 0 or kl < 0:
                err[row] = ERR_MISSING_FIELD
                continue
            id_a[row], _, ok1 = parse_int_nb(buf, ku, data_end)
            id_b[row], _, ok2 = parse_int_nb(buf, kl, data_end)
            if not (ok1 and ok2):
                err[row] = ERR_MALFORMED
                continue
            kp = dat[K_pu]
            if kp >= 0:
                id_c[row], _, ok = parse_int_nb(buf, kp, data_end)
                if not ok:
                    err[row] = ERR_MALFORMED
                    continue
                hint[row] |= HINT_FUTURES
            else:
                hint[row] |= HINT_SPOT
            kb = dat[K_b]
            ka = dat[K_a]
            if kb < 0 or ka < 0:
                err[row] = ERR_MISSING_FIELD
                continue
            _, n_lvl, e1 = parse_levels_nb(buf, kb, data_end, 1, lvl_side, lvl_px, lvl_qty, n_lvl)
            if e1 == ERR_NONE:
                _, n_lvl, e1 = parse_levels_nb(
                    buf, ka, data_end, -1, lvl_side, lvl_px, lvl_qty, n_lvl
                )
            if e1 != ERR_NONE:
                err[row] = e1
                n_lvl = lvl_start[row]
                continue
            lvl_count[row] = n_lvl - lvl_start[row]
        elif _starts_with_nb(buf, at + 1, name_end, s_trade) and name_end - at - 1 == 5:
            kind[row] = MSG_TRADE
            exch_ts[row] = _ms_at_nb(buf, dat[K_T], data_end)
            kt = dat[K_t]
            kp = dat[K_p]
            kq = dat[K_q]
            km = dat[K_m]
            if kt < 0 or kp < 0 or kq < 0 or km < 0 or exch_ts[row] < 0:
                err[row] = ERR_MISSING_FIELD
                continue
            id_a[row], _, ok = parse_int_nb(buf, kt, data_end)
            px_a[row], _, e1 = parse_decimal_nb(buf, kp, data_end)
            qty_a[row], _, e2 = parse_decimal_nb(buf, kq, data_end)
            if not ok:
                err[row] = ERR_MALFORMED
                continue
            if e1 != ERR_NONE or e2 != ERR_NONE:
                err[row] = max(e1, e2)
                continue
            if buf[km] == 116:  # true: the buyer is the maker, so the aggressor sold
                side[row] = -1
            elif buf[km] == 102:  # false
                side[row] = 1
            else:
                err[row] = ERR_MALFORMED
                continue
            if dat[K_X] >= 0:
                hint[row] |= HINT_FUTURES
            elif dat[K_M] >= 0:
                hint[row] |= HINT_SPOT
        elif _starts_with_nb(buf, at + 1, name_end, s_bbo):
            kind[row] = MSG_BBO
            t = _ms_at_nb(buf, dat[K_T], data_end)
            exch_ts[row] = t if t >= 0 else _ms_at_nb(buf, dat[K_E], data_end)
            ku = dat[K_u]
            kb = dat[K_b]
            kB = dat[K_B]
            ka = dat[K_a]
            kA = dat[K_A]
            if ku < 0 or kb < 0 or kB < 0 or ka < 0 or kA < 0:
                err[row] = ERR_MISSING_FIELD
                continue
            id_a[row], _, ok = parse_int_nb(buf, ku, data_end)
            px_a[row], _, e1 = parse_decimal_nb(buf, kb, data_end)
            qty_a[row], _, e2 = parse_decimal_nb(buf, kB, data_end)
            px_b[row], _, e3 = parse_decimal_nb(buf, ka, data_end)
            qty_b[row], _, e4 = parse_decimal_nb(buf, kA, data_end)
            if not ok:
                err[row] = ERR_MALFORMED
                continue
            e_max = max(max(e1, e2), max(e3, e4))
            if e_max != ERR_NONE:
                err[row] = e_max
                continue
            if dat[K_e] >= 0:
                hint[row] |= HINT_FUTURES
            else:
                hint[row] |= HINT_SPOT
        else:
            kind[row] = MSG_OTHER

    return (
        kind,
        err,
        hint,
        line_start,
        line_end,
        local_ts,
        exch_ts,
        id_a,
        id_b,
        id_c,
        sym_hash,
        sym_start,
        sym_end,
        px_a,
        qty_a,
        px_b,
        qty_b,
        side,
        lvl_start,
        lvl_count,
        lvl_side[:n_lvl],
        lvl_px[:n_lvl],
        lvl_qty[:n_lvl],
    )
