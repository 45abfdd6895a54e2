"""Running the notebooks leaves the checkout clean: saves strip outputs, what they write goes to an
ignored folder."""

from __future__ import annotations

import subprocess
from pathlib import Path

import nbformat
from jupyter_server.services.contents.filemanager import FileContentsManager

from catapult_nb.notebook_hooks import HOOK, strip_outputs

ROOT = Path(__file__).resolve().parents[1]


def executed_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print('hi')")
    cell.execution_count = 3
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hi\n")]
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), cell]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return nb


def test_a_save_through_jupyters_contents_manager_strips_outputs_and_widget_state(tmp_path):
    # given Jupyter's own file manager with the hook, as `make lab` configures it
    manager = FileContentsManager(root_dir=str(tmp_path), pre_save_hook=HOOK)
    # when a notebook with outputs is saved (as an autosave does)
    manager.save({"type": "notebook", "format": "json", "content": executed_notebook()}, "run.ipynb")
    # then the file holds the sources only
    saved = nbformat.read(tmp_path / "run.ipynb", as_version=4)
    code = saved.cells[1]
    assert code.source == "print('hi')" and code.outputs == [] and code.execution_count is None
    assert saved.cells[0].source == "# Title"
    assert "widgets" not in saved.metadata


def test_the_hook_leaves_other_files_alone():
    model = {"type": "file", "format": "text", "content": "outputs stay"}
    strip_outputs(model)
    assert model["content"] == "outputs stay"


def test_make_lab_starts_jupyter_with_the_hook():
    plan = subprocess.run(["make", "-n", "lab"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    [command] = [line for line in plan.replace("\\\n", " ").splitlines() if "jupyter lab" in line]
    assert f"--ContentsManager.pre_save_hook={HOOK}" in command


def test_what_the_notebooks_write_is_ignored_by_git():
    for name in ("greeting.wav", "test_account_code_flow.py", "week/date=2026-03-02/part-0.parquet"):
        ignored = subprocess.run(["git", "check-ignore", "-q", f"notebooks/output/{name}"], cwd=ROOT)
        assert ignored.returncode == 0, f"notebooks/output/{name} is not ignored"
    # and the notebooks write there, not beside themselves
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                for call in ("write_bytes(", "to_pytest(", "to_parquet(", "ParquetEvents("):
                    if call in cell.source:
                        assert "output" in cell.source, f"{path.name} writes outside output/: {cell.source}"
