"""The standardized model input: one layout every model reads, with masks and a validator.

A :class:`ModelInput` holds named float32 blocks, a boolean availability mask per block row and
the layout version. Every value is computed from data at or before the decision time ``at``:

- ``ohlcv_<tf>`` for the primary symbol and ``ref_ohlcv_1s`` for the reference symbol: the last
  ``frames`` *closed* bars (open time + length <= at), oldest first, as
  ``[log(o/c0), log(h/c0), log(l/c0), log(c/c0), log1p(volume / mean volume)]`` where ``c0``
  is the block's latest close and the mean volume is over the block's rows (both from the past).
  Missing bars (history too short, no 1 s data) are zero rows with mask False.
- ``cob``: the COB rows of the last ``frames`` seconds, bucket notionals divided by the row's
  total notional: the bids at offsets ``-n..0`` from the mid, then the asks at ``0..+n`` (a
  bid above the mid or an ask below it cannot exist in a valid book, so those buckets of the
  COB table, always empty, are not part of the input); ``imbalance``: the imbalance and its
  moving averages for the same seconds.
  Rows where the book is unknown or invalid are masked (order-book history is short).
- ``pivots``: per level and kind (high, low) the latest confirmed pivot:
  ``[log(price/c0), log1p(seconds since the pivot), log1p(seconds since confirmation)]``.
- ``model_outputs``: one slot per upstream model (``FeatureConfig``-independent: see
  ``ModelInputLayout.model_slots``), masked until that model has produced an output.
- ``anchors``: ``[c0 of each primary timeframe, c0 of the reference]`` so a model can undo the
  scaling.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from mmts.config import FeatureConfig
from mmts.core.errors import MmtsError
from mmts.core.schema import REPLAY_FIELDS
from mmts.core.stores import MarketData, require_market_data
from mmts.core.symbols import market_of
from mmts.core.time import iso, to_ns
from mmts.core.timeframes import NS_PER_SECOND, timeframe_ns
from mmts.features.cob import cob_from_rows, whole_seconds
from mmts.features.inputs_nb import cob_blocks_nb, ohlcv_block_nb, pivot_select_nb
from mmts.features.pivots import pivot_arrays

#: Bump when a block's meaning or shape changes; checkpoints record it (2.0: the ``cob`` block
#: holds each side's own half of the grid, 2 (n + 1) columns instead of 2 (2n + 1)).
LAYOUT_VERSION = "2.0"
OHLCV_FEATURES = 5
PIVOT_FEATURES = 3


class InvalidModelInput(MmtsError, ValueError):
    """A model input does not match its layout (names the block, expected and actual)."""


@dataclass(frozen=True)
class ModelInputLayout:
    """Block names, shapes and dtypes of the model input for one configuration."""

    config: FeatureConfig
    #: Names of upstream models whose latest outputs are part of the input.
    model_slots: tuple[str, ...] = ()
    #: Length of one model-output slot (class probabilities, confidence, hidden state, ...).
    slot_size: int = 36
    version: str = LAYOUT_VERSION

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Return every block's shape, in a fixed order."""
        return dict(self._shapes)

    @cached_property
    def _shapes(self) -> dict[str, tuple[int, ...]]:
        c = self.config
        n_cob = 2 * (c.n_buckets + 1)  # bids at -n..0, asks at 0..+n
        shapes: dict[str, tuple[int, ...]] = {}
        for tf in c.timeframes:
            shapes[f"ohlcv_{tf}"] = (c.frames, OHLCV_FEATURES)
        shapes["ref_ohlcv_1s"] = (c.frames, OHLCV_FEATURES)
        shapes["cob"] = (c.frames, n_cob)
        shapes["imbalance"] = (c.frames, 1 + len(c.imbalance_windows_s))
        shapes["pivots"] = (2 * c.pivot_levels, PIVOT_FEATURES)
        shapes["model_outputs"] = (max(len(self.model_slots), 1), self.slot_size)
        shapes["anchors"] = (len(c.timeframes) + 1, 1)
        return shapes

    def describe(self) -> dict[str, Any]:
        """Return a JSON-ready description (stored with checkpoints)."""
        return {
            "version": self.version,
            "blocks": {k: list(v) for k, v in self.shapes().items()},
            "dtype": "float32",
            "model_slots": list(self.model_slots),
            "primary_symbol": self.config.primary_symbol,
            "reference_symbol": self.config.reference_symbol,
            "normalisation": {
                "ohlcv": "log(price / latest close of the block); log1p(volume / block mean)",
                "cob": "bucket USD / row total USD; bids at offsets -n..0, then asks at 0..+n",
                "imbalance": "raw, in [-1, 1]",
                "pivots": "log(price / latest 1m close); log1p(seconds since pivot, confirmation)",
                "anchors": "raw latest closes (primary timeframes, then reference 1s)",
                "statistics": "computed per decision from data at or before it; nothing fitted",
            },
        }


