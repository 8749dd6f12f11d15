"""Expert abilities: found once by protocol, and a half-offered protocol is an error."""

from __future__ import annotations

import numpy as np
import pytest

from mmts.config import FeatureConfig
from mmts.features.inputs import ModelInputLayout
from mmts.models.expert import Abilities, abilities, check_experts, dependency_order, model_slots
from mmts.models.predictors import RL_UPSTREAM
from mmts.models.registry import create_model


class Rule:
    name, model_type = "r", "rule"

    def predict(self, x):  # pragma: no cover - never called
        raise NotImplementedError


def test_the_built_in_experts_say_what_they_can_do() -> None:
    layout = ModelInputLayout(config=FeatureConfig())
    experts = {
        "rl": create_model("rl", layout=ModelInputLayout(config=FeatureConfig(), model_slots=RL_UPSTREAM),
                           state_dim=8),
        "cnn": create_model("cnn", layout=layout),
        "ma_cross": create_model("ma_cross", name="ma_cross"),
    }  # fmt: skip
    found = check_experts(experts)
    assert found["cnn"] == Abilities(batch=True, learns_from="labels")
    assert found["rl"] == Abilities(upstream=("cnn",), batch=True, resettable=True, stateful=True,
                                    walkable=True, learns_from="transitions")  # fmt: skip
    assert found["ma_cross"] == Abilities()
    assert found["rl"].keeps_state and not found["cnn"].keeps_state
    assert dependency_order(found) == ["cnn", "ma_cross", "rl"]
    assert model_slots(found) == ("cnn",)


def test_what_is_not_an_expert_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="expert 'x' \\(int\\) is not a Predictor"):
        abilities("x", 3)

    class HalfState(Rule):
        def state(self):
            return {}

    with pytest.raises(TypeError, match="expert 'h' has `state` but no `restore`"):
        abilities("h", HalfState())

    class HalfWalk(Rule):
        def scores(self, xs):
            return np.zeros(0), np.zeros(0)

    with pytest.raises(TypeError, match="has `scores` but no `walk`"):
        abilities("w", HalfWalk())

    class BadUpstream(Rule):
        upstream = "cnn"

    with pytest.raises(TypeError, match="tuple of model names"):
        abilities("u", BadUpstream())


def test_the_runtime_checks_experts_when_it_is_built() -> None:
    from mmts.models.experiment import Experiment
    from mmts.runtime.config import TradingConfig
    from mmts.runtime.setup import new_runtime

    exp = Experiment()
    with pytest.raises(TypeError, match="expert 'oops'"):
        new_runtime(exp, TradingConfig(), {"oops": object()}, start=None)
