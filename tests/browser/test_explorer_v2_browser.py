"""The Explorer's form in v2 BXML (``notebooks/02_gather_explorer.ipynb``) in JupyterLab: the dialect
buttons switch the preview to the ``<Gather>`` document a v2 app answers with, which follows the fields
as the JSON body does, and it keeps working when the notebook is run again (Run All makes a new
dashboard; the old one's views go)."""

from __future__ import annotations

import re

import pytest

from .lab import NOTEBOOKS_DIR, LabPage, LabServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = "02_gather_explorer.ipynb"
STEP = 30
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"


def show_v2(lab: LabPage) -> None:
    """Click the form's "v2 BXML" button and wait for the preview's tab to say BXML."""
    lab.page.locator(f"{PANEL} .cnb-dialect button", has_text="v2 BXML").first.click()
    lab.wait_for_element(".cnb-code .lm-TabBar-tab", "BXML", timeout=STEP)


def test_the_v2_preview_shows_the_gather_and_still_works_after_run_all(lab_page: LabPage,
                                                                       jupyter_lab: LabServer):
    if not jupyter_lab.notebook_path(NOTEBOOK).exists():  # added to the repo after the server started
        jupyter_lab.add_notebook(NOTEBOOKS_DIR / NOTEBOOK)
    lab_page.open_notebook(NOTEBOOK)
    lab_page.run_all(timeout=120)
    lab_page.widget("cnb-explorer").wait_for(state="visible")

    # when the form is switched to v2
    show_v2(lab_page)
    # then the preview is the <Gather> of the port that keeps v1's behaviour, not the JSON body
    preview = lab_page.wait_for_text("cnb-preview", "<Gather", "firstDigitTimeout", timeout=STEP)
    assert '"maxDigits"' not in preview and 'maxDigits="5"' in preview, preview

    # when Run All runs the notebook again: a new dashboard, switched to v2, edited
    lab_page.run_all(timeout=120)
    lab_page.widget("cnb-explorer").wait_for(state="visible")
    lab_page.wait_for_text("cnb-preview", '"maxDigits"', timeout=STEP)  # the new form starts on v1
    show_v2(lab_page)
    lab_page.fill("cnb-field-maxDigits", 4)
    lab_page.fill("cnb-field-interDigitTimeout", 3)
    # then its preview follows the fields, in BXML
    preview = lab_page.wait_for_text("cnb-preview", 'maxDigits="4"', 'firstDigitTimeout="3"', timeout=STEP)
    assert re.search(r'<Gather [^>]*interDigitTimeout="3"', preview), preview

    # and Send on the v1 session's call says what to do instead of sending
    lab_page.click("cnb-call")
    lab_page.wait_for_text("cnb-session-panel", "active", timeout=STEP)
    lab_page.click("cnb-send")
    result = lab_page.wait_for_text("cnb-send-result", "Not sent", timeout=STEP)
    assert "this call speaks v1" in result and "gtr-" not in result, result