@dataclass(repr=False)
class ModelInput:
    """One decision's input: blocks, masks (True = available) and the layout they follow."""

    at: int
    layout: ModelInputLayout
    blocks: dict[str, np.ndarray] = field(default_factory=dict)
    masks: dict[str, np.ndarray] = field(default_factory=dict)

    def __repr__(self) -> str:
        """Summarise for a notebook cell: time, layout, each block's shape and availability."""
        slots = f", model slots {list(self.layout.model_slots)}" if self.layout.model_slots else ""
        lines = [f"ModelInput at {iso(self.at)} (layout {self.layout.version}{slots})"]
        width = max((len(name) for name in self.blocks), default=0)
        for name, block in self.blocks.items():
            mask = self.masks.get(name)
            shown = (
                "no mask"
                if mask is None or not mask.size
                else f"{mask.mean():.0%} of rows available"
            )
            lines.append(f"  {name:<{width}}  {block.dtype} {tuple(block.shape)!s:<11} {shown}")
        return "\n".join(lines)

    @property
    def version(self) -> str:
        """The layout version."""
        return self.layout.version


@dataclass(frozen=True, slots=True)
class InputWindows:
    """The raw windows one input is assembled from, before any normalisation.

    ``bars[(symbol, timeframe)]`` holds ``(open times ns, [n, 5] OHLCV)`` of closed bars (older
    bars beyond the grid are ignored); ``cob_rows`` is ``(bid, ask, imbalance, ma)`` for the
    ``frames`` whole seconds ending at ``at``, NaN where no row is known. Consecutive inputs
    share all but the newest of these rows, which is what lets the inference ledger store each
    frame once (``mmts.history``).
    """

    at: int
    bars: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]
    cob_rows: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def input_hash(x: ModelInput, digests: dict[int, bytes] | None = None) -> str:
    """Return the content hash of ``x``: its time, layout version and every block and mask.

    SHA-256 over the time, the version and each block's and mask's own SHA-256 in layout
    order. ``digests`` caches those per array object while the arrays are alive (inputs that
    differ only in their model-output slots share every other block): pass one dict for the
    inputs of one decision, never across decisions.
    """
    outer = hashlib.sha256(f"{x.at}|{x.layout.version}".encode())
    for name in x.layout.shapes():
        for array in (x.blocks[name], x.masks[name]):
            key = id(array)
            digest = None if digests is None else digests.get(key)
            if digest is None:
                digest = hashlib.sha256(np.ascontiguousarray(array).view(np.uint8).data).digest()
                if digests is not None:
                    digests[key] = digest
            outer.update(name.encode())
            outer.update(digest)
    return outer.hexdigest()


