"""A Jupyter content hook that saves notebooks without their outputs, so running them leaves no trace.

``make lab`` starts JupyterLab with it::

    jupyter lab --ContentsManager.pre_save_hook=catapult_nb.notebook_hooks.strip_outputs

Every save (autosave included) writes the cells' sources only: no outputs, no execution counts, no
saved widget state. The notebook on screen keeps its outputs; the file on disk stays as the repository
stores it, so a notebook run in the lab never shows up in ``git status``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["HOOK", "strip_outputs"]

#: The hook's import name, as ``--ContentsManager.pre_save_hook`` takes it.
HOOK = "catapult_nb.notebook_hooks.strip_outputs"


def strip_outputs(model: dict[str, Any], **_: Any) -> None:
    """Empty a notebook model's outputs and execution counts and drop its widget state, in place.

    :param model: the contents model about to be saved; anything but a notebook is left alone.
    """
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    notebook = model["content"]
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    notebook.get("metadata", {}).pop("widgets", None)
