"""Notebook 05 (call flows) after Run All, as a new user meets it: the FlowPlayer plays, at a person's pace.

The notebook's last cell closes its own session, and its runs go at speed 10; the player has a session of
its own at speed 1, so after Run All it still answers clicks, and keys a person presses 0.7 s apart do not
time out. The test runs the whole notebook in JupyterLab, then plays a call on the player the way a person
would: Place call, the five digits a key at a time, 0.7 s apart, then 1 to confirm. The virtual phone
says each prompt aloud (its speaker shows what it plays), and nothing says the session is closed.
"""

from __future__ import annotations

import pytest

from .lab import NOTEBOOKS_DIR, LabPage, LabServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = "05_call_flows.ipynb"
STEP = 30
#: A person's pace on a keypad: the gap between two keys, in milliseconds.
PERSON_GAP_MS = 700


@pytest.fixture
def call_flows(lab_page: LabPage, jupyter_lab: LabServer) -> LabPage:
    if not jupyter_lab.notebook_path(NOTEBOOK).exists():
        jupyter_lab.add_notebook(NOTEBOOKS_DIR / NOTEBOOK)
    lab_page.open_notebook(NOTEBOOK)
    lab_page.run_all(timeout=420)
    lab_page.widget("cnb-flow-player").wait_for(state="visible")
    return lab_page


def test_after_run_all_a_person_plays_the_flow_player(call_flows: LabPage, jupyter_lab: LabServer):
    page = call_flows
    player = page.widget("cnb-flow-player")
    # the player runs at a person's pace: no "too fast to play by hand" line, no closed session
    assert page.text("cnb-flow-pace").strip() == ""
    assert "closed" not in page.text("cnb-flow-status")

    # when a person places a call and types the code, a key at a time
    page.click("cnb-flow-call")
    page.wait_for_text("cnb-flow-status", "at step code", timeout=STEP)
    # the virtual phone says the prompt aloud
    caption = page.wait_for_text("cnb-speaker-caption", "Please enter your 5 digit code", timeout=STEP)
    assert "▶" in caption
    assert player.locator(".cnb-speaker audio").count() == 1
    for key in "12345":  # the fifth digit ends the gather (maxDigits 5)
        page.click(f"cnb-key-{key}")
        # the person's own pace between keys: this is the input under test, not a wait for the page
        page.page.wait_for_timeout(PERSON_GAP_MS)

    # then no key timed out: the flow reads the code back and asks to confirm
    page.wait_for_text("cnb-flow-status", "at step confirm", timeout=STEP)
    transcript = page.wait_for_text("cnb-flow-transcript", "1 2 3 4 5", timeout=STEP)
    assert "inter-digit-timeout" not in transcript
    page.wait_for_text("cnb-speaker-caption", "You entered 1 2 3 4 5", timeout=STEP)
    page.click("cnb-key-1")
    page.wait_for_text("cnb-flow-status", "completed", timeout=STEP)
    assert "closed" not in page.text("cnb-flow-player").lower()
    assert page.blocked_requests == []
