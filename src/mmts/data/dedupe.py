"""One definition of a duplicate row per kind, and merging without them.

Bars are keyed by open time (the newer row wins), trades by trade id where the source gives
one, everything else by the whole row: importing the same data twice stores it once.

Two sources of the same bar that disagree are a *conflict* (:func:`bar_conflicts`): where a
caller asks for it (the importer does), the stored bar is kept and the conflict is reported,
never silently merged. A bar's values agree when each price and the volume are equal within
``BAR_RTOL`` (files write the same float with different digits); the trade count, which some
formats do not carry, is not compared.
"""

from __future__ import annotations

import numpy as np

from mmts.core.schema import NO_ID
from mmts.data.layout import time_field


def key_fields(kind: str, records: np.ndarray) -> list[str] | None:
    """Return the fields that identify a row of ``kind`` (``None``: the whole row)."""
    if kind.startswith("bars_"):
        return ["ts"]
    if kind == "trades" and records.shape[0] and bool(np.all(records["trade_id"] != NO_ID)):
        return ["trade_id"]
    return None  # the whole row


def merge_unique(kind: str, old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Merge ``new`` into ``old`` (already unique), dropping duplicates by the kind's key."""
    new = unique_rows(kind, new)
    if old.shape[0] == 0 or new.shape[0] == 0:
        return new if old.shape[0] == 0 else old
    if key_fields(kind, new) != ["trade_id"]:
        # Rows of kinds keyed by time (or by the whole row, which includes the time) cannot
        # collide across disjoint time ranges: appending needs no search.
        field = time_field(kind)
        if new[field].min() > old[field].max() or new[field].max() < old[field].min():
            return np.concatenate([old, new])
    return unique_rows(kind, np.concatenate([old, new]))


def unique_rows(kind: str, records: np.ndarray) -> np.ndarray:
    """Drop duplicates, keeping the first occurrence (the last for bars, whose newer row wins)."""
    if records.shape[0] <= 1:
        return records
    fields = key_fields(kind, records)
    if fields is not None:
        values = records[fields[0]]
        if bool(np.all(values[1:] > values[:-1])):
            return records  # strictly increasing keys: nothing to drop
        if kind.startswith("bars_"):
            _, idx = np.unique(values[::-1], return_index=True)
            idx = records.shape[0] - 1 - idx
        else:
            _, idx = np.unique(values, return_index=True)
        if idx.shape[0] == records.shape[0]:
            return records
        return records[np.sort(idx)]
    # Whole-row identity. Distinct row hashes prove there is no duplicate (the common case);
    # otherwise compare the raw bytes of every row.
    hashes = np.sort(row_hash(records))
    if not bool(np.any(hashes[1:] == hashes[:-1])):
        return records
    raw = np.ascontiguousarray(records).view(np.dtype((np.void, records.dtype.itemsize)))
    _, idx = np.unique(raw, return_index=True)
    return records[np.sort(idx)]


def row_hash(records: np.ndarray) -> np.ndarray:
    """Return a 64-bit hash of every row's bytes, field by field (equal rows, equal hashes)."""
    h = np.zeros(records.shape[0], np.uint64)
    prime = np.uint64(0x100000001B3)
    for name in records.dtype.names or ():
        column = records[name]
        if column.dtype.itemsize == 8:
            bits = column.view(np.uint64)
        else:
            bits = column.astype(np.int64).view(np.uint64)
        h = (h ^ bits) * prime
        h ^= h >> np.uint64(29)
    return h


def records_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Return whether two record arrays hold the same rows in the same order (NaN equals NaN)."""
    if a.shape != b.shape:
        return False
    return all(np.array_equal(a[n], b[n], equal_nan=True) for n in a.dtype.names or ())


#: Relative tolerance within which two sources' bar values are the same number.
BAR_RTOL = 1e-9
BAR_VALUES = ("open", "high", "low", "close", "volume")


def bar_conflicts(old: np.ndarray, new: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return, for bars ``new`` against stored bars ``old``, which new rows disagree and with what.

    ``(mask over new, index into old)``: ``mask[i]`` is true where ``new[i]`` has the open time
    of a stored bar but other values; the stored bar is ``old[index[k]]`` for the k-th of them.
    """
    if old.shape[0] == 0 or new.shape[0] == 0:
        return np.zeros(new.shape[0], bool), np.zeros(0, np.int64)
    order = np.argsort(old["ts"], kind="stable")
    at = np.searchsorted(old["ts"], new["ts"], sorter=order)
    at = np.minimum(at, old.shape[0] - 1)
    match = order[at]
    same_time = old["ts"][match] == new["ts"]
    differ = np.zeros(new.shape[0], bool)
    for name in BAR_VALUES:
        a, b = old[name][match], new[name]
        differ |= ~(np.isclose(a, b, rtol=BAR_RTOL, atol=0.0) | (np.isnan(a) & np.isnan(b)))
    mask = same_time & differ
    return mask, match[mask]
