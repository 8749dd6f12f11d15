"""Layers import only downward (STYLE.md section 3); kernels import only numba-friendly modules."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "mmts"

#: What each top-level part of mmts may import from mmts (besides itself and _typing).
ALLOWED: dict[str, set[str]] = {
    "_typing": set(),
    "core": set(),
    "config": {"core"},
    "data": {"core", "config"},
    "features": {"core", "config"},
    "execution": {"core", "config"},
    "models": {"core", "config", "features", "data", "execution"},
    "strategy": {"core", "config", "features", "execution", "models"},
    "runtime": {"core", "config", "features", "execution", "models", "strategy"},
    "backtest": {
        "core",
        "config",
        "data",
        "features",
        "execution",
        "models",
        "strategy",
        "runtime",
    },
    "live": {"core", "config", "data", "features", "execution", "models", "strategy", "runtime"},
    "rl": {
        "core",
        "config",
        "data",
        "features",
        "execution",
        "models",
        "strategy",
        "runtime",
        "backtest",
    },
    "testing": {
        "core",
        "config",
        "data",
        "features",
        "execution",
        "models",
        "strategy",
        "runtime",
        "backtest",
    },
    "cli": {"*"},
    "__init__": {"core", "config", "data", "features", "execution", "models", "backtest", "cli"},
}
KERNEL_IMPORTS = {"numpy", "numba", "math", "__future__"}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def _part(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 else rel.stem


def test_no_module_imports_upward() -> None:
    bad = []
    for path in SRC.rglob("*.py"):
        part = _part(path)
        allowed = ALLOWED.get(part)
        assert allowed is not None, f"{path} is in an unknown layer {part!r}: add it to ALLOWED"
        for name in _imports(path):
            if not name.startswith("mmts.") or "*" in allowed:
                continue
            target = name.split(".")[1]
            if target not in {part, "_typing"} and target not in allowed:
                bad.append(f"{path.relative_to(SRC)} imports {name}")
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_kernels_import_only_numba_friendly_modules() -> None:
    bad = []
    for path in SRC.rglob("*_nb.py"):
        for name in _imports(path):
            root = name.split(".")[0]
            ok = root in KERNEL_IMPORTS or name.startswith("mmts.core") or name.endswith("_nb")
            if not ok:
                bad.append(f"{path.relative_to(SRC)} imports {name}")
    assert not bad, "\n".join(bad)


def test_architecture_check_catches_an_upward_import(tmp_path: Path) -> None:
    # Guard against a check that cannot fail: parse a fake upward import.
    fake = tmp_path / "x.py"
    fake.write_text("from mmts.cli.main import main\n")
    assert "mmts.cli.main" in _imports(fake)
    assert "cli" not in ALLOWED["data"]
