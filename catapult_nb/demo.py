"""``catapult-nb demo``: run the quickstart notebook headless on the embedded simulator.

Prints the gather outcome and the events table (the outputs of the cells tagged ``demo-summary``),
writes the executed notebook as HTML under ``build/`` and says where, and exits non-zero if any cell
fails. Without the ``notebooks`` extra it says which extra to install.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

DEFAULT_NOTEBOOK = Path("notebooks") / "01_quickstart.ipynb"
SUMMARY_TAG = "demo-summary"


def _text_outputs(cell: dict[str, Any]) -> list[str]:
    texts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            texts.append(output.get("text", ""))
        elif "data" in output and "text/plain" in output["data"]:
            texts.append(output["data"]["text/plain"])
    return texts


def run(notebook: Path = DEFAULT_NOTEBOOK, output_dir: Path = Path("build"), timeout: int = 120) -> int:
    """Execute ``notebook``, print its summary cells, write HTML; return a process exit code."""
    try:
        import nbformat
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError
        from nbconvert import HTMLExporter
    except ImportError as exc:  # a plain install: the notebook tools come with the notebooks extra
        print(f"error: catapult-nb demo runs a notebook, which needs the notebooks extra ({exc.name} is "
              "missing): pip install 'catapult_nb[notebooks]' from the checkout (pip install "
              "'.[notebooks]'), or run make demo", file=sys.stderr)
        return 2

    if not notebook.exists():
        print(f"error: {notebook} not found; run from the project's root or pass --notebook PATH",
              file=sys.stderr)
        return 2
    from jupyter_client.manager import KernelManager

    nb = cast(Callable[..., Any], nbformat.read)(notebook, as_version=4)  # nbformat has no type hints
    failed: CellExecutionError | None = None
    # The kernel talks over local sockets in a private folder, not unencrypted TCP (which it warns about).
    with tempfile.TemporaryDirectory(prefix="catapult-demo-") as sockets:
        kernel = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(sockets, "kernel"))
        client = NotebookClient(nb, km=kernel, timeout=timeout,
                                resources={"metadata": {"path": str(notebook.parent)}})
        try:
            client.execute()
        except CellExecutionError as exc:
            failed = exc
        finally:
            if kernel.has_kernel:
                kernel.shutdown_kernel(now=True)
    output_dir.mkdir(parents=True, exist_ok=True)
    html_path = output_dir / (notebook.stem + ".html")
    exporter = cast(Callable[[], Any], HTMLExporter)()  # nbconvert has no type hints
    body, _ = exporter.from_notebook_node(nb)
    html_path.write_text(body, encoding="utf-8")
    for cell in nb.cells:
        if SUMMARY_TAG in cell.get("metadata", {}).get("tags", []):
            print()
            print(">>> " + cell.source.strip().splitlines()[-1])
            for text in _text_outputs(cell):
                print(text.rstrip())
    print(f"\nThe executed notebook, outputs and all: {html_path}")
    if failed is not None:
        print(f"\nerror: a cell failed:\n{failed}", file=sys.stderr)
        return 1
    return 0
