"""Checkpoints per model: keep the best K with their metadata, promote, roll back, load.

Layout on disk (``[checkpoints] dir`` of the experiment)::

    <dir>/<model name>/index.json     # entries, the promoted id, promotion history
    <dir>/<model name>/<run>/...      # checkpoint files written by training

Each entry records its metric, every logged metric, the data ranges, the experiment, seed, git
commit, the input layout (version and block shapes) and a hash of the weights. A checkpoint
whose layout differs from the one a caller expects is refused with :class:`IncompatibleCheckpoint`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from mmts.core.errors import MmtsError
from mmts.core.files import write_json
from mmts.features.inputs import ModelInputLayout


class IncompatibleCheckpoint(MmtsError, ValueError):
    """A checkpoint was trained on another input layout or other label/feature/cost settings."""


class CheckpointStore:
    """The checkpoint index under ``root``, one folder per model name."""

    def __init__(self, root: str | Path, keep: int = 5) -> None:
        if keep < 1:
            raise ValueError(f"keep must be >= 1; was {keep}")
        self.root = Path(root)
        self.keep = keep

    def _index_path(self, model: str) -> Path:
        return self.root / model / "index.json"

    def _read(self, model: str) -> dict[str, Any]:
        path = self._index_path(model)
        if not path.exists():
            return {"checkpoints": [], "promoted": None, "history": []}
        return json.loads(path.read_text())  # type: ignore[no-any-return]

    def _write(self, model: str, index: dict[str, Any]) -> None:
        path = self._index_path(model)
        write_json(path, index)

    def models(self) -> list[str]:
        """Return the model names that have an index."""
        if not self.root.exists():
            return []
        return sorted(p.parent.name for p in self.root.glob("*/index.json"))

    def add(self, model: str, entry: dict[str, Any]) -> dict[str, Any]:
        """Register a checkpoint (``entry`` needs ``id``, ``path``, ``metric``, ``mode``).

        Keeps the best ``keep`` by metric; a promoted one is never dropped. The new index is
        written (atomically) before the dropped files are deleted, so a reader that finds a file
        missing finds the index already moved on (:meth:`load_active`). Returns the entry.
        """
        for key in ("id", "path", "metric", "mode"):
            if key not in entry:
                raise ValueError(f"checkpoint entry needs {key!r}")
        index = self._read(model)
        index["checkpoints"] = [c for c in index["checkpoints"] if c["id"] != entry["id"]]
        index["checkpoints"].append(entry)
        ranked = self._ranked(index["checkpoints"])
        kept = ranked[: self.keep]
        promoted = index.get("promoted")
        dropped = []
        for c in ranked[self.keep :]:
            if c["id"] == promoted:
                kept.append(c)
            else:
                dropped.append(c)
        index["checkpoints"] = kept
        self._write(model, index)
        in_use = {c["path"] for c in kept}
        for c in dropped:
            if c["path"] not in in_use:
                Path(c["path"]).unlink(missing_ok=True)
        return entry

    def load_active(
        self, model: str, load: Any, attempts: int = 3
    ) -> tuple[dict[str, Any], Any] | None:
        """Return ``(entry, load(entry))`` of the active checkpoint, or None if there is none.

        Training may replace the active checkpoint while this reads: a file gone since the index
        was read means the index has moved on, so it is read again (``attempts`` times at most).
        """
        for attempt in range(attempts):
            entry = self.active(model)
            if entry is None:
                return None
            try:
                return entry, load({**entry, "model": model})
            except FileNotFoundError:
                if attempt == attempts - 1 or self.active(model) == entry:
                    raise
        return None

    @staticmethod
    def _ranked(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        def key(c: dict[str, Any]) -> float:
            value = float(c["metric"])
            return value if c["mode"] == "min" else -value

        return sorted(entries, key=key)

    def list(self, model: str | None = None) -> list[dict[str, Any]]:
        """Return entries (best first) of one model or all, each with ``model`` and ``promoted``."""
        out: list[dict[str, Any]] = []
        for name in [model] if model else self.models():
            index = self._read(name)
            active = self.active(name)
            out.extend(
                {**c, "model": name, "active": active is not None and c["id"] == active["id"]}
                for c in self._ranked(index["checkpoints"])
            )
        return out

    def active(self, model: str) -> dict[str, Any] | None:
        """Return the checkpoint loaded at start-up: the promoted one, else the best."""
        index = self._read(model)
        by_id: dict[str, dict[str, Any]] = {c["id"]: c for c in index["checkpoints"]}
        if index.get("promoted") in by_id:
            return by_id[index["promoted"]]
        ranked = self._ranked(index["checkpoints"])
        best: dict[str, Any] | None = ranked[0] if ranked else None
        return best

    def promote(self, model: str, checkpoint_id: str) -> dict[str, Any]:
        """Make ``checkpoint_id`` the active checkpoint (remembering the previous one)."""
        index = self._read(model)
        by_id: dict[str, dict[str, Any]] = {c["id"]: c for c in index["checkpoints"]}
        if checkpoint_id not in by_id:
            raise KeyError(f"{model} has no checkpoint {checkpoint_id!r}; have {sorted(by_id)}")
        current = self.active(model)
        if current is not None:
            index["history"].append(current["id"])
        index["promoted"] = checkpoint_id
        self._write(model, index)
        return by_id[checkpoint_id]

    def rollback(self, model: str) -> dict[str, Any]:
        """Re-activate the checkpoint that was active before the last promotion."""
        index = self._read(model)
        by_id: dict[str, dict[str, Any]] = {c["id"]: c for c in index["checkpoints"]}
        while index["history"]:
            previous = index["history"].pop()
            if previous in by_id:
                index["promoted"] = previous
                self._write(model, index)
                return by_id[previous]
        raise ValueError(f"{model}: nothing to roll back to")

    def remove_all(self, model: str) -> None:
        """Delete a model's checkpoints and index."""
        shutil.rmtree(self.root / model, ignore_errors=True)


