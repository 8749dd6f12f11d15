"""Non-learned experts: always available baselines inside the mixture of experts.

Both read only the standardized input, so they run wherever the models run.
"""

from __future__ import annotations

import numpy as np

from mmts.features.inputs import ModelInput
from mmts.models.output import Action, InputUnavailable, ModelOutput
from mmts.models.registry import register_model_type


def _output(
    name: str, model_type: str, x: ModelInput, action: Action, strength: float
) -> ModelOutput:
    confidence = 0.5 + 0.5 * min(max(strength, 0.0), 1.0)
    probs = np.full(3, (1.0 - confidence) / 2.0)
    probs[int(action)] = confidence
    return ModelOutput(model_name=name, model_type=model_type, model_version="rule",
                       symbol=x.layout.config.primary_symbol, at=x.at, action=action,
                       probabilities=probs, confidence=confidence)  # fmt: skip


class ImbalanceRule:
    """BUY when the latest ``window_s`` book-imbalance MA exceeds ``threshold``, SELL below -it.

    HOLD otherwise; confidence grows with the imbalance. Without a book it has no opinion
    (:class:`InputUnavailable`: it leaves the mixture instead of voting HOLD).
    """

    model_type = "rule_imbalance"

    def __init__(self, name: str = "imbalance", window_s: int = 15, threshold: float = 0.2) -> None:
        self.name, self.window_s, self.threshold = name, window_s, threshold

    def predict(self, x: ModelInput) -> ModelOutput:
        """Return the rule's output for one input."""
        windows = x.layout.config.imbalance_windows_s
        if self.window_s not in windows:
            raise ValueError(
                f"{self.name}: no {self.window_s} s imbalance MA in the input ({windows})"
            )
        mask = x.masks["imbalance"]
        if not mask.any():
            raise InputUnavailable("no order book in the input (the imbalance block is masked)")
        value = float(
            x.blocks["imbalance"][np.flatnonzero(mask)[-1], 1 + windows.index(self.window_s)]
        )
        if value > self.threshold:
            return _output(self.name, self.model_type, x, Action.BUY, value)
        if value < -self.threshold:
            return _output(self.name, self.model_type, x, Action.SELL, -value)
        return _output(
            self.name, self.model_type, x, Action.HOLD, 1.0 - abs(value) / self.threshold
        )


class MovingAverageRule:
    """BUY when the fast moving average of 1 m closes is above the slow one, SELL below."""

    model_type = "rule_ma_cross"

    def __init__(self, name: str = "ma_cross", fast: int = 20, slow: int = 100,
                 timeframe: str = "1m") -> None:  # fmt: skip
        if not 1 <= fast < slow:
            raise ValueError(f"need 1 <= fast < slow; were {fast} and {slow}")
        self.name, self.fast, self.slow, self.timeframe = name, fast, slow, timeframe

    def predict(self, x: ModelInput) -> ModelOutput:
        """Return the rule's output for one input."""
        block = x.blocks[f"ohlcv_{self.timeframe}"]
        mask = x.masks[f"ohlcv_{self.timeframe}"]
        closes = block[mask, 3].astype(np.float64)  # log(close / latest close)
        if closes.shape[0] < self.slow:
            raise InputUnavailable(
                f"{closes.shape[0]} {self.timeframe} closes in the input; the slow average needs "
                f"{self.slow}"
            )
        gap = float(closes[-self.fast :].mean() - closes[-self.slow :].mean())
        strength = min(abs(gap) / 0.002, 1.0)  # 0.2 % apart counts as certain
        return _output(
            self.name, self.model_type, x, Action.BUY if gap > 0 else Action.SELL, strength
        )


register_model_type("imbalance", ImbalanceRule)
register_model_type("ma_cross", MovingAverageRule)
