"""Where the project is: the folder experiment files name their store and checkpoints from.

Experiment files use paths relative to the project root (``store = "data"``,
``dir = "experiments/models"``), and commands run there. Jupyter starts a notebook's kernel in
the notebook's folder instead; ``os.chdir(project_root())`` at the top makes a notebook run the
same from ``notebooks/`` or from the root.
"""

from __future__ import annotations

from pathlib import Path


def project_root(start: str | Path | None = None) -> Path:
    """Return the nearest folder at or above ``start`` (default: here) with ``experiments/`` and ``data/``."""
    here = Path(start if start is not None else Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "experiments").is_dir() and (folder / "data").is_dir():
            return folder
    raise FileNotFoundError(
        f"no mmts project at or above {here}: none of these folders holds both experiments/ "
        "and data/ (run from the repository or one of its folders)"
    )
