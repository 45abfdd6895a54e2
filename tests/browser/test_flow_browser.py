"""A call flow in JupyterLab: the flow draws as a Mermaid flowchart, and the FlowPlayer plays a call.

The test writes a small notebook (the account-code flow, a simulated session at speed 1, a FlowPlayer),
runs it, checks the flow's output is a drawn diagram (an ``svg``), then drives the player like a
person: Place call, the code on the keypad, the confirmation. It saves the README's screenshot of
the player mid-call, with the confirm step lit and the read-back in the transcript.
"""

from __future__ import annotations

import nbformat
import pytest

from .lab import LabPage, LabServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STEP = 30
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
#: JupyterLab draws Mermaid as an ``<img>`` of SVG: the decoded SVG of each diagram in an element.
SVGS_JS = """(selector) => Array.from(document.querySelectorAll(selector + ' .jp-RenderedMermaid img'))
    .filter(img => img.src.startsWith('data:image/svg+xml'))
    .map(img => decodeURIComponent(img.src.split(',')[1]))"""
CELLS = [
    "from catapult_nb import Session\n"
    "from catapult_nb.flows.examples import account_code\n"
    "from catapult_nb.widgets import FlowPlayer\n\n"
    "flow = account_code()\n"
    "flow",
    "session = Session.simulated(speed=1)\n"
    "player = FlowPlayer(session, flow)\n"
    "player",
]


@pytest.fixture
def flow_notebook(lab_page: LabPage, jupyter_lab: LabServer, tmp_path) -> LabPage:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    source = tmp_path / "flow_player.ipynb"
    nbformat.write(notebook, source)
    lab_page.open_notebook(jupyter_lab.add_notebook(source))
    lab_page.run_all(timeout=120)
    lab_page.widget("cnb-flow-player").wait_for(state="visible")
    return lab_page


def test_a_flow_is_drawn_and_the_player_plays_a_call(flow_notebook: LabPage, jupyter_lab: LabServer):
    page = flow_notebook
    # the flow's own output is Mermaid, drawn by JupyterLab as an SVG with the steps' names in it
    page._wait_js(f"(sel) => ({SVGS_JS})(sel).length > 0", "a drawn Mermaid diagram", STEP, arg=PANEL)
    flow_svg = page.page.evaluate(SVGS_JS, PANEL)[0]
    assert "<svg" in flow_svg and "flowchart-s_operator" in flow_svg and "transfer to" in flow_svg

    # when a call is placed from the player
    page.click("cnb-flow-call")
    page.wait_for_text("cnb-flow-status", "at step code", timeout=STEP)
    # then the player's diagram is drawn too, with the current step lit
    _wait_current(page, "code")

    # when the caller types the code on the keypad
    for key in "12345":
        page.click(f"cnb-key-{key}")
    # then the flow reads it back and waits at the confirm step
    page.wait_for_text("cnb-flow-status", "at step confirm", timeout=STEP)
    page.wait_for_text("cnb-flow-transcript", "1 2 3 4 5", timeout=STEP)
    _wait_current(page, "confirm")
    page.screenshot("flow-player.png", css_class="cnb-flow-player")

    # when the caller confirms
    page.click("cnb-key-1")
    # then the call ends completed, and the transcript shows the whole conversation
    page.wait_for_text("cnb-flow-status", "completed", timeout=STEP)
    transcript = page.wait_for_text("cnb-flow-transcript", "■ completed", timeout=STEP)
    assert "→ confirm" in transcript and "→ thanks" in transcript

    saved = page.save()
    assert jupyter_lab.secret not in page.page_html()
    assert jupyter_lab.secret not in saved.read_text(encoding="utf-8")
    assert page.blocked_requests == []


def _wait_current(page: LabPage, step: str) -> None:
    """Wait until the player's diagram is drawn with ``step`` in the ``current`` class."""
    lit = (  # a <g> tag of mermaid's with the step's id and the current class, in either order
        "(svg) => (svg.match(/<g [^>]*>/g) || []).some(tag => /class=\"[^\"]*\\bcurrent\\b/.test(tag)"
        f" && tag.includes('flowchart-s_{step}-'))"
    )
    page._wait_js(
        f"(sel) => ({SVGS_JS})(sel).some({lit})", f"the player's diagram to light {step!r}", STEP,
        arg=f"{PANEL} .cnb-flow-diagram",
    )
