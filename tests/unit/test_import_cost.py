"""``import mmts`` and ``mmts --help`` must not pull in the heavy stacks."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["torch", "lightning", "vectorbt", "ccxt"]


def _loaded_after(code: str) -> set[str]:
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_import_mmts_loads_no_heavy_module() -> None:
    loaded = _loaded_after("import mmts")
    assert not [m for m in HEAVY if m in loaded]


def test_cli_help_loads_no_heavy_module() -> None:
    code = (
        "from mmts.cli.main import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    )
    loaded = _loaded_after(code)
    assert not [m for m in HEAVY if m in loaded]
    assert "pandas" not in loaded  # the CLI parses before importing the library


def test_mmts_data_is_reachable_lazily() -> None:
    loaded = _loaded_after("import mmts\nmmts.data.open_store")
    assert "mmts.data.store" in loaded