def check_layout(entry: dict[str, Any], layout: ModelInputLayout) -> None:
    """Raise :class:`IncompatibleCheckpoint` unless ``entry`` was trained on ``layout``."""
    want = layout.describe()
    have = entry.get("layout", {})
    if have.get("version") != want["version"] or have.get("blocks") != want["blocks"]:
        raise IncompatibleCheckpoint(
            f"checkpoint {entry.get('id')} was trained on input layout {have.get('version')} "
            f"with blocks {have.get('blocks')}; the current layout is {want['version']} with "
            f"blocks {want['blocks']}. Retrain, or use the feature config it was trained with."
        )


def training_differences(entry: dict[str, Any], exp: Any) -> list[str]:
    """Say every label, feature, decision-grid or cost setting ``exp`` changes from ``entry``'s.

    A model learned what its labels meant (horizon, dead zone, costs) on its decision grid and
    features: run under other settings, it answers a question nobody asked.
    """
    from mmts.execution.costs import CostModel

    trained = entry.get("experiment")
    if not isinstance(trained, dict):
        return [f"checkpoint {entry.get('id')} records no experiment: retrain it"]
    now = exp.to_dict()
    out = []
    for table, keys in (("labels", ("horizon", "dead_zone")),
                        ("data", ("decision_timeframe", "decision_every"))):  # fmt: skip
        for key in keys:
            was, is_ = trained.get(table, {}).get(key), now[table][key]
            if was != is_:
                out.append(f"[{table}] {key} = {was!r} in training, {is_!r} now")
    for key, is_ in now["features"].items():
        was = trained.get("features", {}).get(key)
        if was != is_:
            out.append(f"[features] {key} = {was!r} in training, {is_!r} now")
    was_costs = CostModel(**trained.get("costs", {})).resolved()
    for key, is_ in exp.costs.resolved().items():
        if key != "venue" and was_costs[key] != is_:
            out.append(f"[costs] {key} = {was_costs[key]!r} in training, {is_!r} now")
    return out


def check_trained_like(entry: dict[str, Any], exp: Any) -> None:
    """Raise :class:`IncompatibleCheckpoint` if ``exp`` differs from what ``entry`` learned on."""
    differences = training_differences(entry, exp)
    if differences:
        raise IncompatibleCheckpoint(
            f"{entry.get('model', 'model')} checkpoint {entry.get('id')} was trained under other "
            f"settings than experiment {exp.name!r}: "
            + "; ".join(differences)
            + ". Retrain (`mmts train`) or use the experiment it was trained with."
        )
