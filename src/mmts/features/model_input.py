"""The standardized model input: one layout every model reads, with masks and a validator.

A :class:`ModelInput` holds named float32 blocks, a boolean availability mask per block row and
the layout version. Every value is computed from data at or before the decision time ``at``:

- ``ohlcv_<tf>`` for the primary symbol and ``ref_ohlcv_1s`` for the reference symbol: the last
  ``frames`` *closed* bars (open time + length <= at), oldest first, as
  ``[log(o/c0), log(h/c0), log(l/c0), log(c/c0), log1p(volume / mean volume)]`` where ``c0``
  is the block's latest close and the mean volume is over the block's rows (both from the past).
  Missing bars (history too short, no 1 s data) are zero rows with mask False.
- ``cob``: the COB rows of the last ``frames`` seconds, bucket notionals divided by the row's
  total notional; ``imbalance``: the imbalance and its moving averages for the same seconds.
  Rows where the book is unknown or invalid are masked (order-book history is short).
- ``pivots``: per level and kind (high, low) the latest confirmed pivot:
  ``[log(price/c0), log1p(seconds since the pivot), log1p(seconds since confirmation)]``.
- ``model_outputs``: one slot per upstream model (``FeatureConfig``-independent: see
  ``ModelInputLayout.model_slots``), masked until that model has produced an output.
- ``anchors``: ``[c0 of each primary timeframe, c0 of the reference]`` so a model can undo the
  scaling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mmts.config import FeatureConfig
from mmts.core.errors import MmtsError
from mmts.core.timeframes import NS_PER_SECOND, timeframe_ns
from mmts.features.cob import cob_from_log, whole_seconds
from mmts.features.pivots import pivots as compute_pivots

#: Bump when a block's meaning or shape changes; checkpoints record it.
LAYOUT_VERSION = "1.0"
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
        c = self.config
        n_cob = 2 * (2 * c.n_buckets + 1)
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
        }


@dataclass
class ModelInput:
    """One decision's input: blocks, masks (True = available) and the layout they follow."""

    at: int
    layout: ModelInputLayout
    blocks: dict[str, np.ndarray] = field(default_factory=dict)
    masks: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def version(self) -> str:
        """The layout version."""
        return self.layout.version


