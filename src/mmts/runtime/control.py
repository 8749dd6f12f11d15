"""Operator controls of a running runtime: thresholds, pausing new entries, flattening.

A control is applied between decisions (the caller guarantees it: a live session applies
commands on its event loop, where no decision is half-taken) and holds from the next decision
on. Each decision row records the thresholds and controls it was taken under, so the ledger and
the decisions table show from when a change held.

- ``thresholds``: the mixture's ``buy_threshold`` / ``sell_threshold`` (``MoeConfig``'s checks).
- ``pause``: no new or larger positions; reducing and closing stay allowed (risk exits work).
- ``resume``: lifts ``pause``.
- ``flatten``: close the position at the next decision, then stay paused until ``resume``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from mmts.core.settings import SettingsError

#: The commands this module applies (a session adds ``stop`` and ``promote``).
RUNTIME_COMMANDS = ("thresholds", "pause", "resume", "flatten")


@dataclass
class Controls:
    """What the operator has set on one runtime."""

    entries_paused: bool = False
    #: Close the position at the next decision (then stay paused).
    flatten: bool = False

    def state(self) -> dict[str, bool]:
        """Return the controls (JSON-safe: a live session keeps them across a restart)."""
        return {"entries_paused": self.entries_paused, "flatten": self.flatten}

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state`."""
        self.entries_paused = bool(state.get("entries_paused", False))
        self.flatten = bool(state.get("flatten", False))


class ControlError(ValueError):
    """A command that cannot be applied: its message says why (it goes back as the ack)."""


def controlled_target(target: float, position: float, controls: Controls) -> tuple[float, str]:
    """Return the position to hold given the controls, and the reason it changed ("" : none).

    Paused: a target may keep or shrink the position, never open, grow or flip it.
    """
    if controls.flatten:
        return 0.0, "flatten: closing the position (operator)"
    if not controls.entries_paused:
        return target, ""
    if position == 0.0 or target * position < 0:
        allowed = 0.0
    else:
        allowed = target if abs(target) <= abs(position) else position
    return allowed, ("" if allowed == target else "paused: no new entries (operator)")


def apply_control(runtime: Any, command: str, args: dict[str, Any]) -> str:
    """Apply one of ``RUNTIME_COMMANDS`` to ``runtime``; return what now holds.

    Raises :class:`ControlError` for an unknown command or bad arguments (nothing changes).
    """
    controls: Controls = runtime.controls
    if command == "thresholds":
        cfg = runtime.moe.config
        try:
            changed = dataclasses.replace(
                cfg,
                buy_threshold=float(args.get("buy", cfg.buy_threshold)),
                sell_threshold=float(args.get("sell", cfg.sell_threshold)),
            )
        except (SettingsError, TypeError, ValueError) as e:
            raise ControlError(f"thresholds {args}: {e}") from e
        runtime.moe.config = changed
        return f"buy_threshold {changed.buy_threshold:g}, sell_threshold {changed.sell_threshold:g}"
    if command == "pause":
        controls.entries_paused = True
        return "new entries paused"
    if command == "resume":
        controls.entries_paused = controls.flatten = False
        return "new entries allowed"
    if command == "flatten":
        controls.flatten = controls.entries_paused = True
        return "closing the position at the next decision; new entries paused"
    raise ControlError(f"unknown command {command!r}; known: {', '.join(RUNTIME_COMMANDS)}")
