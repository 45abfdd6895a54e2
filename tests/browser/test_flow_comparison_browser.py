"""Two variants of a flow in JupyterLab, side by side: each column its funnel and its counted diagram.

The test writes a small notebook that counts 10,000 callers on the account-code flow's diagram, then runs
the same callers through the flow and a variant with one retry (:class:`~catapult_nb.flows.FlowComparison`),
runs it, and checks that JupyterLab draws both diagrams (``svg``), each with its own counts, next to each
other: one column per variant. In every drawn diagram no edge label lies on another or on a box, none is
cut off, and the text stays readable (at least 11 px on the page).
"""

from __future__ import annotations

import nbformat
import pytest

from .lab import LabPage, LabServer
from .mermaid_geometry import GEOMETRY_JS, label_problems
from .test_flow_browser import PANEL, STEP

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CELLS = [
    "from catapult_nb.flows import FlowComparison, run_campaign\n"
    "from catapult_nb.flows.examples import account_code\n\n"
    "flow = account_code()\n"
    "flow.diagram(run_campaign(flow, n=10_000, seed=1))  # counts of five digits on the edges",
    'one_retry = flow.but("1 retry", code=flow.steps["code"].but(retries=1))\n'
    'comparison = FlowComparison.run({"2 retries": flow, "1 retry": one_retry}, n=2000, seed=1)\n'
    "comparison",
]
#: Each drawn diagram of the comparison: its box on the page and its SVG.
BOXES_JS = """(selector) => Array.from(document.querySelectorAll(
        selector + ' .cnb-flow-comparison .jp-RenderedMermaid img'))
    .filter(img => img.src.startsWith('data:image/svg+xml'))
    .map(img => { const r = img.getBoundingClientRect();
                  return {left: r.left, right: r.right, top: r.top, width: r.width,
                          svg: decodeURIComponent(img.src.split(',')[1])}; })"""


def test_two_variants_are_drawn_side_by_side(lab_page: LabPage, jupyter_lab: LabServer, tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    source = tmp_path / "flow_comparison.ipynb"
    nbformat.write(notebook, source)
    page = lab_page
    page.open_notebook(jupyter_lab.add_notebook(source))
    page.run_all(timeout=120)
    page._wait_js(f"(sel) => ({BOXES_JS})(sel).length === 2", "two drawn diagrams", STEP, arg=PANEL)
    first, second = page.page.evaluate(BOXES_JS, PANEL)
    # side by side: the second starts right of the first, level with it; both readable, not squeezed
    assert second["left"] >= first["right"] - 1 and abs(second["top"] - first["top"]) < 40
    assert first["width"] > 150 and second["width"] > 150
    # each diagram carries its own variant's counts: 3 failures in one, 2 in the other
    assert "3 failures ×" in first["svg"] and "2 failures ×" in second["svg"]
    # and the funnels sit above them, one per column
    funnels = page.page.locator(f"{PANEL} .cnb-flow-comparison table.cnb-flow-funnel")
    assert funnels.count() == 2
    # every drawn diagram, the counted one and the two side by side: labels apart, whole, readable
    page._wait_js(f"(sel) => ({GEOMETRY_JS})(sel).length === 3", "three drawn diagrams", STEP, arg=PANEL)
    drawn = page.page.evaluate(GEOMETRY_JS, PANEL)
    assert all(d["labels"] and d["nodes"] for d in drawn), drawn
    problems = {i: label_problems(d) for i, d in enumerate(drawn)}
    assert not any(problems.values()), problems
    page.screenshot("flow-comparison.png", css_class="cnb-flow-comparison")
    assert jupyter_lab.secret not in page.page_html()
