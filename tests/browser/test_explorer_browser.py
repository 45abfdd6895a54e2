"""The Explorer dashboard (``notebooks/02_gather_explorer.ipynb``) driven in JupyterLab like a person would.

Place a call, fill in the gather form, send, press keys on the virtual phone, and see the gather event
row arrive in the page; then type an invalid value and check the form refuses to send it. The page,
the saved notebook (widget state included) and the server log must never contain the session's API
secret or its receiver's token: the real ones, read from the kernel (a simulated session makes its own,
so the fake secret in the kernel's environment is not what a leak would show).
"""

from __future__ import annotations

import re

import kernel_secrets
import pytest

from .lab import NOTEBOOKS_DIR, LabPage, LabServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = "02_gather_explorer.ipynb"
#: Per-step deadline in seconds: generous for a loaded CI machine, short enough to fail fast.
STEP = 30
#: The form's JSON body preview: shown, and kept in step with the fields (invalid ones included).
PREVIEW = "cnb-preview"
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
#: Where the dashboard's parts sit: the form's width, the picker's rows, the keypad column's left edge.
LAYOUT_JS = """(panel) => {
    const box = (sel) => document.querySelector(panel + ' ' + sel).getBoundingClientRect();
    const tops = new Set(Array.from(document.querySelectorAll(panel + ' .cnb-terminating-picker button'))
        .map(b => Math.round(b.getBoundingClientRect().top)));
    const form = box('.cnb-gather-form');
    return {formWidth: Math.round(form.width), formRight: Math.round(form.right),
            pickerRows: tops.size, keypadLeft: Math.round(box('.cnb-keypad').left),
            overflow: Math.round(box('.cnb-countdown').right - box('.cnb-explorer').right)};
}"""


@pytest.fixture
def explorer(lab_page: LabPage, jupyter_lab: LabServer) -> LabPage:
    """The explorer notebook opened and run, its dashboard on screen."""
    if not (NOTEBOOKS_DIR / NOTEBOOK).exists():
        pytest.skip(f"the notebook {NOTEBOOK} is missing from notebooks/")
    if not jupyter_lab.notebook_path(NOTEBOOK).exists():  # added to the repo after the server started
        jupyter_lab.add_notebook(NOTEBOOKS_DIR / NOTEBOOK)
    lab_page.open_notebook(NOTEBOOK)
    lab_page.run_all(timeout=120)
    lab_page.widget("cnb-explorer").wait_for(state="visible")
    return lab_page