def validate(x: ModelInput) -> ModelInput:
    """Check ``x`` against its layout; raise :class:`InvalidModelInput` naming what is wrong.

    Every block must be present with the layout's shape and dtype float32, with a boolean mask of
    one entry per row, and finite wherever its mask is True.
    """
    if not isinstance(x, ModelInput):
        raise InvalidModelInput(f"expected a ModelInput; got {type(x).__name__}")
    for name, shape in x.layout.shapes().items():
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
        bad = ~np.isfinite(block[mask])
        if bad.any():
            row = int(np.flatnonzero(mask)[np.argwhere(bad)[0][0]])
            raise InvalidModelInput(f"block {name!r} has a non-finite value in available row {row}")
    extra = sorted(set(x.blocks) - set(x.layout.shapes()))
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
    the latest close (the normalisation anchor).
    """
    block = np.zeros((frames, OHLCV_FEATURES), np.float32)
    mask = np.zeros(frames, np.bool_)
    slots = (opens - last_open) // step + frames - 1
    keep = (slots >= 0) & (slots < frames)
    slots, bars = slots[keep], bars[keep]
    if slots.shape[0] == 0:
        return block, mask, float("nan")
    c0 = float(bars[-1, 3])
    mean_volume = float(bars[:, 4].mean())
    scale = mean_volume if mean_volume > 0 else 1.0
    out = np.empty((slots.shape[0], OHLCV_FEATURES))
    out[:, :4] = np.log(bars[:, :4] / c0)
    out[:, 4] = np.log1p(bars[:, 4] / scale)
    ok = np.isfinite(out).all(axis=1)
    block[slots[ok]] = out[ok]
    mask[slots[ok]] = True
    return block, mask, c0


def cob_blocks(
    bid: np.ndarray, ask: np.ndarray, imb: np.ndarray, ma: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Normalise COB rows (one per second, oldest first) into the ``cob`` and ``imbalance`` blocks."""
    usd = np.concatenate([bid, ask], axis=1)
    total = np.nansum(usd, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = usd / total
    cob_mask = np.isfinite(total[:, 0]) & (total[:, 0] > 0)
    cob = np.where(np.isfinite(shares), shares, 0.0).astype(np.float32)
    cob[~cob_mask] = 0.0
    imbalance = np.column_stack([imb, ma])
    imb_mask = np.isfinite(imbalance).all(axis=1)
    imbalance = np.where(imb_mask[:, None], imbalance, 0.0).astype(np.float32)
    return cob, cob_mask, imbalance, imb_mask


def pivot_block(
    piv: pd.DataFrame, at: int, c0: float, levels: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return the latest pivot confirmed at or before ``at`` per (level, kind): ``[2 * levels, 3]``."""
    block = np.zeros((2 * levels, PIVOT_FEATURES), np.float32)
    mask = np.zeros(2 * levels, np.bool_)
    if piv.empty or not np.isfinite(c0):
        return block, mask
    known = piv[piv["confirmed_time"].dt.as_unit("ns").astype("int64") <= at]
    for (level, kind), group in known.groupby(["level", "kind"], sort=False):
        row = 2 * (int(level) - 1) + (0 if kind == "high" else 1)
        if row >= 2 * levels:
            continue
        last = group.iloc[-1]
        block[row] = [
            np.log(float(last["price"]) / c0),
            np.log1p((at - last["time"].value) / NS_PER_SECOND),
            np.log1p((at - last["confirmed_time"].value) / NS_PER_SECOND),
        ]
        mask[row] = True
    return block, mask


# -- the batch driver: read everything from a store ----------------------------------------------


def _last_closed_open(at: int, step: int) -> int:
    """Open time of the last bar closed at ``at`` (open + step <= at)."""
    return (at - step) - (at - step) % step


def _closed_bars(
    store: Any, symbol: str, timeframe: str, at: int, frames: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(open times ns, [n, 5] OHLCV)`` of the last ``frames`` bars closed at ``at``."""
    step = timeframe_ns(timeframe)
    try:
        bars = store.bars(symbol, timeframe, start=at - (frames + 1) * step, end=at - step + 1)
    except KeyError:
        return np.empty(0, np.int64), np.empty((0, OHLCV_FEATURES))
    opens = bars.index.as_unit("ns").asi8
    closed = opens + step <= at
    values = bars[["open", "high", "low", "close", "volume"]].to_numpy(np.float64)[closed]
    return opens[closed][-frames:], values[-frames:]


def model_input(
    store: Any,
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
    cfg = config or FeatureConfig()
    if isinstance(at, (int, np.integer)):
        at_ns = int(at)
    else:
        stamp = pd.Timestamp(at)  # type: ignore[arg-type]
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        at_ns = int(stamp.as_unit("ns").value)
    layout = ModelInputLayout(config=cfg, model_slots=tuple(model_slots))
    x = ModelInput(at=at_ns, layout=layout)
    anchors = []
    for tf in cfg.timeframes:
        step = timeframe_ns(tf)
        opens, raw = _closed_bars(store, cfg.primary_symbol, tf, at_ns, cfg.frames)
        x.blocks[f"ohlcv_{tf}"], x.masks[f"ohlcv_{tf}"], c0 = ohlcv_block(
            opens, raw, _last_closed_open(at_ns, step), step, cfg.frames
        )
        anchors.append(c0)
    step = timeframe_ns("1s")
    opens, raw = _closed_bars(store, cfg.reference_symbol, "1s", at_ns, cfg.frames)
    x.blocks["ref_ohlcv_1s"], x.masks["ref_ohlcv_1s"], ref_c0 = ohlcv_block(
        opens, raw, _last_closed_open(at_ns, step), step, cfg.frames
    )
    anchors.append(ref_c0)

    # COB rows for the seconds (at - frames, at], oldest first.
    last_second = at_ns - at_ns % NS_PER_SECOND
    times = whole_seconds(last_second - (cfg.frames - 1) * NS_PER_SECOND, last_second)
    n_side = 2 * cfg.n_buckets + 1
    bid = np.full((times.shape[0], n_side), np.nan)
    ask = np.full((times.shape[0], n_side), np.nan)
    imb = np.full(times.shape[0], np.nan)
    ma = np.full((times.shape[0], len(cfg.imbalance_windows_s)), np.nan)
    try:
        replay, rows = store.book_replay(cfg.primary_symbol, at_ns + 1)
    except KeyError:
        replay, rows = None, None
    if replay is not None and rows is not None and rows.shape[0]:
        bid, ask, _, imb, ma = cob_from_log(
            replay.log_code, replay.log_ts, rows, times, cfg.bucket_width(cfg.primary_symbol),
            cfg.n_buckets, cfg.imbalance_buckets, cfg.imbalance_windows_s, cfg.book_stale_s,
        )  # fmt: skip
    x.blocks["cob"], x.masks["cob"], x.blocks["imbalance"], x.masks["imbalance"] = cob_blocks(
        bid, ask, imb, ma
    )

    # Pivots from the primary timeframe with the most history below 1 d (1 m by default).
    pivot_tf = "1m" if "1m" in cfg.timeframes else cfg.timeframes[0]
    opens, raw_bars = _closed_bars(store, cfg.primary_symbol, pivot_tf, at_ns, cfg.frames)
    c0 = anchors[cfg.timeframes.index(pivot_tf)]
    piv = pd.DataFrame()
    if raw_bars.shape[0]:
        index = pd.DatetimeIndex(opens.astype("datetime64[ns]")).tz_localize("UTC")
        frame = pd.DataFrame(raw_bars[:, 1:3], index=index, columns=["high", "low"])
        piv = compute_pivots(
            frame, cfg.pivot_levels, strength=cfg.pivot_strength,
            bar_duration=pd.Timedelta(timeframe_ns(pivot_tf), unit="ns"),
        )  # fmt: skip
    x.blocks["pivots"], x.masks["pivots"] = pivot_block(piv, at_ns, c0, cfg.pivot_levels)

    n_slots = max(len(layout.model_slots), 1)
    outputs = np.zeros((n_slots, layout.slot_size), np.float32)
    out_mask = np.zeros(n_slots, np.bool_)
    for i, name in enumerate(layout.model_slots):
        vector = (model_outputs or {}).get(name)
        if vector is not None:
            v = np.asarray(vector, np.float32).ravel()[: layout.slot_size]
            outputs[i, : v.shape[0]] = v
            out_mask[i] = bool(np.isfinite(v).all())
    x.blocks["model_outputs"], x.masks["model_outputs"] = outputs, out_mask

    anchor_arr = np.array(anchors, np.float64)
    x.masks["anchors"] = np.isfinite(anchor_arr)
    x.blocks["anchors"] = np.where(x.masks["anchors"], anchor_arr, 0.0).astype(np.float32)[:, None]
    return validate(x)
