"""The LSTM and Transformer experts: masks respected, the common output, checkpoints, registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mmts.config import FeatureConfig
from mmts.features.inputs import ModelInputLayout
from mmts.models.sequence import LstmNet, TransformerNet

LAYOUT = ModelInputLayout(config=FeatureConfig())
SHAPES = LAYOUT.shapes()


def _batch(seed: int, b: int = 3) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    out = {k: torch.randn(b, *s, generator=gen) for k, s in SHAPES.items()}
    out.update({f"mask_{k}": torch.rand(b, s[0], generator=gen) > 0.3 for k, s in SHAPES.items()})
    return out


@pytest.mark.parametrize("make", [LstmNet, TransformerNet])
def test_masked_rows_change_nothing_and_a_missing_series_still_predicts(make: type) -> None:
    torch.manual_seed(0)
    net = make(SHAPES).eval()
    batch = _batch(1)
    logits, hidden = net(batch)
    assert logits.shape == (3, 3) and hidden.shape == (3, 32)
    noisy = dict(batch)
    for name in SHAPES:  # rewrite every masked row: the output must not move
        masked = ~batch[f"mask_{name}"]
        noisy[name] = torch.where(masked.unsqueeze(-1), torch.randn_like(batch[name]) * 100,
                                  batch[name])  # fmt: skip
    torch.testing.assert_close(net(noisy)[0], logits)
    # No order book and no 1 s bars at all (history before the recorder ran): still finite.
    for name in ("cob", "imbalance", "ohlcv_1s", "ref_ohlcv_1s"):
        batch[f"mask_{name}"] = torch.zeros_like(batch[f"mask_{name}"])
    assert torch.isfinite(net(batch)[0]).all()


def test_the_newest_available_row_moves_the_output() -> None:
    """The encoders read the newest rows: a change in the last available row must tell."""
    torch.manual_seed(0)
    for make in (LstmNet, TransformerNet):
        net = make(SHAPES).eval()
        batch = _batch(2)
        batch["mask_ohlcv_1m"][:] = True
        before = net(batch)[0]
        batch["ohlcv_1m"][:, -1] += 5.0
        assert not torch.allclose(net(batch)[0], before)


def test_a_transformer_width_that_heads_do_not_divide_is_refused() -> None:
    with pytest.raises(ValueError, match="multiple of heads"):
        TransformerNet(SHAPES, width=30, heads=4)


@pytest.mark.parametrize("kind", ["lstm", "transformer"])
def test_registry_builds_it_and_a_saved_checkpoint_loads_back_equal(kind: str,
                                                                   tmp_path: Path) -> None:  # fmt: skip
    from mmts.features.inputs import ModelInput
    from mmts.models.finetune import save_model
    from mmts.models.predictors import load_checkpoint
    from mmts.models.registry import create_model, model_kind

    assert model_kind(kind).trained and model_kind(kind).train is not None
    torch.manual_seed(3)
    expert = create_model(kind, layout=LAYOUT)
    gen = np.random.default_rng(4)
    xs = [ModelInput(at=i, layout=LAYOUT,
                     blocks={n: gen.normal(size=s).astype(np.float32) for n, s in SHAPES.items()},
                     masks={n: gen.random(s[0]) > 0.2 for n, s in SHAPES.items()})
          for i in range(4)]  # fmt: skip
    outputs = expert.predict_batch(xs)
    one = expert.predict(xs[0])
    assert one.model_type == kind and outputs[0].hidden.shape == (32,)
    np.testing.assert_allclose(one.probabilities, outputs[0].probabilities, atol=1e-6)
    path = tmp_path / f"{kind}.ckpt"
    digest = save_model(expert, path)
    loaded = load_checkpoint(kind, {"id": "x", "path": str(path),
                                    "layout": LAYOUT.describe(), "layout_version": LAYOUT.version},
                             LAYOUT)  # fmt: skip
    assert loaded.model_type == kind and loaded.version == "x"
    for a, b in zip(loaded.predict_batch(xs), outputs, strict=True):
        np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-6)
    from mmts.models.predictors import state_hash

    assert state_hash(loaded.net) == digest
