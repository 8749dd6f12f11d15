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


def _part(path: Path, src: Path) -> str:
    rel = path.relative_to(src)
    return rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 else rel.stem


def upward_imports(src: Path) -> list[str]:
    """Every import in the package at ``src`` that reaches a layer its own may not use."""
    bad = []
    for path in sorted(src.rglob("*.py")):
        part = _part(path, src)
        allowed = ALLOWED.get(part)
        if allowed is None:
            bad.append(
                f"{path.relative_to(src)} is in an unknown layer {part!r}: add it to ALLOWED"
            )
            continue
        for name in _imports(path):
            if not name.startswith("mmts.") or "*" in allowed:
                continue
            target = name.split(".")[1]
            if target not in {part, "_typing"} and target not in allowed:
                bad.append(f"{path.relative_to(src)} imports {name}")
    return bad


def kernel_imports(src: Path) -> list[str]:
    """Every import of a ``*_nb.py`` kernel module that numba could not compile against."""
    bad = []
    for path in sorted(src.rglob("*_nb.py")):
        for name in _imports(path):
            root = name.split(".")[0]
            ok = root in KERNEL_IMPORTS or name.startswith("mmts.core") or name.endswith("_nb")
            if not ok:
                bad.append(f"{path.relative_to(src)} imports {name}")
    return bad


def test_no_module_imports_upward() -> None:
    bad = upward_imports(SRC)
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_kernels_import_only_numba_friendly_modules() -> None:
    bad = kernel_imports(SRC)
    assert not bad, "\n".join(bad)


def test_the_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    # Guard against checks that cannot fail: a fake package with one of each violation.
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "store.py").write_text("from mmts.core.time import to_ns\n")
    (tmp_path / "data" / "loader.py").write_text("import numpy\nfrom mmts.cli.main import main\n")
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "x_nb.py").write_text("import pandas\nfrom mmts.core import sync_nb\n")
    (tmp_path / "sidecar").mkdir()
    (tmp_path / "sidecar" / "m.py").write_text("x = 1\n")
    assert upward_imports(tmp_path) == [
        "data/loader.py imports mmts.cli.main",
        "sidecar/m.py is in an unknown layer 'sidecar': add it to ALLOWED",
    ]
    assert kernel_imports(tmp_path) == ["features/x_nb.py imports pandas"]
