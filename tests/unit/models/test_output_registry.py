"""One model output for every model, and plugging a new model type in."""

from __future__ import annotations

import numpy as np
import pytest

from mmts.config import FeatureConfig
from mmts.features.inputs import ModelInput, ModelInputLayout
from mmts.models.output import Action, ModelOutput
from mmts.models.registry import (
    create_model,
    model_types,
    register_model_type,
    unregister_model_type,
)


def _output(**kw) -> ModelOutput:
    base = {"model_name": "m", "model_type": "rule", "model_version": "1", "symbol": "ETH/USDT", "at": 0,
                "action": Action.BUY, "probabilities": np.array([0.1, 0.2, 0.7]), "confidence": 0.7,
                "hidden": np.arange(3, dtype=np.float32)}  # fmt: skip
    base.update(kw)
    return ModelOutput(**base)


def test_slot_vector_and_json() -> None:
    out = _output()
    np.testing.assert_allclose(out.to_slot(6), [0.1, 0.2, 0.7, 0.7, 0.0, 1.0])
    assert out.to_slot(2).shape == (2,)
    assert out.to_dict()["action"] == "BUY" and Action.SELL.position == -1


def test_bad_probabilities_are_refused() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        _output(probabilities=np.array([0.5, 0.5, 0.5]))
    with pytest.raises(ValueError, match="confidence"):
        _output(confidence=1.5)


class AlwaysHold:
    """A rule model: the smallest thing that plugs in."""

    model_type = "always_hold"

    def __init__(self, name: str = "hold") -> None:
        self.name = name

    def predict(self, x: ModelInput) -> ModelOutput:
        return _output(model_name=self.name, model_type=self.model_type, at=x.at,
                       action=Action.HOLD, probabilities=np.array([0.0, 1.0, 0.0]), confidence=1.0)  # fmt: skip


@pytest.fixture
def always_hold():
    """AlwaysHold registered for one test only (the registry is global: config choices read it)."""
    register_model_type("always_hold", AlwaysHold)
    yield
    unregister_model_type("always_hold")
    assert "always_hold" not in model_types()


def test_a_new_model_type_plugs_in(always_hold) -> None:
    assert {"always_hold", "cnn"} <= set(model_types())
    model = create_model("always_hold", name="h")
    x = ModelInput(at=5, layout=ModelInputLayout(config=FeatureConfig()))
    assert model.predict(x).action is Action.HOLD
    with pytest.raises(KeyError, match="unknown model type"):
        create_model("nope")
    with pytest.raises(ValueError, match="already registered"):
        register_model_type("always_hold", lambda: None)  # type: ignore[arg-type,return-value]


def test_single_decision_path_matches_the_batched_one(sample_store_path) -> None:
    from mmts.data import open_store
    from mmts.features.history import InputHistory
    from mmts.models.cnn import CnnNet
    from mmts.models.predictors import CnnPredictor

    cfg = FeatureConfig(tick={"ETH/USDT": 0.01})
    history = InputHistory(
        open_store(sample_store_path), "2024-08-08T23:58Z", "2024-08-09T00:05Z", cfg
    )
    layout = ModelInputLayout(config=cfg)
    cnn = CnnPredictor(CnnNet(layout.shapes(), 8, 16, 0.0), layout)
    xs = [history.at(t) for t in ("2024-08-08T23:58Z", "2024-08-09T00:03Z", "2024-08-09T00:05Z")]
    batched = cnn.predict_batch(xs)
    for x, b in zip(xs, batched, strict=True):
        one = cnn.predict(x)  # traced network
        np.testing.assert_allclose(one.probabilities, b.probabilities, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(one.hidden, b.hidden, rtol=1e-4, atol=1e-5)


def test_a_registered_type_is_an_expert_an_experiment_can_name(always_hold) -> None:
    from mmts.models.experiment import Experiment
    from mmts.runtime.config import trading_from_dict
    from mmts.runtime.setup import build_experts

    trading = trading_from_dict({"backtest": {"experts": ["always_hold", "ma_cross"]}})
    experts, versions = build_experts(Experiment(), trading)
    assert isinstance(experts["always_hold"], AlwaysHold)
    assert experts["always_hold"].name == "always_hold"
    assert type(experts["ma_cross"]).__name__ == "MovingAverageRule"
    assert versions == {"always_hold": "rule", "ma_cross": "rule"}


def test_the_rule_and_network_kinds_are_registered_once() -> None:
    from mmts.models.registry import model_kind

    assert {"cnn", "rl", "ma_cross", "imbalance"} <= set(model_types())
    assert model_kind("cnn").trained and model_kind("rl").trained
    assert not model_kind("ma_cross").trained and not model_kind("imbalance").trained
