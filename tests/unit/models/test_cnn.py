"""The CNN's pieces: the mask pooling equals adaptive max pooling exactly."""

from __future__ import annotations

import pytest
import torch

from mmts.models.cnn import window_max


@pytest.mark.parametrize(
    ("length", "steps"), [(300, 38), (300, 150), (300, 300), (7, 3), (5, 5), (1, 1)]
)
def test_window_max_is_adaptive_max_pooling(length: int, steps: int) -> None:
    gen = torch.Generator().manual_seed(length * 1000 + steps)
    masks = (torch.rand(4, 3, length, generator=gen) > 0.7).float()  # [B, k, T] of 0/1
    values = torch.randn(2, 5, length, generator=gen)
    for x in (masks, values):
        assert torch.equal(window_max(x, steps), torch.nn.functional.adaptive_max_pool1d(x, steps))


def test_one_decision_through_onnx_runtime_equals_the_torch_batch(sample_store_path) -> None:
    import pickle

    import numpy as np

    from mmts.core.time import to_ns
    from mmts.data import open_store
    from mmts.features.history import InputHistory
    from mmts.models.experiment import load_experiment
    from mmts.testing.experts import untrained_experts

    exp = load_experiment(sample_store_path.parent / "experiments" / "default.toml")
    store = open_store(sample_store_path)
    t0 = to_ns("2024-08-09T00:00:00Z") or 0
    cnn = untrained_experts(exp, store, t0, seed=2)["cnn"]
    times = t0 + np.arange(0, 240, 7) * 10**9  # inside the recorded book: every block used
    history = InputHistory(store, int(times[0]), int(times[-1]), exp.features)
    xs = [history.at(int(t), {}) for t in times]
    single = [cnn.predict(x) for x in xs]  # ONNX Runtime
    batch = cnn.predict_batch(xs)  # torch
    for a, b in zip(single, batch, strict=True):
        assert a.action == b.action
        np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-5)
        np.testing.assert_allclose(a.hidden, b.hidden, atol=1e-5)
    copy = pickle.loads(pickle.dumps(cnn))  # noqa: S301 - our own object; the session stays behind
    assert copy._single is None
    np.testing.assert_allclose(copy.predict(xs[0]).probabilities, single[0].probabilities)
