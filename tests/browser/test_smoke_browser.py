"""The harness itself: JupyterLab, the kernel and the ipywidgets manager work together in Chromium.

Runs ``fixtures/smoke.ipynb``: an IntText, a Button and an HTML output that shows the number doubled.
"""

from __future__ import annotations

import nbformat
import pytest

from .lab import PROJECT_ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_jupyter_lab_is_isolated_and_offline(jupyter_lab):
    # given a session's JupyterLab
    status = jupyter_lab.api("/api/status")
    anonymous = jupyter_lab.api("/api/status", headers={"Authorization": ""})

    # then it answers with its token only, serves the temporary copy of notebooks/, and has the
    # news feed and update check switched off in the settings the page will load
    assert status.ok, status.text
    assert anonymous.status_code == 403
    assert jupyter_lab.url.startswith("http://127.0.0.1:")
    contents = jupyter_lab.api("/api/contents/").json()
    names = {item["name"] for item in contents["content"]}
    assert "smoke.ipynb" in names
    assert PROJECT_ROOT not in jupyter_lab.root_dir.parents
    settings = jupyter_lab.api("/lab/api/settings/@jupyterlab/apputils-extension:notification").json()
    assert settings["settings"]["fetchNews"] == "false"
    assert settings["settings"]["checkForUpdates"] is False
    assert jupyter_lab.api("/lab/api/news").json()["news"] == []
    assert jupyter_lab.api("/lab/api/update").json()["notification"] is None
    assert jupyter_lab.token not in repr(jupyter_lab)
    assert jupyter_lab.secret not in repr(jupyter_lab)


def test_smoke_widgets(lab_page, jupyter_lab):
    # given the smoke notebook, opened and run
    lab_page.open_notebook("smoke.ipynb")
    lab_page.run_all()
    first_output = lab_page.page.locator(".jp-OutputArea-output").first.inner_text()
    assert "credentials in environment: True" in first_output

    # when a number is typed and the button clicked
    lab_page.fill("cnb-smoke-input", 21)
    lab_page.click("cnb-smoke-button")

    # then the kernel's callback updates the HTML output with the doubled value
    assert "42" in lab_page.wait_for_text("cnb-smoke-out", "42", timeout=20)

    # and page_text() sees input values as well as rendered text, so a secret typed into a field
    # would be caught by the secret checks
    lab_page.fill("cnb-smoke-input", 36913)
    lab_page.click("cnb-smoke-button")
    lab_page.wait_for_text("cnb-smoke-out", "73826", timeout=20)
    text = lab_page.page_text()
    assert "36913" in text and "73826" in text

    # and the fake secret reached the kernel without reaching the page, the saved file or the log
    saved = lab_page.save()
    assert saved.parent == jupyter_lab.root_dir and saved.is_file()
    assert "widgets" in saved.read_text(encoding="utf-8")  # widget state was saved too
    assert jupyter_lab.secret not in text
    assert jupyter_lab.secret not in lab_page.page_html()
    assert jupyter_lab.secret not in saved.read_text(encoding="utf-8")
    assert jupyter_lab.secret not in jupyter_lab.log_text()

    # and the page fetched nothing beyond loopback (no fonts, news or update checks from the web)
    assert lab_page.blocked_requests == []


def test_a_failing_cell_is_reported(lab_page, jupyter_lab, tmp_path):
    # given a notebook whose second cell raises

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("raise ValueError('bad gather')"),
    ]
    source = tmp_path / "failing.ipynb"
    nbformat.write(notebook, source)
    name = jupyter_lab.add_notebook(source)

    # when it is run, run_all says which cell failed and why
    lab_page.open_notebook(name)
    with pytest.raises(AssertionError, match="ValueError: bad gather"):
        lab_page.run_all()