def test_gather_from_the_dashboard(explorer: LabPage, jupyter_lab: LabServer):
    # the form keeps its width beside the keypad (1400 px window, file browser open), and the
    # terminating-digit picker's 16 keys sit on one row
    layout = explorer.page.evaluate(LAYOUT_JS, PANEL)
    assert layout["formWidth"] == 700, layout
    assert layout["pickerRows"] == 1, layout
    assert layout["keypadLeft"] >= layout["formRight"], layout
    assert layout["overflow"] <= 0, layout  # the side column ends inside the dashboard

    # given a call placed from the session panel
    explorer.click("cnb-call")
    explorer.wait_for_text("cnb-session-panel", "active", timeout=STEP)

    # when the form is filled in (values differ from the form's defaults, so a lost edit shows)
    explorer.fill("cnb-field-maxDigits", 4)
    # 5 API s = 2.5 s of wall time at the notebook's speed 2: room for the clicks between keys
    explorer.fill("cnb-field-interDigitTimeout", 5)
    explorer.fill("cnb-field-terminatingDigits", "#")
    explorer.fill("cnb-field-tag", "browser-test")
    explorer.fill("cnb-field-prompt-sentence", "Enter your code")

    # then the preview shows the request body the kernel built from them
    explorer.wait_for_text("cnb-validation", "✔ valid", timeout=STEP)
    preview = explorer.wait_for_text(PREVIEW, "Enter your code", "browser-test", timeout=STEP)
    assert re.search(r'"maxDigits":\s*"?4"?', preview), preview
    assert re.search(r'"terminatingDigits":\s*"#"', preview), preview
    assert re.search(r'"interDigitTimeout":\s*"?5"?', preview), preview

    # when it is sent and the caller presses 1 2 3 #
    explorer.click("cnb-send")
    result = explorer.wait_for_text("cnb-send-result", "gtr-", timeout=STEP)
    gather_id = re.search(r"gtr-[a-z0-9]+", result).group(0)
    for key in ("1", "2", "3", "hash"):
        explorer.click(f"cnb-key-{key}")

    # then the gather event row appears in the event table: ended by the terminating digit, which
    # is not part of the digits
    row = explorer.wait_for_element(
        ".cnb-event-table tr[data-event-type='gather']", "terminating-digit", timeout=STEP
    )
    cells = row.locator("td").all_inner_texts()
    assert "123" in cells, cells
    assert "browser-test" in cells, cells
    assert "123#" not in cells, cells
    explorer.screenshot("explorer.png", css_class="cnb-explorer")
    explorer.screenshot("explorer-lab.png")

    # when an invalid terminating digit is typed
    explorer.fill("cnb-field-terminatingDigits", "x")

    # then the form says which property is wrong, before anything is sent
    validation = explorer.wait_for_text("cnb-validation", "terminatingDigits", timeout=STEP)
    assert "✔" not in validation
    explorer.wait_for_text(PREVIEW, "not sendable", timeout=STEP)

    # and Send refuses: the result says "Not sent" and names the property
    explorer.click("cnb-send")
    explorer.wait_for_text("cnb-send-result", "Not sent", timeout=STEP)
    result = explorer.text("cnb-send-result")
    assert "terminatingDigits" in result and "gtr-" not in result

    # and no gather reached the simulator: had one started, hanging up would deliver its gather event
    # (reason hung-up) before the hangup event, and the simulator delivers a call's events in order
    explorer.click("cnb-hangup")
    explorer.wait_for_element(".cnb-event-table tr[data-event-type='hangup']", timeout=STEP)
    gather_rows = explorer.page.locator(
        ".jp-NotebookPanel:not(.lm-mod-hidden) .cnb-event-table tr[data-event-type='gather']"
    ).all_inner_texts()
    assert len(gather_rows) == 1, gather_rows
    assert "hung-up" not in " ".join(gather_rows)
    # and that one gather is the one we sent, as the gather clock reports it
    # (the clock redraws on its own tick: wait for the frame rather than read whatever is shown)
    clock = explorer.wait_for_text("cnb-countdown-label", "terminating-digit", timeout=STEP)
    assert gather_id in clock and "terminating-digit" in clock, clock

    # (the panel says the first call ended before the next is placed: its "active" is not the new call's)
    explorer.wait_for_text("cnb-call-status", "completed", timeout=STEP)
    # when a second call is placed
    explorer.click("cnb-call")
    status = explorer.wait_for_text("cnb-call-status", "active", timeout=STEP)
    second_call = re.search(r"c-[a-z0-9]+", status).group(0)
    # then the result line and the clock no longer speak of the first call's gather, and the code
    # tabs show the new call's id
    assert gather_id not in explorer.text("cnb-send-result")
    explorer.wait_for_text("cnb-countdown-label", "no gather running", timeout=STEP)
    explorer.fill("cnb-field-terminatingDigits", "#")  # valid again, so the code tabs show code
    explorer.page.locator(f"{PANEL} .cnb-code .lm-TabBar-tab", has_text="curl").click()
    explorer.wait_for_text("cnb-code", f"/calls/{second_call}/gather", timeout=STEP)
    assert explorer.page.evaluate(LAYOUT_JS, PANEL)["formWidth"] == 700  # long lines did not squeeze it

    # and the kernel's real secrets never reached the page, the saved notebook (widget state included) or
    # the log. Break this catches: the session panel showing the receiver's unmasked /callbacks/<token>.
    saved = explorer.save()
    kernel_secrets.assert_hidden(
        kernel_secrets.read(jupyter_lab.secrets_file), page_text=explorer.page_text(),
        page_html=explorer.page_html(), saved_notebook=saved.read_text(encoding="utf-8"),
        server_log=jupyter_lab.log_text(),
    )
    assert jupyter_lab.secret not in explorer.page_text()
    assert jupyter_lab.secret not in explorer.page_html()
    assert jupyter_lab.secret not in saved.read_text(encoding="utf-8")
    assert jupyter_lab.secret not in jupyter_lab.log_text()
    assert explorer.blocked_requests == []


