"""Operator controls: what pausing and flattening allow, thresholds checked, kept in the state."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mmts.runtime.control import ControlError, Controls, apply_control, controlled_target
from mmts.strategy.moe import MixtureOfExperts, MoeConfig


@pytest.mark.parametrize(
    ("target", "position", "allowed"),
    [
        (1.0, 0.0, 0.0),  # no new position
        (-1.0, 0.0, 0.0),
        (1.0, 0.5, 0.5),  # no larger one
        (0.2, 0.5, 0.2),  # smaller: allowed
        (0.0, 0.5, 0.0),  # closing: allowed
        (-1.0, 0.5, 0.0),  # a flip only closes
        (-0.3, -0.5, -0.3),
        (-0.8, -0.5, -0.5),
    ],
)
def test_paused_entries_keep_or_shrink_a_position_never_open_or_grow_it(
    target: float, position: float, allowed: float
) -> None:
    got, why = controlled_target(target, position, Controls(entries_paused=True))
    assert got == allowed
    assert (why == "") == (allowed == target)
    assert controlled_target(target, position, Controls()) == (target, "")


def test_commands_change_the_runtime_or_are_refused_with_nothing_changed() -> None:
    runtime = SimpleNamespace(moe=MixtureOfExperts(MoeConfig()), controls=Controls())
    assert apply_control(runtime, "thresholds", {"buy": 0.7}) == (
        "buy_threshold 0.7, sell_threshold 0.55"
    )
    with pytest.raises(ControlError, match="buy_threshold"):
        apply_control(runtime, "thresholds", {"buy": 1.5, "sell": 0.6})
    with pytest.raises(ControlError, match="thresholds"):
        apply_control(runtime, "thresholds", {"buy": "high"})
    assert runtime.moe.config.buy_threshold == 0.7 and runtime.moe.config.sell_threshold == 0.55
    apply_control(runtime, "flatten", {})
    assert controlled_target(1.0, 0.7, runtime.controls) == (
        0.0,
        "flatten: closing the position (operator)",
    )
    apply_control(runtime, "resume", {})
    assert runtime.controls == Controls()
    apply_control(runtime, "pause", {})
    assert runtime.controls.entries_paused
    with pytest.raises(ControlError, match="unknown command 'sell_everything'"):
        apply_control(runtime, "sell_everything", {})
    restored = Controls()
    restored.restore(runtime.controls.state())
    assert restored == runtime.controls