def validate(x: ModelInput) -> ModelInput:
    """Check ``x`` against its layout; raise :class:`InvalidModelInput` naming what is wrong.

    Every block must be present with the layout's shape and dtype float32, with a boolean mask of
    one entry per row, and finite wherever its mask is True.
    """
    if not isinstance(x, ModelInput):
        raise InvalidModelInput(f"expected a ModelInput; got {type(x).__name__}")
    shapes = x.layout._shapes
    for name, shape in shapes.items():
        if name not in x.blocks:
            raise InvalidModelInput(f"block {name!r} is missing (expected shape {shape})")
        block = x.blocks[name]
        if block.shape != shape:
            raise InvalidModelInput(f"block {name!r} has shape {block.shape}; expected {shape}")
        if block.dtype != np.float32:
            raise InvalidModelInput(f"block {name!r} has dtype {block.dtype}; expected float32")
        mask = x.masks.get(name)
        if mask is None or mask.shape != (shape[0],) or mask.dtype != np.bool_:
            got = None if mask is None else (mask.shape, str(mask.dtype))
            raise InvalidModelInput(
                f"mask of block {name!r} must be bool with shape {(shape[0],)}; got {got}"
            )
        if np.isfinite(block).all():
            continue  # the usual case: masked rows are zeros
        finite_rows = np.isfinite(block).all(axis=1) if block.ndim == 2 else np.isfinite(block)
        bad = mask & ~finite_rows
        if bad.any():
            row = int(np.argmax(bad))
            raise InvalidModelInput(f"block {name!r} has a non-finite value in available row {row}")
    extra = sorted(set(x.blocks) - set(shapes))
    if extra:
        raise InvalidModelInput(f"unexpected block(s) {extra} for layout {x.layout.version}")
    return x


# -- assembling blocks from raw windows (shared by every driver) ---------------------------------