def test_the_explorers_requests_inspector_phone_and_call_log(explorer: LabPage, jupyter_lab: LabServer):
    page = explorer
    page.click("cnb-call")
    status = page.wait_for_text("cnb-call-status", "active", timeout=STEP)
    call_id = re.search(r"c-[a-z0-9]+", status).group(0)

    # a 0 typed into maxDigits stays 0 and is refused by name, instead of turning into 1
    page.fill("cnb-field-maxDigits", 0)
    page.wait_for_text("cnb-validation", "maxDigits", timeout=STEP)
    assert page.widget("cnb-field-maxDigits").locator("input").input_value() == "0"
    # a gather that waits long enough for the clicks below (30 API s, the most: 15 s at speed 2)
    page.fill("cnb-field-maxDigits", 2)
    page.fill("cnb-field-interDigitTimeout", 30)
    page.wait_for_text(PREVIEW, '"interDigitTimeout": "30"', timeout=STEP)
    page.wait_for_text("cnb-validation", "✔ valid", timeout=STEP)
    page.click("cnb-send")
    page.wait_for_text("cnb-send-result", "waiting for the caller", timeout=STEP)
    # the virtual phone says the prompt aloud
    page.wait_for_text("cnb-speaker-caption", "Please enter your 5 digit code", timeout=STEP)
    assert page.page.locator(f"{PANEL} .cnb-speaker audio").count() == 1

    # a second Send while the gather runs: the 409, which says to stop the gather, and there is a Stop
    page.click("cnb-send")
    page.wait_for_text("cnb-send-result", "409", timeout=STEP)
    # an edit takes the old refusal away
    page.fill("cnb-field-tag", "after-409")
    page.wait_for_text("cnb-send-result", "edited since the last try", timeout=STEP)
    assert "409" not in page.text("cnb-send-result")
    page.click("cnb-stop")
    page.wait_for_text("cnb-send-result", "stopped", timeout=STEP)
    page.click("cnb-send")
    page.wait_for_text("cnb-send-result", "waiting for the caller", timeout=STEP)
    for key in ("4", "2"):
        page.click(f"cnb-key-{key}")
    # the result line follows the gather to its end
    ended = page.wait_for_text("cnb-send-result", "ended", "max-digits", timeout=STEP)
    assert "'42'" in ended and "waiting" not in ended

    # the inspector lists the gather callback first and shows it beside the receiver's answer
    open_tab(page, "Callbacks")
    # (a <select> shows its spaces as no-break spaces: the parts are looked for one by one)
    page.wait_for_element(".cnb-inspector-list option", "gather", call_id, "200", timeout=STEP)
    detail = page.wait_for_text("cnb-inspector-detail", '"eventType": "gather"', timeout=STEP)
    assert '"digits": "42"' in detail and "Answer 200" in detail and "/callbacks/***" in detail
    page.screenshot("explorer-inspector.png", css_class="cnb-explorer-tabs")

    # Speak, Transfer and Hang up, as the application would
    page.click("cnb-speak")
    page.wait_for_text("cnb-action-result", "✔ spoke", timeout=STEP)
    open_tab(page, "Events")
    page.wait_for_element(".cnb-event-table tr[data-event-type='speak']", timeout=STEP)
    page.click("cnb-transfer")
    leg = re.search(r"new leg is (c-[a-z0-9]+)", page.wait_for_text("cnb-action-result", "✔ transferred",
                                                                     timeout=STEP)).group(1)
    # the call log lists the new leg, answered
    open_tab(page, "Calls")
    page.wait_for_element(f".cnb-history tr[data-call-id='{leg}']", "yes", timeout=STEP)
    page.click("cnb-app-hangup")
    page.wait_for_text("cnb-action-result", "✔ hung up", timeout=STEP)
    page.wait_for_element(f".cnb-history tr[data-call-id='{call_id}']", "NORMAL_CLEARING", timeout=STEP)
    page.wait_for_element(f".cnb-history tr[data-call-id='{leg}']", "NORMAL_CLEARING", timeout=STEP)
    page.screenshot("explorer-tools.png", css_class="cnb-explorer")

    # and no secret reached the page: the inspector's paths are masked
    secrets_held = kernel_secrets.read(jupyter_lab.secrets_file)
    kernel_secrets.assert_hidden(secrets_held, page_text=page.page_text(), page_html=page.page_html())
    assert page.blocked_requests == []


def open_tab(page: LabPage, title: str) -> None:
    """Show the Explorer's tab whose title starts with ``title`` (Events, Callbacks, Calls)."""
    page.page.locator(f"{PANEL} .cnb-explorer-tabs .lm-TabBar-tab", has_text=title).first.click()
