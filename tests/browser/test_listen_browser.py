"""The gather form's ▶ Listen button in JupyterLab: the browser gets an ``<audio>`` element whose length is
the one Python measured (``fixtures/listen.ipynb``: one form in en_US, one in es_MX)."""

from __future__ import annotations

import pytest

from catapult_nb import prompts

from .lab import LabPage

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = "listen.ipynb"
STEP = 30
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
SENTENCES = {
    "en_US": "Please enter your five digit account code, then press star.",
    "es_MX": "Por favor, marque su código de cinco dígitos y luego la tecla asterisco.",
}
#: The <audio> element's duration once the browser has read the file's header (NaN before).
AUDIO_DURATION_JS = """(sel) => {
    const audio = document.querySelector(sel);
    return audio && audio.readyState >= 1 && isFinite(audio.duration) ? audio.duration : null;
}"""


@pytest.mark.parametrize("locale", ["en_US", "es_MX"])
def test_listen_gives_an_audio_element_as_long_as_the_measured_prompt(lab_page: LabPage, locale: str):
    # given the notebook with the two forms, run
    lab_page.open_notebook(NOTEBOOK)
    lab_page.run_all(timeout=120)
    form = f"{PANEL} .cnb-form-{locale}"
    measured = prompts.render(SENTENCES[locale], locale=locale).duration
    shown = lab_page.page.locator(f"{form} .cnb-spoken").inner_text()
    assert shown == f"{measured:.1f} s spoken"
    assert lab_page.page.locator(f"{form} audio").count() == 0 or not lab_page.page.locator(
        f"{form} audio").is_visible()

    # when its Listen button is pressed
    lab_page.page.locator(f"{form} button.cnb-listen").click()

    # then an <audio> element appears, paused (nothing autoplays), and as long as Python measured
    audio = f"{form} audio"
    lab_page.page.wait_for_function(f"() => ({AUDIO_DURATION_JS})({audio!r}) !== null", timeout=STEP * 1000)
    duration = lab_page.page.evaluate(AUDIO_DURATION_JS, audio)
    assert abs(duration - measured) <= 0.050, (locale, duration, measured)
    assert lab_page.page.evaluate("(sel) => document.querySelector(sel).paused", audio)
    assert lab_page.page.evaluate("(sel) => document.querySelector(sel).autoplay", audio) is False
    lab_page.screenshot(f"listen-{locale}.png", css_class=f"cnb-form-{locale}")
