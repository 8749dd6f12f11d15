"""COB features from a store (batch driver) or one event at a time (step driver).

Both drivers call the same kernels in ``cob_nb`` in the same order, so the same events give
bit-identical features. The events are the book replay's application log
(``mmts.data.book_replay``): level updates in the order they took effect, plus RESET, SYNCED and
INVALIDATE markers; while the book is not valid every feature is NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmts.config import DEFAULT_BOOK_STALE_S
from mmts.core import tickbook_nb as tbk
from mmts.core.errors import DataIntegrityError
from mmts.core.ticks import book_tick, first_level_price, infer_tick
from mmts.core.timeframes import NS_PER_SECOND
from mmts.features import cob_nb

#: Imbalance samples kept by the step driver (ring buffer); enough for the 60 s window at
#: over 1,000 book updates per second.
RING_SAMPLES = 1 << 16


#: Seconds without any book event after which the book counts as stale (features NaN).
DEFAULT_STALE_S = DEFAULT_BOOK_STALE_S


def _new_status() -> np.ndarray:
    status = np.zeros(cob_nb.STATUS_SIZE, np.int64)
    status[cob_nb.STATUS_PENDING_TS] = -1
    status[cob_nb.STATUS_LAST_EVENT_TS] = -1
    return status


def _check(code: int, what: str) -> None:
    if code == tbk.TB_OFF_GRID:
        raise DataIntegrityError(f"{what}: a price is not on the tick grid; pass the market's tick")
    if code == tbk.TB_FULL:
        raise OverflowError(f"{what}: the overflow book is full")


def cob_columns(n_buckets: int, windows_s: tuple[int, ...]) -> list[str]:
    """Return the COB column names in order."""
    offsets = range(-n_buckets, n_buckets + 1)
    return [
        *(f"bid_usd_{k}" for k in offsets),
        *(f"ask_usd_{k}" for k in offsets),
        "imbalance",
        *(f"imbalance_ma_{w}s" for w in windows_s),
    ]


class CobStream:
    """The step driver: feed application-log events, read the COB row at any time.

    Parameters
    ----------
    width : bucket width in USD.
    tick : the market's price step (every price must be a multiple of it).
    n_buckets : buckets each side of the centre.
    imbalance_buckets : offsets summed for the imbalance.
    windows_s : imbalance moving-average windows in seconds.
    stale_s : seconds without any event after which the book counts as stale (NaN features).
    """

    def __init__(
        self,
        width: float,
        tick: float,
        n_buckets: int = 20,
        imbalance_buckets: int = 5,
        windows_s: tuple[int, ...] = (1, 5, 15, 60),
        *,
        stale_s: float = DEFAULT_STALE_S,
        ring: int = RING_SAMPLES,
    ) -> None:
        self.width = float(width)
        self.tick = float(tick)
        self.n = int(n_buckets)
        self.k = int(imbalance_buckets)
        self.windows_s = tuple(windows_s)
        self.windows_ns = np.array([w * NS_PER_SECOND for w in windows_s], np.int64)
        self.stale_ns = int(stale_s * NS_PER_SECOND)
        self.book: tuple[np.ndarray, ...] | None = None  # created at the first price seen
        self.status = _new_status()
        self.sample_ts = np.zeros(ring, np.int64)
        self.sample_v = np.zeros(ring, np.float64)
        self._scratch_bid = np.empty(2 * self.k + 1)
        self._scratch_ask = np.empty(2 * self.k + 1)
        self.last_ts = np.iinfo(np.int64).min
        #: Whether any book event arrived (a book is expected: until valid, it is out of sync).
        self.known = False

    @property
    def valid(self) -> bool:
        """Whether the book is valid (synced and not broken since)."""
        return bool(self.status[cob_nb.STATUS_VALID])

    def apply(
        self, code: int, ts: int, side: int = 0, price: float = 0.0, qty: float = 0.0
    ) -> None:
        """Apply one application-log entry (a level update, or a RESET/SYNCED/INVALIDATE marker)."""
        if ts < self.last_ts:
            raise ValueError(f"events must come in time order; got {ts} after {self.last_ts}")
        self.last_ts = ts
        self.known = True
        if self.book is None:
            if code < 0 or side == 0:
                return  # nothing to build a book from yet
            self.book = new_cob_book(self.tick, self.width, price, self.n)
        result = cob_nb.apply_event_nb(
            self.book, self.status, self.sample_ts, self.sample_v, code, ts, side, price, qty,
            self.tick, self.width, self.k, self._scratch_bid, self._scratch_ask,
        )  # fmt: skip
        _check(int(result), f"event at {ts}")

    def best(self) -> tuple[float, float]:
        """Return the best bid and ask (NaN while the book is not valid or a side is empty)."""
        if self.book is None or not self.valid:
            return float("nan"), float("nan")
        px, _qty, _bsum, _bcmp, _bcnt, meta, far_keys, _far_qtys, far_counts = self.book
        return (float(tbk.tb_best_nb(px, meta, far_keys, far_counts, 0)),
                float(tbk.tb_best_nb(px, meta, far_keys, far_counts, 1)))  # fmt: skip

    def levels(self, depth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(bid_px, bid_qty, ask_px, ask_qty)``, best first, ``depth`` levels a side.

        Empty while the book is not valid.
        """
        if self.book is None or not self.valid:
            empty = np.empty(0)
            return empty, empty, empty, empty
        bid_px, bid_qty = tbk.tb_levels(self.book, 0, depth)
        ask_px, ask_qty = tbk.tb_levels(self.book, 1, depth)
        return bid_px, bid_qty, ask_px, ask_qty

    def row(self, t: int) -> tuple[np.ndarray, np.ndarray, float, float, np.ndarray]:
        """Return ``(bid_usd, ask_usd, mid, imbalance, imbalance_ma)`` at time ``t``."""
        if t < self.last_ts:
            raise ValueError(f"cannot read features at {t}, before the last event {self.last_ts}")
        bid = np.full(2 * self.n + 1, np.nan)
        ask = np.full(2 * self.n + 1, np.nan)
        ma = np.full(self.windows_ns.shape[0], np.nan)
        if self.book is None:
            return bid, ask, float("nan"), float("nan"), ma
        cob_nb.flush_nb(
            self.book, self.status, self.sample_ts, self.sample_v, self.tick, self.width, self.k,
            self._scratch_bid, self._scratch_ask,
        )  # fmt: skip
        mid, imbalance = cob_nb.cob_row_nb(
            self.book, self.status, self.sample_ts, self.sample_v, t, self.tick, self.width, self.n,
            self.windows_ns, self.stale_ns, bid, ask, ma,
        )  # fmt: skip
        return bid, ask, float(mid), float(imbalance), ma


