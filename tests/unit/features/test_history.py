"""InputHistory (many decisions from one read) equals model_input bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from mmts.config import FeatureConfig
from mmts.data import open_store
from mmts.features import model_input
from mmts.features.history import InputHistory


@pytest.mark.parametrize(
    "at",
    [
        "2024-08-08T23:58:00Z",
        "2024-08-09T00:03:17.5Z",
        "2024-08-09T00:05:09Z",
        "2024-08-20T10:00:00Z",
    ],
)
def test_history_equals_the_batch_driver(sample_store_path, at: str) -> None:
    store = open_store(sample_store_path)
    cfg = FeatureConfig(tick={"ETH/USDT": 0.01})
    history = InputHistory(store, "2024-08-08T23:00:00Z", "2024-08-21", cfg)
    a, b = history.at(at), model_input(store, at, cfg)
    for name in b.blocks:
        assert np.array_equal(a.blocks[name], b.blocks[name], equal_nan=True), name
        assert np.array_equal(a.masks[name], b.masks[name]), name


def test_outside_the_span_is_refused(sample_store_path) -> None:
    history = InputHistory(open_store(sample_store_path), "2024-08-10", "2024-08-11")
    with pytest.raises(ValueError, match="outside"):
        history.at("2024-08-12")


def test_filling_model_slots_equals_building_with_them(sample_store_path) -> None:
    from mmts.features.inputs import with_model_outputs

    store = open_store(sample_store_path)
    cfg = FeatureConfig(tick={"ETH/USDT": 0.01})
    history = InputHistory(store, "2024-08-09T00:00Z", "2024-08-09T00:05Z", cfg, ("cnn",))
    slot = np.linspace(0, 1, 36).astype(np.float32)
    built = history.at("2024-08-09T00:03Z", {"cnn": slot})
    filled = with_model_outputs(history.at("2024-08-09T00:03Z", {}), {"cnn": slot})
    for name in built.blocks:
        assert np.array_equal(built.blocks[name], filled.blocks[name]), name
        assert np.array_equal(built.masks[name], filled.masks[name]), name
