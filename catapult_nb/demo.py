"""``catapult-nb demo``: run the quickstart notebook headless on the embedded simulator.

Prints the gather outcome and the events table (the outputs of the cells tagged ``demo-summary``),
writes the executed notebook as HTML under ``build/``, and exits non-zero if any cell fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

DEFAULT_NOTEBOOK = Path("notebooks") / "01_quickstart.ipynb"
SUMMARY_TAG = "demo-summary"


def _text_outputs(cell: dict) -> list[str]:
    texts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            texts.append(output.get("text", ""))
        elif "data" in output and "text/plain" in output["data"]:
            texts.append(output["data"]["text/plain"])
    return texts


def run(notebook: Path = DEFAULT_NOTEBOOK, output_dir: Path = Path("build"), timeout: int = 120) -> int:
    """Execute ``notebook``, print its summary cells, write HTML; return a process exit code."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from nbconvert import HTMLExporter

    if not notebook.exists():
        print(f"error: {notebook} not found; run from the project's root or pass --notebook PATH",
              file=sys.stderr)
        return 2
    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(notebook.parent)}})
    print(f"Running {notebook} on the embedded simulator …", flush=True)
    failed: CellExecutionError | None = None
    try:
        client.execute()
    except CellExecutionError as exc:
        failed = exc
    output_dir.mkdir(parents=True, exist_ok=True)
    html_path = output_dir / (notebook.stem + ".html")
    body, _ = HTMLExporter().from_notebook_node(nb)
    html_path.write_text(body, encoding="utf-8")
    for cell in nb.cells:
        if SUMMARY_TAG in cell.get("metadata", {}).get("tags", []):
            print()
            print(">>> " + cell.source.strip().splitlines()[-1])
            for text in _text_outputs(cell):
                print(text.rstrip())
    print(f"\nExecuted notebook written to {html_path}")
    if failed is not None:
        print(f"\nerror: a cell failed:\n{failed}", file=sys.stderr)
        return 1
    return 0