def new_cob_book(
    tick: float, width: float, first_price: float, n_buckets: int
) -> tuple[np.ndarray, ...]:
    """Allocate the tick book both drivers use, sized and centred on ``first_price``."""
    return tbk.new_tickbook(tick, width, first_price, n_buckets)


def cob_from_rows(
    rows: np.ndarray,
    row_times: np.ndarray,
    width: float,
    n_buckets: int = 20,
    imbalance_buckets: int = 5,
    windows_s: tuple[int, ...] = (1, 5, 15, 60),
    stale_s: float = DEFAULT_STALE_S,
    *,
    is_futures: bool = False,
    tick: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Replay stored depth rows; return the COB rows at ``row_times`` (the batch driver).

    ``rows`` are ``core.schema.book_dt`` in stored order; the result is
    ``(bid, ask, mid, imbalance, ma)``.

    One pass, one book: Binance's sync procedure and the features share the tick book.
    ``tick`` is the price grid (from the first snapshot when None). A step driver
    (:class:`CobStream`) fed the replay's application log with the same tick produces
    bit-identical rows.
    """
    windows_ns = np.array([w * NS_PER_SECOND for w in windows_s], np.int64)
    grid = book_tick(rows) if tick is None else float(tick)
    while True:
        book = new_cob_book(grid, float(width), first_level_price(rows), int(n_buckets))
        status = _new_status()
        sample_ts = np.zeros(RING_SAMPLES, np.int64)
        sample_v = np.zeros(RING_SAMPLES, np.float64)
        bid, ask, mid, imb, ma, code = cob_nb.cob_replay_nb(
            rows["local_ts"], rows["first_id"], rows["last_id"], rows["prev_id"], rows["side"],
            rows["price"], rows["qty"], rows["flags"], bool(is_futures),
            np.ascontiguousarray(row_times, np.int64), grid, float(width), int(n_buckets),
            int(imbalance_buckets), windows_ns, int(stale_s * NS_PER_SECOND), book, status,
            sample_ts, sample_v,
        )  # fmt: skip
        finer = infer_tick(rows["price"][rows["side"] != 0]) if code == tbk.TB_OFF_GRID else grid
        if tick is None and finer != grid:
            grid = finer  # a later price is off the first snapshot's grid
            continue
        _check(int(code), "book replay")
        if status[cob_nb.STATUS_OVERFLOW]:
            raise OverflowError("more imbalance samples inside a window than the ring holds")
        return bid, ask, mid, imb, ma


def whole_seconds(first_ns: int, last_ns: int) -> np.ndarray:
    """Whole seconds ``t`` with ``first_ns <= t <= last_ns``."""
    lo = -(-first_ns // NS_PER_SECOND) * NS_PER_SECOND
    hi = last_ns // NS_PER_SECOND * NS_PER_SECOND
    if hi < lo:
        return np.empty(0, np.int64)
    return np.arange(lo, hi + 1, NS_PER_SECOND, dtype=np.int64)


def cob_frame(
    bid: np.ndarray, ask: np.ndarray, imb: np.ndarray, ma: np.ndarray, row_times: np.ndarray,
    n_buckets: int, windows_s: tuple[int, ...],
) -> pd.DataFrame:  # fmt: skip
    """Assemble the COB DataFrame (index: whole-second UTC time)."""
    data = (
        np.column_stack([bid, ask, imb[:, None], ma])
        if len(row_times)
        else np.empty((0, 2 * (2 * n_buckets + 1) + 1 + len(windows_s)))
    )
    index = pd.DatetimeIndex(row_times.astype("datetime64[ns]"), name="time").tz_localize("UTC")
    return pd.DataFrame(data, index=index, columns=cob_columns(n_buckets, windows_s))
