"""Best-K checkpoints, promotion, rollback, and refusing a different input layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmts.config import FeatureConfig
from mmts.features.inputs import ModelInputLayout
from mmts.models.checkpoints import CheckpointStore, IncompatibleCheckpoint, check_layout


def _add(store: CheckpointStore, tmp: Path, i: int, metric: float) -> None:
    path = tmp / f"c{i}.ckpt"
    path.write_text("x")
    store.add("cnn", {"id": f"c{i}", "path": str(path), "metric": metric, "mode": "min"})


def test_keeps_best_k_and_deletes_the_rest(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "models", keep=2)
    for i, metric in enumerate([0.9, 0.5, 0.7, 0.6]):
        _add(store, tmp_path, i, metric)
    assert [e["id"] for e in store.list("cnn")] == ["c1", "c3"]
    assert not (tmp_path / "c0.ckpt").exists() and (tmp_path / "c1.ckpt").exists()
    assert store.active("cnn")["id"] == "c1"


def test_promote_and_rollback(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "models", keep=3)
    for i, metric in enumerate([0.5, 0.6, 0.7]):
        _add(store, tmp_path, i, metric)
    store.promote("cnn", "c2")
    assert store.active("cnn")["id"] == "c2"
    _add(store, tmp_path, 3, 0.1)  # better, but c2 stays promoted (and kept)
    assert store.active("cnn")["id"] == "c2" and "c2" in [e["id"] for e in store.list("cnn")]
    assert store.rollback("cnn")["id"] == "c0"
    with pytest.raises(ValueError, match="nothing to roll back"):
        store.rollback("cnn")
    with pytest.raises(KeyError, match="no checkpoint"):
        store.promote("cnn", "zz")


def test_layout_mismatch_is_refused_with_both_layouts_named() -> None:
    layout = ModelInputLayout(config=FeatureConfig())
    entry = {"id": "x", "layout": ModelInputLayout(config=FeatureConfig(frames=100)).describe()}
    with pytest.raises(IncompatibleCheckpoint, match="blocks") as err:
        check_layout(entry, layout)
    assert "100" in str(err.value) and "300" in str(err.value)
    check_layout({"id": "y", "layout": layout.describe()}, layout)


def test_the_promoted_file_outlives_any_number_of_better_ones(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "models", keep=1)
    _add(store, tmp_path, 0, 0.9)
    store.promote("cnn", "c0")
    for i in range(1, 6):
        _add(store, tmp_path, i, 0.9 - i / 10)
    assert (tmp_path / "c0.ckpt").exists() and store.active("cnn")["id"] == "c0"
    assert [e["id"] for e in store.list("cnn")] == ["c5", "c0"]


def test_the_index_moves_on_before_a_dropped_file_is_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = CheckpointStore(tmp_path / "models", keep=1)
    _add(store, tmp_path, 0, 0.9)
    seen: list[str] = []
    unlink = Path.unlink

    def watched(self: Path, missing_ok: bool = False) -> None:
        if self.suffix == ".ckpt":
            seen.append(store.active("cnn")["path"])  # what a reader would load now
        unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", watched)
    _add(store, tmp_path, 1, 0.5)
    assert seen == [str(tmp_path / "c1.ckpt")]


def test_a_reader_racing_a_writer_loads_the_new_active_checkpoint(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "models", keep=1)
    _add(store, tmp_path, 0, 0.9)
    loads: list[str] = []

    def load(entry: dict) -> str:
        if not loads:  # the reader has the index; training publishes a better one meanwhile
            _add(store, tmp_path, 1, 0.5)
        loads.append(entry["id"])
        return Path(entry["path"]).read_text()  # c0.ckpt is gone by now

    entry, loaded = store.load_active("cnn", load)
    assert entry["id"] == "c1" and loaded == "x" and loads == ["c0", "c1"]
    assert CheckpointStore(tmp_path / "none").load_active("cnn", load) is None
