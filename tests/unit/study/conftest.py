"""A study small enough to test: the default experiment's models, tiny and briefly trained."""

from __future__ import annotations

import copy
import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]

#: The default experiment with training cut to seconds per fold (same code paths, less work).
SMALL = {
    "train": {"epochs": 1, "batch_size": 64, "max_train_samples": 300},
    "rl": {
        "hidden": 16,
        "steps": 300,
        "warmup_steps": 100,
        "steps_per_epoch": 150,
        "batch_size": 32,
        "replay_size": 1000,
    },
    "study": {"folds": 3, "bootstrap": 200},
}


@pytest.fixture
def small_tables(sample_store_path: Path) -> dict[str, Any]:
    """The default experiment's tables on the bundled store, trained briefly, three folds."""
    with (ROOT / "experiments" / "default.toml").open("rb") as handle:
        tables = tomllib.load(handle)
    tables = {**copy.deepcopy(tables), **copy.deepcopy(SMALL)}
    tables["experiment"]["store"] = str(sample_store_path)
    return tables


@pytest.fixture
def write_toml() -> Callable[[Path, dict[str, Any]], Path]:
    """Write TOML tables of scalars, lists and inline tables (what experiment and space files hold)."""

    def write(path: Path, tables: dict[str, Any]) -> Path:
        lines = []
        for name, table in tables.items():
            lines.append(f"[{name}]")
            for key, value in table.items():
                if isinstance(value, dict):  # an inline table
                    text = "{ " + ", ".join(f"{json.dumps(k)} = {json.dumps(v)}"
                                            for k, v in value.items()) + " }"  # fmt: skip
                else:
                    text = json.dumps(value)
                lines.append(f"{json.dumps(key) if '.' in key else key} = {text}")
        path.write_text("\n".join(lines) + "\n")
        return path

    return write