def ohlcv_block(
    opens: np.ndarray, bars: np.ndarray, last_open: int, step: int, frames: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """Normalise closed bars onto a time grid of ``frames`` slots ending at ``last_open``.

    Slot ``j`` holds the bar opening at ``last_open - (frames - 1 - j) * step`` (oldest first);
    a slot without a bar is zero with mask False. Returns ``(block, mask, c0)``, ``c0`` being
    the latest close (the normalisation anchor). See ``inputs_nb.ohlcv_block_nb``.
    """
    block, mask, c0 = ohlcv_block_nb(
        np.ascontiguousarray(opens, np.int64), np.ascontiguousarray(bars, np.float64),
        int(last_open), int(step), int(frames),
    )  # fmt: skip
    return block, mask, float(c0)


def cob_blocks(
    bid: np.ndarray, ask: np.ndarray, imb: np.ndarray, ma: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Normalise COB rows (one per second, oldest first) into the ``cob`` and ``imbalance`` blocks."""
    out: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] = cob_blocks_nb(
        np.ascontiguousarray(bid, np.float64), np.ascontiguousarray(ask, np.float64),
        np.ascontiguousarray(imb, np.float64), np.ascontiguousarray(ma, np.float64),
    )  # fmt: skip
    return out


def pivot_block(
    opens: np.ndarray,
    bars: np.ndarray,
    step: int,
    at: int,
    c0: float,
    levels: int,
    strength: int,
    cache: dict[tuple[int, int], tuple[np.ndarray, ...]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the latest pivot confirmed at or before ``at`` per (level, kind): ``[2 * levels, 3]``.

    Pivots are computed on the given closed bars (open times ``opens``, OHLCV ``bars``); a step
    driver passes ``cache`` so they are computed once per new bar, not once per decision.
    """
    block = np.zeros((2 * levels, PIVOT_FEATURES), np.float32)
    mask = np.zeros(2 * levels, np.bool_)
    if bars.shape[0] == 0 or not np.isfinite(c0):
        return block, mask
    key = (int(opens[0]), int(opens[-1]))
    found = cache.get(key) if cache is not None else None
    if found is None:
        found = pivot_arrays(
            opens, np.ascontiguousarray(bars[:, 1]), np.ascontiguousarray(bars[:, 2]), step,
            levels, strength,
        )  # fmt: skip
        if cache is not None:
            cache.clear()  # only the newest window is ever asked for again
            cache[key] = found
    level, kind, time, confirmed, price = found
    out: tuple[np.ndarray, np.ndarray] = pivot_select_nb(
        level, kind, time, confirmed, price, int(at), float(c0), int(levels)
    )
    return out


def _grid_bars(
    opens: np.ndarray, bars: np.ndarray, at: int, step: int, frames: int
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the closed bars that fall on the ``frames``-slot grid ending at ``at``."""
    last_open = last_closed_open(at, step)
    keep = (opens <= last_open) & (opens > last_open - frames * step)
    return opens[keep], bars[keep]


def assemble(
    layout: ModelInputLayout,
    at: int,
    bars: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]],
    cob_rows: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    model_outputs: dict[str, np.ndarray] | None = None,
    pivot_cache: dict[tuple[int, int], tuple[np.ndarray, ...]] | None = None,
) -> ModelInput:
    """Build a validated :class:`ModelInput` from raw windows (shared by every driver).

    ``bars[(symbol, timeframe)]`` holds ``(open times ns, [n, 5] OHLCV)`` of closed bars (any
    extra older bars are ignored); ``cob_rows`` is ``(bid, ask, imbalance, ma)`` for the
    ``frames`` whole seconds ending at ``at``.
    """
    cfg = layout.config
    x = ModelInput(at=at, layout=layout)
    empty = (np.empty(0, np.int64), np.empty((0, OHLCV_FEATURES)))
    anchors = []
    for name, symbol, tf in [
        *((f"ohlcv_{tf}", cfg.primary_symbol, tf) for tf in cfg.timeframes),
        ("ref_ohlcv_1s", cfg.reference_symbol, "1s"),
    ]:
        step = timeframe_ns(tf)
        opens, values = bars.get((symbol, tf), empty)
        x.blocks[name], x.masks[name], c0 = ohlcv_block(
            opens, values, last_closed_open(at, step), step, cfg.frames
        )
        anchors.append(c0)
    x.blocks["cob"], x.masks["cob"], x.blocks["imbalance"], x.masks["imbalance"] = cob_blocks(
        *cob_rows
    )
    pivot_tf = "1m" if "1m" in cfg.timeframes else cfg.timeframes[0]
    step = timeframe_ns(pivot_tf)
    opens, values = _grid_bars(
        *bars.get((cfg.primary_symbol, pivot_tf), empty), at, step, cfg.frames
    )
    x.blocks["pivots"], x.masks["pivots"] = pivot_block(
        opens, values, step, at, anchors[cfg.timeframes.index(pivot_tf)], cfg.pivot_levels,
        cfg.pivot_strength, pivot_cache,
    )  # fmt: skip
    x.blocks["model_outputs"], x.masks["model_outputs"] = model_output_block(layout, model_outputs)
    anchor_arr = np.array(anchors, np.float64)
    x.masks["anchors"] = np.isfinite(anchor_arr)
    x.blocks["anchors"] = np.where(x.masks["anchors"], anchor_arr, 0.0).astype(np.float32)[:, None]
    return validate(x)


def primary_cob_rows(
    rows: np.ndarray, times: np.ndarray, cfg: FeatureConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """COB rows ``(bid, ask, imbalance, ma)`` of the primary symbol's depth ``rows`` at ``times``."""
    bid, ask, _, imb, ma = cob_from_rows(
        rows, times, cfg.bucket_width(cfg.primary_symbol), cfg.n_buckets,
        cfg.imbalance_buckets, cfg.imbalance_windows_s, cfg.book_stale_s,
        is_futures=market_of(cfg.primary_symbol) != "spot", tick=cfg.tick_size(cfg.primary_symbol),
    )  # fmt: skip
    return bid, ask, imb, ma


def model_output_block(
    layout: ModelInputLayout, model_outputs: dict[str, np.ndarray] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Return the ``model_outputs`` block and mask: one slot per upstream model, masked if absent."""
    n_slots = max(len(layout.model_slots), 1)
    outputs = np.zeros((n_slots, layout.slot_size), np.float32)
    out_mask = np.zeros(n_slots, np.bool_)
    for i, name in enumerate(layout.model_slots):
        vector = (model_outputs or {}).get(name)
        if vector is not None:
            v = np.asarray(vector, np.float32).ravel()[: layout.slot_size]
            outputs[i, : v.shape[0]] = v
            out_mask[i] = bool(np.isfinite(v).all())
    return outputs, out_mask


def with_model_outputs(x: ModelInput, model_outputs: dict[str, np.ndarray] | None) -> ModelInput:
    """Return ``x`` with its ``model_outputs`` slots filled from ``model_outputs`` (others shared).

    Equal to building the input again with those outputs, without redoing the other blocks.
    """
    out = ModelInput(at=x.at, layout=x.layout, blocks=dict(x.blocks), masks=dict(x.masks))
    out.blocks["model_outputs"], out.masks["model_outputs"] = model_output_block(
        x.layout, model_outputs
    )
    return out


def decision_seconds(at: int, frames: int) -> np.ndarray:
    """Return the ``frames`` whole seconds ending at ``at`` (an input's COB rows), oldest first."""
    last_second = at - at % NS_PER_SECOND
    return whole_seconds(last_second - (frames - 1) * NS_PER_SECOND, last_second)


# -- the batch driver: read everything from a store ----------------------------------------------


def last_closed_open(at: int, step: int) -> int:
    """Open time of the last bar closed at ``at`` (open + step <= at)."""
    return (at - step) - (at - step) % step


def _closed_bars(
    store: MarketData, symbol: str, timeframe: str, at: int, frames: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(open times ns, [n, 5] OHLCV)`` of the last ``frames`` bars closed at ``at``."""
    step = timeframe_ns(timeframe)
    try:
        bars = store.bars(symbol, timeframe, start=at - (frames + 1) * step, end=at - step + 1)
    except KeyError:
        return np.empty(0, np.int64), np.empty((0, OHLCV_FEATURES))
    opens = pd.DatetimeIndex(bars.index).as_unit("ns").asi8
    closed = opens + step <= at
    values = bars[["open", "high", "low", "close", "volume"]].to_numpy(np.float64)[closed]
    return opens[closed][-frames:], values[-frames:]


def model_input(
    store: MarketData,
    at: object,
    config: FeatureConfig | None = None,
    *,
    model_outputs: dict[str, np.ndarray] | None = None,
    model_slots: tuple[str, ...] = (),
) -> ModelInput:
    """Build the standardized model input for decision time ``at`` from a store.

    Parameters
    ----------
    store : an ``mmts.data.Store``.
    at : decision time (ISO string, Timestamp or int ns).
    config : the feature configuration (symbols, timeframes, frames, COB and pivot settings).
    model_outputs : latest output vector per upstream model name (length ``slot_size`` or less).
    model_slots : upstream model names, in slot order.

    Returns a validated :class:`ModelInput`; masks say which rows hold data.
    """
    require_market_data(store, "mmts.features.model_input")
    cfg = config or FeatureConfig()
    at_ns = to_ns(at)
    if at_ns is None:
        raise ValueError("at must be a time, was None")
    layout = ModelInputLayout(config=cfg, model_slots=tuple(model_slots))
    bars = {}
    for symbol, tf in [
        *((cfg.primary_symbol, tf) for tf in cfg.timeframes),
        (cfg.reference_symbol, "1s"),
    ]:
        bars[(symbol, tf)] = _closed_bars(store, symbol, tf, at_ns, cfg.frames)
    times = decision_seconds(at_ns, cfg.frames)
    n_side = 2 * cfg.n_buckets + 1
    cob_rows = (
        np.full((times.shape[0], n_side), np.nan),
        np.full((times.shape[0], n_side), np.nan),
        np.full(times.shape[0], np.nan),
        np.full((times.shape[0], len(cfg.imbalance_windows_s)), np.nan),
    )
    try:
        rows = store.book_events(cfg.primary_symbol, None, at_ns + 1, fields=REPLAY_FIELDS)
    except KeyError:
        rows = None
    if rows is not None and rows.shape[0]:
        cob_rows = primary_cob_rows(rows, times, cfg)
    return assemble(layout, at_ns, bars, cob_rows, model_outputs)


def assemble_windows(layout: ModelInputLayout, windows: InputWindows,
                     model_outputs: dict[str, np.ndarray] | None = None,
                     pivot_cache: dict[tuple[int, int], tuple[np.ndarray, ...]] | None = None,
                     ) -> ModelInput:  # fmt: skip
    """Assemble the input of ``windows`` (see :func:`assemble`)."""
    return assemble(layout, windows.at, windows.bars, windows.cob_rows, model_outputs, pivot_cache)
