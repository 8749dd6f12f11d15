"""The house's rules (STYLE.md section 3), drawn again from the code on every run.

Layers import only downward; kernels import only numba-friendly modules; no import cycle, even
one hidden in a function-level import; no private name taken from another module; no layer
takes an untyped ``store: object``.
"""

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
    "history": {"core", "config", "features", "execution", "models"},
    "learning": {"core", "config", "features", "execution", "models", "history"},
    "runtime": {
        "core",
        "config",
        "features",
        "execution",
        "models",
        "strategy",
        "history",
        "learning",
    },
    "backtest": {
        "core",
        "config",
        "data",
        "features",
        "execution",
        "models",
        "strategy",
        "history",
        "learning",
        "runtime",
    },
    "live": {
        "core",
        "config",
        "data",
        "features",
        "execution",
        "models",
        "strategy",
        "history",
        "learning",
        "runtime",
    },
    "serve": {"core", "config", "data", "features", "models", "history", "runtime", "live"},
    "study": {
        "core",
        "config",
        "data",
        "features",
        "execution",
        "models",
        "strategy",
        "history",
        "learning",
        "runtime",
        "backtest",
    },
    "rl": {
        "core",
        "config",
        "data",
        "features",
        "execution",
        "models",
        "strategy",
        "history",
        "learning",
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
        "history",
        "learning",
        "runtime",
        "backtest",
    },
    "cli": {"*"},
    "__init__": {
        "core",
        "config",
        "data",
        "features",
        "execution",
        "models",
        "history",
        "learning",
        "backtest",
        "cli",
    },
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


def _module_name(path: Path, src: Path) -> str:
    parts = ["mmts", *path.relative_to(src).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(src: Path) -> dict[str, set[str]]:
    """Module -> the mmts modules it imports, anywhere in its body (function-level too).

    ``from mmts.a import b`` is an edge to ``mmts.a.b`` when that is a module, else to
    ``mmts.a`` (a package's ``__init__``).
    """
    paths = {_module_name(p, src): p for p in sorted(src.rglob("*.py"))}
    graph: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                graph[name] |= {a.name for a in node.names if a.name in paths}
            elif isinstance(node, ast.ImportFrom) and node.module in paths:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    graph[name].add(sub if sub in paths else node.module)
    return graph


def import_cycles(src: Path) -> list[list[str]]:
    """Every set of modules that import each other, directly or through others (Tarjan)."""
    graph = import_graph(src)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(cycles)


def private_names_taken(src: Path) -> list[str]:
    """Every ``_name`` one module takes from another: imported, or read off another's object.

    An attribute ``obj._name`` counts when the module reading it defines no ``_name`` itself
    (a class reading its own kind's private state is fine).
    """
    bad = []
    for path in sorted(src.rglob("*.py")):
        own = _module_name(path, src)
        tree = ast.parse(path.read_text(), filename=str(path))
        defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)}
        defined |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                    and isinstance(n.ctx, ast.Store)}  # fmt: skip
        defined |= {t.id for n in ast.walk(tree) if isinstance(n, ast.Assign | ast.AnnAssign)
                    for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
                    if isinstance(t, ast.Name)}  # fmt: skip
        rel = path.relative_to(src)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mmts"):
                for alias in node.names:
                    private = alias.name.startswith("_") and not alias.name.startswith("__")
                    if private and node.module != own:
                        bad.append(f"{rel} imports {alias.name} from {node.module}")
            elif isinstance(node, ast.Attribute):
                name = node.attr
                if not name.startswith("_") or name.startswith("__") or name in defined:
                    continue
                if isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"}:
                    continue
                bad.append(f"{rel}:{node.lineno} reads {ast.unparse(node)}")
    return bad


def untyped_stores(src: Path) -> list[str]:
    """Every parameter annotated ``store: object`` or ``store: Any`` (use the store protocols)."""
    bad = []
    for path in sorted(src.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not (isinstance(node, ast.arg) and node.arg == "store" and node.annotation):
                continue
            hint = ast.unparse(node.annotation)
            if hint in {"object", "Any", "typing.Any"}:
                bad.append(f"{path.relative_to(src)}:{node.lineno} store: {hint}")
    return bad


def test_no_import_cycles() -> None:
    cycles = import_cycles(SRC)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_private_name_is_taken_across_modules() -> None:
    bad = private_names_taken(SRC)
    assert not bad, "\n".join(bad)


def test_no_layer_takes_an_untyped_store() -> None:
    bad = untyped_stores(SRC)
    assert not bad, "use mmts.core.stores protocols or mmts.data.Store:\n" + "\n".join(bad)


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


def test_the_house_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "__init__.py").write_text("")
    (tmp_path / "models" / "a.py").write_text("def f():\n    from mmts.models.b import g\n")
    (tmp_path / "models" / "b.py").write_text(
        "from mmts.models import a\nfrom mmts.models.c import _h\n"
    )
    (tmp_path / "models" / "c.py").write_text(
        "def _h(): ...\nclass C:\n    def m(self, o):\n        return o._x, self._y, o._z\n"
        "    def n(self):\n        self._z = 1\n"
    )
    (tmp_path / "models" / "d.py").write_text(
        "def f(store: object, other: Any, store2: int): ...\n"
    )
    assert import_cycles(tmp_path) == [["mmts.models.a", "mmts.models.b"]]
    assert private_names_taken(tmp_path) == [
        "models/b.py imports _h from mmts.models.c",
        "models/c.py:4 reads o._x",
    ]
    assert untyped_stores(tmp_path) == ["models/d.py:1 store: object"]
