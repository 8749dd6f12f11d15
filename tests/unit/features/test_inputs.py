"""The standardized model input: layout, masks, validation and no look-ahead on real data."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mmts.core.time import to_ns
from mmts.data import open_store
from mmts.data.store import Store
from mmts.features import LAYOUT_VERSION, InvalidModelInput, model_input, validate

INSIDE = "2024-08-09T00:03:00.5Z"  # inside the recorded L2 window


@pytest.fixture(scope="module")
def sample(sample_store_path: Path) -> Store:
    return open_store(sample_store_path)


def _copy_until(src: Store, dst: Store, until_ns: int, kinds: set[str] | None = None) -> None:
    """Copy every series of ``src`` up to ``until_ns`` (inclusive) into ``dst``."""
    for key in src.streams():
        if kinds is not None and key.kind not in kinds:
            continue
        records = src.read(key.exchange, key.symbol, key.kind, None, until_ns + 1)
        if records.shape[0]:
            dst.write(key.exchange, key.symbol, key.kind, records)


def test_every_block_is_present_and_available_inside_the_window(sample: Store) -> None:
    x = model_input(sample, INSIDE)
    assert x.version == LAYOUT_VERSION
    shapes = {k: v.shape for k, v in x.blocks.items()}
    assert shapes["ohlcv_1s"] == shapes["ohlcv_1d"] == shapes["ref_ohlcv_1s"] == (300, 5)
    assert shapes["cob"] == (300, 42) and shapes["imbalance"] == (300, 5)
    for name in ["ohlcv_1s", "ohlcv_1m", "ohlcv_1h", "ohlcv_1d", "ref_ohlcv_1s", "cob"]:
        assert x.masks[name].all(), name
    assert not x.masks["model_outputs"].any()  # no upstream model has produced anything yet
    # The newest closed 1 m bar is the 00:02 bar, normalised to its own close.
    assert x.blocks["ohlcv_1m"][-1, 3] == 0.0
    assert x.blocks["anchors"][1, 0] == np.float32(
        sample.bars("ETH/USDT", "1m").loc["2024-08-09 00:02"]["close"]
    )


def test_store_without_order_book_or_seconds_gives_masks_not_errors(
    sample: Store, tmp_path: Path
) -> None:
    bars_only = open_store(tmp_path)
    _copy_until(sample, bars_only, to_ns("2024-08-20") or 0, {"bars_1m", "bars_1h", "bars_1d"})
    x = model_input(bars_only, "2024-08-15T12:00:00Z")
    assert not x.masks["cob"].any() and not x.masks["imbalance"].any()
    assert not x.masks["ohlcv_1s"].any() and not x.masks["ref_ohlcv_1s"].any()
    assert x.masks["ohlcv_1m"].all() and x.masks["ohlcv_1d"].all()
    assert np.all(x.blocks["cob"] == 0)


@pytest.mark.parametrize("at", ["2024-08-09T00:01:07Z", INSIDE, "2024-08-09T00:05:30Z"])
def test_input_at_t_does_not_change_when_later_data_is_removed(
    sample: Store, tmp_path: Path, at: str
) -> None:
    at_ns = to_ns(at)
    assert at_ns is not None
    truncated = open_store(tmp_path)
    _copy_until(sample, truncated, at_ns)
    full, cut = model_input(sample, at), model_input(truncated, at)
    for name in full.blocks:
        assert np.array_equal(full.blocks[name], cut.blocks[name]), name
        assert np.array_equal(full.masks[name], cut.masks[name]), name


def test_upstream_outputs_fill_their_slot(sample: Store) -> None:
    x = model_input(sample, INSIDE, model_slots=("cnn", "rl"), model_outputs={"cnn": np.arange(36)})
    assert x.masks["model_outputs"].tolist() == [True, False]
    assert x.blocks["model_outputs"][0, 5] == 5.0


def test_validator_names_block_and_shapes(sample: Store) -> None:
    x = model_input(sample, INSIDE)
    broken = replace(x, blocks={**x.blocks, "cob": x.blocks["cob"][:, :40]})
    with pytest.raises(
        InvalidModelInput, match=r"block 'cob' has shape \(300, 40\); expected \(300, 42\)"
    ):
        validate(broken)
    missing = replace(x, blocks={k: v for k, v in x.blocks.items() if k != "pivots"})
    with pytest.raises(
        InvalidModelInput, match=r"block 'pivots' is missing \(expected shape \(10, 3\)\)"
    ):
        validate(missing)
    nan = x.blocks["ohlcv_1h"].copy()
    nan[7, 2] = np.nan
    with pytest.raises(
        InvalidModelInput, match="block 'ohlcv_1h' has a non-finite value in available row 7"
    ):
        validate(replace(x, blocks={**x.blocks, "ohlcv_1h": nan}))
    wrong_type = replace(x, blocks={**x.blocks, "anchors": x.blocks["anchors"].astype(np.float64)})
    with pytest.raises(InvalidModelInput, match="dtype float64; expected float32"):
        validate(wrong_type)


def test_a_store_of_1m_klines_gives_full_1h_frames_batch_and_step(
    sample: Store, tmp_path: Path
) -> None:
    from mmts.backtest.replay import replay_events
    from mmts.config import FeatureConfig
    from mmts.core.events import BarEvent
    from mmts.features.inputs_stream import ModelInputBuilder

    minutes = open_store(tmp_path / "m")
    _copy_until(sample, minutes, to_ns("2024-08-25") or 0, {"bars_1m"})
    at = "2024-08-20T00:00:00Z"
    derived, stored = model_input(minutes, at), model_input(sample, at)
    assert derived.masks["ohlcv_1h"].all()  # 300 whole hours, built from the minutes
    np.testing.assert_allclose(derived.blocks["ohlcv_1h"], stored.blocks["ohlcv_1h"], rtol=1e-6)
    # The step driver gets the same hours as events (replay reads bars the same way).
    cfg = FeatureConfig(tick={"ETH/USDT": 0.01})
    builder = ModelInputBuilder(cfg)
    t = to_ns(at) or 0
    for event in replay_events(minutes, cfg, t, t):
        if isinstance(event, BarEvent):
            builder.on_bar(event.symbol, event.timeframe, event.open_ns, event.ohlcv)
    step = builder.build(t, outputs={})
    np.testing.assert_array_equal(step.blocks["ohlcv_1h"], derived.blocks["ohlcv_1h"])
    np.testing.assert_array_equal(step.masks["ohlcv_1d"], derived.masks["ohlcv_1d"])


def test_the_repr_is_a_summary_not_the_arrays(sample_store_path) -> None:
    x = model_input(Store(sample_store_path), "2024-08-09T00:03:00Z")
    text = repr(x)
    assert len(text) < 1000 and "[[" not in text  # no array dumped into a notebook cell
    assert text.startswith(f"ModelInput at 2024-08-09T00:03:00Z (layout {LAYOUT_VERSION})")
    assert "cob            float32 (300, 42)   100% of rows available" in text
    assert "model_outputs  float32 (1, 36)     0% of rows available" in text
    assert repr(validate(x)) == text
