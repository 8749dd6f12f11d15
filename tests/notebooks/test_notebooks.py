"""Every notebook runs top to bottom on the bundled data, as README starts it; a failing cell fails.

README says ``jupyter lab notebooks/``: Jupyter starts each kernel in the notebook's folder, so
the test does too, in a scratch copy of the project (what a notebook writes stays there).
"""

from __future__ import annotations

from pathlib import Path

import nbclient  # in the test dependency group: missing is a broken install, not a skip
import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "notebooks/ holds no notebook"


pytestmark = pytest.mark.slow


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, project_copy: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        f"{path.name} is committed with outputs: strip them (nbstripout)"
    )
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3",
        resources={"metadata": {"path": str(project_copy / "notebooks")}},
    )  # fmt: skip
    client.execute()
