"""Every notebook is executed (nbclient), stored without outputs, shows what it promises, and never shows a
secret: the secrets looked for are the kernel's own (its sessions' API secret and receiver token, read by
``kernel_secrets``), in the outputs, the saved notebook with its widget state, and the HTML export."""

from __future__ import annotations

import json
import lzma
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import kernel_secrets
import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter

from catapult_nb.simulator import Simulator
from catapult_nb.simulator.phone import VirtualPhone

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
pytestmark = [pytest.mark.notebook, pytest.mark.slow]


def with_parameters(nb: nbformat.NotebookNode, **values: object) -> nbformat.NotebookNode:
    """Add a cell after the one tagged ``parameters`` that sets ``values`` (papermill's convention)."""
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    source = "\n".join(f"{name} = {value!r}" for name, value in values.items())
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]}))
    return nb


def execute(nb: nbformat.NotebookNode, workdir: Path) -> nbformat.NotebookNode:
    resources = {"metadata": {"path": str(workdir)}}
    NotebookClient(nb, timeout=180, kernel_name="python3", resources=resources).execute()
    return nb


def outputs_text(nb: nbformat.NotebookNode) -> str:
    return json.dumps([cell.get("outputs", []) for cell in nb.cells])


def saved_text(nb: nbformat.NotebookNode) -> str:
    """The executed notebook as it would be saved: outputs and the widget state nbclient stores."""
    return nbformat.writes(nb)


def html_text(nb: nbformat.NotebookNode) -> str:
    """The executed notebook exported to HTML, as ``catapult-nb demo`` writes it."""
    return HTMLExporter().from_notebook_node(nb)[0]


def cell_text(nb: nbformat.NotebookNode, startswith: str) -> str:
    """The outputs (text, HTML, widget views) of the one code cell whose source starts with ``startswith``."""
    [cell] = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(startswith)]
    return json.dumps(cell.outputs)


def plain_text(nb: nbformat.NotebookNode, startswith: str) -> str:
    """The ``text/plain`` outputs and printed text of the one code cell whose source starts so."""
    [cell] = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(startswith)]
    parts = [o.get("text", "") if o.output_type == "stream" else o.get("data", {}).get("text/plain", "")
             for o in cell.outputs]
    return "\n".join(parts)


def widget_states(nb: nbformat.NotebookNode) -> list[dict]:
    """The state of every widget nbclient saved into the notebook's metadata."""
    saved = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    return [model["state"] for model in saved.get("state", {}).values()]


def assert_no_kernel_secret(nb: nbformat.NotebookNode, secrets_file: Path) -> None:
    """No secret the kernel's sessions held is in the outputs, the saved notebook or the HTML export."""
    kernel_secrets.assert_hidden(
        kernel_secrets.read(secrets_file),
        outputs=outputs_text(nb), saved_notebook=saved_text(nb), html_export=html_text(nb),
    )


@pytest.fixture
def kernel_secrets_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Kernels started by this test record their sessions' real secrets in the returned file."""
    path = tmp_path / "kernel-secrets.json"
    for name, value in kernel_secrets.install(tmp_path / "ipython", path).items():
        monkeypatch.setenv(name, value)
    return path


@pytest.fixture
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> str:
    """Fake credentials in the kernel's environment, with a secret unique to this run."""
    secret = "nb-secret-" + secrets.token_hex(8)
    monkeypatch.setenv("CATAPULT_USER_ID", "u-fake-user")
    monkeypatch.setenv("CATAPULT_API_TOKEN", "t-fake-token")
    monkeypatch.setenv("CATAPULT_API_SECRET", secret)
    return secret


def test_the_notebooks_are_these():
    assert [p.name for p in NOTEBOOKS] == [
        "01_quickstart.ipynb", "02_gather_explorer.ipynb", "03_live_account.ipynb",
        "04_analysing_outcomes.ipynb", "05_call_flows.ipynb", "06_real_outcomes.ipynb",
        "07_prompt_lab.ipynb", "08_moving_to_v2.ipynb",
    ]


#: Emoji: a blank box where no emoji font is installed (JupyterLab on a plain Linux desktop).
EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u26FF\u2700-\u27BF\uFE0F]")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_say_what_is_true_in_any_font(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        shown = EMOJI.findall(cell.source.replace("☎", ""))  # ☎ is in the common fonts (DejaVu)
        assert not shown, f"{path.name}: {shown} shows as a blank box without an emoji font"
        # sentences are timed by their rendered audio; 150 words per minute is only the estimate option
        if cell.cell_type == "markdown" and "150 words per minute" in cell.source:
            assert "estimate" in cell.source, f"{path.name}: prompts are timed by audio, not 150 wpm"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_are_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: clear the outputs"
    assert "widgets" not in nb.metadata, f"{path.name}: saved widget state"


@pytest.mark.parametrize("name", ["01_quickstart", "02_gather_explorer", "04_analysing_outcomes"])
def test_simulated_notebooks_run(name, tmp_path, fake_credentials, kernel_secrets_file):
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    execute(nb, tmp_path)
    text = outputs_text(nb)
    # The session's own secret and receiver token, read from the kernel (the environment's fake secret is
    # never used by a simulated session). Breaks this catches: the session panel showing the receiver's
    # unmasked /callbacks/<token> (02: widget state and HTML), a repr printing the secret.
    assert_no_kernel_secret(nb, kernel_secrets_file)
    assert fake_credentials not in saved_text(nb)
    assert '"output_type": "error"' not in text
    if name == "01_quickstart":
        assert "inter-digit-timeout" in text and "'25'" in text
        for reason in ("max-digits", "terminating-digit", "hung-up"):
            assert reason in text
        # the call resource as the API shows it, its callback URL's secret path masked
        resource = cell_text(nb, "resource = session.client.get_call")
        assert "cnb-call-resource" in resource and "completed" in resource
        assert "/callbacks/***" in resource and "callbackUrl" in resource
        # a request to another path than the secret one: answered 404, listed, not stored
        knocked = plain_text(nb, "import requests")
        assert "GET" in knocked and "/wp-login.php" in knocked
    if name == "02_gather_explorer":
        assert_explorer_shown(nb)
    if name == "04_analysing_outcomes":
        assert_outcomes_shown(nb)


def test_call_flows_notebook_plays_the_account_code_flow(tmp_path, fake_credentials, kernel_secrets_file):
    nb = nbformat.read(ROOT / "notebooks" / "05_call_flows.ipynb", as_version=4)
    execute(nb, tmp_path)
    text = json.dumps([cell.get("outputs", []) for cell in nb.cells], ensure_ascii=False)
    assert '"output_type": "error"' not in text
    assert fake_credentials not in saved_text(nb)
    assert_no_kernel_secret(nb, kernel_secrets_file)
    # the flow is shown as Mermaid, and a flow with a typo in a route is refused naming step and field
    assert "text/vnd.mermaid" in text and "flowchart TD" in text
    assert "step 'code', field 'routes': 'confrim' is not a step" in text
    # keys 12345 then 1: completed along code, confirm, thanks; the code is read back key by key
    assert "completed · code → confirm → thanks" in text
    assert "You entered 1 2 3 4 5." in text
    # no key at all: asked three times, sorry, then the operator
    assert "transferred · code → code → code → sorry → operator" in text
    # the player's widget state was saved (no secret in it), and the handler saw both codes
    assert "cnb-flow-player" in json.dumps(nb.metadata.get("widgets", {}))
    assert "max-digits '12345'" in text and "max-digits '54321'" in text
    # every path checked on the simulator, and written as a pytest file
    assert "100% of the edges covered; all passed: True" in text
    # written to the ignored output/ folder, not beside the notebook
    written = (tmp_path / "output" / "test_account_code_flow.py").read_text()
    assert written.startswith('"""Tests for the call flow')
    assert not (tmp_path / "test_account_code_flow.py").exists()
    # ten thousand synthetic callers, their funnel, the counted diagram, two variants compared
    assert "FlowCampaignResult('account code', 10,000 callers" in text
    assert "×" in text and "1 retry" in text and "image/png" in text
    assert_variants_side_by_side(nb)
    assert "all failed at code twice: True" in plain_text(nb, "# the same people")
    # thirty of them over the wire, the flow on real callbacks: caller by caller as on the engine
    agreed = re.search(r"(\d+) of 30 callers agree with the engine \(path, outcome and retries; seed 1", text)
    assert agreed is not None and int(agreed.group(1)) >= 27, agreed
    assert re.search(r"[\d,]+ callbacks sent, [\d,]+ stored, 0 lost", text)


def assert_variants_side_by_side(nb: nbformat.NotebookNode) -> None:
    """The two variants' funnels and counted Mermaid diagrams are laid out in one row of two columns, as
    Markdown (which JupyterLab draws, Mermaid included) and in the HTML export."""
    outputs = json.loads(cell_text(nb, "from catapult_nb.flows import FlowComparison"))
    [shown] = [o["data"] for o in outputs if "text/markdown" in o.get("data", {})]  # beside progress bars
    assert "text/html" not in shown  # JupyterLab would rank it first and not draw the diagrams
    markdown = shown["text/markdown"]
    assert "10,000 callers through each flow, the same people" in markdown
    heads, row = re.search(r"<tr>(<th.*?)</tr>\n<tr>(<td.*)</tr>\n</table>", markdown, re.S).groups()
    assert re.findall(r"<th[^>]*>([^<]*)</th>", heads) == ["2 retries", "1 retry"]
    columns = re.split(r'<td style="width: 50%[^"]*">', row)[1:]  # the two columns, not the funnels' cells
    assert len(columns) == 2
    for column, failures in zip(columns, ("3 failures ×", "2 failures ×"), strict=True):
        assert 'class="dataframe cnb-flow-funnel"' in column and column.count("```mermaid\n") == 1
        assert column.count("\nflowchart TD\n") == 1
        assert failures in column  # each diagram counts its own variant's edges
    exported = html_text(nb)
    part = exported[exported.index('class="cnb-flow-comparison"'):]
    part = part[: part.index("</table>\n</div>")]
    assert part.count('<div class="jp-Mermaid"><pre class="mermaid">') == 2


#: The Explorer's parts, by the CSS class each one carries in the saved widget state.
EXPLORER_PARTS = (
    "cnb-explorer", "cnb-session-panel", "cnb-call", "cnb-gather-form", "cnb-field-maxDigits",
    "cnb-field-interDigitTimeout", "cnb-field-terminatingDigits", "cnb-terminating-picker", "cnb-validation",
    "cnb-preview", "cnb-code", "cnb-send", "cnb-keypad", "cnb-key-hash", "cnb-hangup", "cnb-countdown",
    "cnb-event-table",
)


def assert_explorer_shown(nb: nbformat.NotebookNode) -> None:
    """Notebook 02 shows the whole dashboard (saved widget state), and its one-line equivalents ran.

    Breaks this catches: a part left out of the dashboard, the form previewing an invalid body, the
    explorer cell not displaying the widget.
    """
    classes = {c for state in widget_states(nb) for c in state.get("_dom_classes", [])}
    missing = [part for part in EXPLORER_PARTS if part not in classes]
    assert not missing, f"the explorer's saved widget state lacks {missing}"
    explorer_cell = cell_text(nb, "from catapult_nb import Session")
    assert "application/vnd.jupyter.widget-view+json" in explorer_cell
    # the form starts valid: its preview is the seed's request body, and `explorer.form.options` shows it
    previews = [s["value"] for s in widget_states(nb) if "cnb-preview" in s.get("_dom_classes", [])]
    assert previews and "maxDigits" in previews[0] and "not sendable" not in previews[0], previews
    assert "GatherOptions(" in cell_text(nb, "explorer.form.options")
    assert "eventType" in cell_text(nb, "session.events.tail()")


def assert_outcomes_shown(nb: nbformat.NotebookNode) -> None:
    """Notebook 04 shows the outcome tables, the comparison, and how many wire callers agree with the engine.

    Breaks this catches: an empty or reason-less gather table, a comparison missing an option set, a
    wire campaign that disagrees with the engine (``N of 100 callers agree`` with N < 100).
    """
    table = cell_text(nb, "table = session.gather_table()")
    assert "interDigitTimeout=7" in table and "interDigitTimeout=3" in table  # both option sets
    # the scripted keys, per option set: 12345 and 98765 fill maxDigits, 42* ends on *, 25 and silence
    # time out, 7 then a hang-up is hung-up; twice over
    counts = plain_text(nb, "analysis.reason_counts(table)")
    expected = {"max-digits": 4, "terminating-digit": 2, "inter-digit-timeout": 4, "hung-up": 2}
    for reason, count in expected.items():
        assert re.search(rf"^{reason}\s+{count}$", counts, re.M), counts
    assert "completion rate: 50%" in plain_text(nb, 'print(f"completion rate')
    comparison = plain_text(nb, "option_sets = {")
    timeout_rates = {}
    for label in ("how-to (7 s)", "strict (3 s)", "patient (10 s, long prompt)"):
        row = re.search(rf"^{re.escape(label)}\s+10000\s+(\S+)\s+(\S+)", comparison, re.M)
        assert row, f"the comparison does not show {label!r}: {comparison}"
        timeout_rates[label] = float(row.group(2))
    # the same callers time out less as the inter-digit timeout grows
    assert timeout_rates["strict (3 s)"] > timeout_rates["how-to (7 s)"] > timeout_rates[
        "patient (10 s, long prompt)"], timeout_rates
    assert "maxDigits 5" in cell_text(nb, "hash_habit = ") and "maxDigits 6" in cell_text(nb, "hash_habit = ")
    agree = re.search(r"(\d+) of (\d+) callers agree", plain_text(nb, "wire = run_campaign"))
    assert agree and agree.groups() == ("100", "100"), agree and agree.group(0)


#: Ways a notebook could show a secret; the check above must catch each one (and did, before it read the
#: kernel's secrets, catch none: it looked for a fake secret no simulated session uses).
LEAKS = {
    "receiver-url-printed": "print(session.receiver.url)",
    "receiver-url-in-widget-state-only": (
        "import ipywidgets\nshown = ipywidgets.HTML('the URL:')\ndisplay(shown)\n"
        "shown.value = session.receiver.url"
    ),
    "api-secret-in-hidden-html": (
        "from IPython.display import HTML\nHTML(f'<span hidden>{session.simulator.api_secret}</span>')"
    ),
}


@pytest.mark.parametrize("leak", LEAKS.values(), ids=list(LEAKS))
def test_the_secret_check_catches_a_leak(leak, tmp_path, kernel_secrets_file):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(
            "from catapult_nb import Session\nsession = Session.simulated(speed=10, store=':memory:')"),
        nbformat.v4.new_code_cell(leak),
        nbformat.v4.new_code_cell("session.close()"),
    ])
    execute(nb, tmp_path)
    with pytest.raises(AssertionError, match=r"is in the (outputs|saved_notebook|html_export)"):
        assert_no_kernel_secret(nb, kernel_secrets_file)


def test_live_notebook_against_the_simulator_through_the_fake_tunnel(agent, tmp_path, monkeypatch,
                                                                     kernel_secrets_file):
    secret = "live-nb-secret-" + secrets.token_hex(8)
    with Simulator(speed=20, api_secret=secret) as sim:
        monkeypatch.setenv("CATAPULT_USER_ID", sim.user_id)
        monkeypatch.setenv("CATAPULT_API_TOKEN", sim.api_token)
        monkeypatch.setenv("CATAPULT_API_SECRET", secret)
        monkeypatch.setenv("CATAPULT_FROM_NUMBER", "+19195550100")
        monkeypatch.setenv("NGROK_AUTHTOKEN", "2fakeNotebookAuthtoken")
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # the agent's config file
        nb = nbformat.read(ROOT / "notebooks" / "03_live_account.ipynb", as_version=4)
        with_parameters(nb, BASE_URL=sim.base_url, NGROK_PATH=str(agent), AUTO_PRESS="31*")
        execute(nb, tmp_path)
        gathers = [d for d in VirtualPhone(sim.base_url).deliveries().rows() if d["eventType"] == "gather"]
    text = outputs_text(nb)
    assert "terminating-digit" in text and "'31'" in text
    assert secret not in saved_text(nb) and "2fakeNotebookAuthtoken" not in saved_text(nb)
    assert_no_kernel_secret(nb, kernel_secrets_file)  # the receiver's token too
    assert secret in kernel_secrets.read(kernel_secrets_file)["api_secrets"]
    # one gather, delivered once, through the tunnel's forwarder to the receiver's secret path
    assert [d["status"] for d in gathers] == [200]
    assert "/callbacks/" in gathers[0]["url"]


def test_make_demo_runs_the_quickstart_and_writes_html(tmp_path, fake_credentials, kernel_secrets_file):
    out = tmp_path / "build"
    proc = subprocess.run(
        [sys.executable, "-m", "catapult_nb", "demo", "--output", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=os.environ.copy(),
    )
    assert proc.returncode == 0, proc.stderr
    assert "inter-digit-timeout" in proc.stdout and "eventType" in proc.stdout
    # the outcome and the tables, nothing around them: no kernel transport warning, no progress lines
    assert proc.stderr == "", proc.stderr
    assert proc.stdout.lstrip().startswith(">>> result"), proc.stdout[:200]
    # and it says where the HTML went
    written = out / "01_quickstart.html"
    assert proc.stdout.rstrip().endswith(f"The executed notebook, outputs and all: {written}")
    html = (out / "01_quickstart.html").read_text()
    assert "terminating-digit" in html and fake_credentials not in html
    # the demo kernel's own session secret and receiver token (the probe's environment is inherited)
    kernel_secrets.assert_hidden(kernel_secrets.read(kernel_secrets_file), html=html, stdout=proc.stdout)


def malformed_lines(path: Path) -> list[int]:
    """The numbers of the log's lines that are not a usable callback, found without catapult_nb."""
    bad = []
    with lzma.open(path, "rb") as log:
        for number, raw in enumerate(log, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
            except ValueError:
                bad.append(number)
                continue
            event = record.get("payload", record)
            if "gather" in record or event.get("eventType") is None:
                continue
            if "callId" not in event or not re.fullmatch(r"2026-03-0[2-8]T[0-9:.]+Z", event.get("time", "")):
                bad.append(number)
    return bad


def test_real_outcomes_notebook_imports_the_shipped_log_and_lists_its_bad_lines(tmp_path):
    log = ROOT / "notebooks" / "data" / "gather_week.jsonl.xz"
    assert log.stat().st_size < 2_000_000
    nb = nbformat.read(ROOT / "notebooks" / "06_real_outcomes.ipynb", as_version=4)
    nb = with_parameters(nb, LOG=str(log))
    execute(nb, tmp_path)
    text = outputs_text(nb)
    assert '"output_type": "error"' not in text
    # the rejected-records table lists every malformed line with its line number and a reason
    rejected = next(c for c in nb.cells if c.source.strip() == "report.rejected")
    table = rejected.outputs[0]["data"]["text/html"]
    bad = malformed_lines(log)
    assert len(bad) == 10
    assert [int(n) for n in re.findall(r"<td>(\d+)</td>\s*<td>[A-Za-z0-9-]+</td>", table)] == bad
    for reason in ("not-json", "not-utf-8", "bad-time", "no-callId"):
        assert reason in table
    # importing it again adds nothing; the questions are answered from both option sets
    assert "'imported': 0" in text
    assert "code-a completes" in text and "code-b" in text
    # the same week through ParquetEvents: the same report and table, the store's events added to it
    assert "the same report as the store's: True" in text and "the same gather table: True" in text
    assert "47,285 events before, 47,285 after" in text
    # the headline table: rates as percentages, and its empty column left out with the reason
    headline = cell_text(nb, "by_set = analysis.outcomes_by_options")
    assert "%</td>" in headline and "<th>medianTimeToFirstKey</th>" not in headline
    assert "Left out, empty in every row: medianTimeToFirstKey" in headline and "suppressDtmf" in headline
    # reasons, hours, typing times, a call's timeline, the fit's observed against fitted
    assert text.count("image/png") == 5
    # the callers fitted on code-a forecast code-b beside what it did, and options nobody tried
    forecast = cell_text(nb, "forecast = run_campaign(")
    assert "code-b really" in forecast and "timed out" in forecast
    assert "terminator_rate" in cell_text(nb, "fitted.report()")
    assert "maxDigits=6" in cell_text(nb, "untried = ")


def test_prompt_lab_hears_compares_and_costs_prompts(tmp_path, fake_credentials):
    import re

    nb = nbformat.read(ROOT / "notebooks" / "07_prompt_lab.ipynb", as_version=4)
    execute(nb, tmp_path)
    text = json.dumps([cell.get("outputs", []) for cell in nb.cells], ensure_ascii=False)
    assert '"output_type": "error"' not in text
    assert fake_credentials not in saved_text(nb)
    # players labelled with their measured length, embedded, never autoplaying
    assert "s spoken" in text and "<audio" in text and "data:audio/wav;base64," in text
    assert "autoplay=" not in text
    # the prompt comparison's table and chart
    assert "firstUsefulKeyAt" in text and "es-419+f3" in text and "image/png" in text
    # tables formatted: seconds with their unit, rates as percentages, no raw floats (2.894467)
    for start in ("lab = analysis.compare_prompts", "callers = mix("):
        shown = cell_text(nb, start)
        assert " s</td>" in shown and not re.search(r"\d\.\d{4,}", shown), start
    assert "%</td>" in cell_text(nb, "callers = mix(")
    # the voice table: one row per voice, narrow enough for the page (locale, gender, engine)
    voices = cell_text(nb, "import pandas as pd")
    assert voices.count("<th>susan</th>") == 1 and "<th>engine</th>" in voices
    # the long prompt costs callers about as much time as it takes to say
    extra, spoken = map(float, re.search(r"adds (\d+\.\d) s .*?\((\d+\.\d) s more to say", text).groups())
    assert spoken > 5 and abs(extra - spoken) < 2
    # the served recording was played; the missing one was skipped with its reason
    assert "greeting.wav" in text and "the file server answered HTTP 404" in text
    assert "prompt_timing='audio'" in text
    assert (tmp_path / "output" / "greeting.wav").is_file() and not (tmp_path / "greeting.wav").exists()


def changed_callers(text: str) -> tuple[int, int]:
    """``(changed, of)`` from a ``MigrationComparison`` repr's first line."""
    found = re.search(r"MigrationComparison\(.*?: ([\d,]+) of ([\d,]+) callers changed", text)
    assert found is not None, text[:500]
    changed, of = (int(group.replace(",", "")) for group in found.groups())
    return changed, of


def test_moving_to_v2_notebook_runs_a_v2_app_and_measures_the_ports(tmp_path, fake_credentials,
                                                                    kernel_secrets_file):
    nb = nbformat.read(ROOT / "notebooks" / "08_moving_to_v2.ipynb", as_version=4)
    execute(nb, tmp_path)
    text = outputs_text(nb)
    assert '"output_type": "error"' not in text
    assert fake_credentials not in saved_text(nb)
    assert_no_kernel_secret(nb, kernel_secrets_file)
    # a v2 call: the gather webhook's digits and terminating key, every webhook a v2 row of the DataFrame
    gathered = plain_text(nb, 'phone.press(call_id, "123#"')
    assert "'digits': '123'" in gathered and "'terminatingDigit': '#'" in gathered
    events = plain_text(nb, "session.wait_for(call_id=call_id")
    rows = re.findall(r"^\d+\s+(answer|gather|disconnect)\s+(v\d)\s", events, re.M)
    assert rows == [("answer", "v2"), ("gather", "v2"), ("disconnect", "v2")], events
    [table] = [o["data"]["text/html"] for o in json.loads(cell_text(nb, 'columns = ["dialect", "maxDigits"'))]
    cells = re.findall(r"<td>([^<]*)</td>", table)  # the options of the <Gather> served, the derived reason
    assert cells == ["v2", "5", "#", "123", "terminating-digit", "True"], table
    # the invalid BXML: the disconnect's errorMessage and the simulator's view name verb, attribute and rule
    rule = "Invalid BXML: <Gather> attribute maxDigits: maxDigits must be between 1 and 50, got 60"
    assert plain_text(nb, "answers[\"answer\"] = GATHER.replace").splitlines()[:2] == ["invalid-bxml", rule]
    view = plain_text(nb, "view = sim_view(broken)")
    assert f"invalid-bxml · {rule}" in view and 'maxDigits="60"' in view
    assert "read from {app_url}/answer" in view
    # the kept port and its checklist of what v2 cannot keep
    assert 'firstDigitTimeout="7"' in plain_text(nb, "from catapult_nb import migrate")
    checklist = cell_text(nb, "checklist = ")
    for behaviour in ("reason", "hang-up", "gatherId and state", "v1_reason", "disconnect"):
        assert behaviour in checklist, behaviour
    # the naive port breaks callers, for reasons said in words; the kept port none, gather and flow alike
    naive, of = changed_callers(plain_text(nb, "naive = migrate.compare"))
    assert of == 10_000 and naive > 0
    assert "first key later than v2's wait" in plain_text(nb, "naive = migrate.compare")
    assert changed_callers(plain_text(nb, "kept = migrate.compare")) == (0, 10_000)
    pound = plain_text(nb, "relied_on_pound = ")
    assert changed_callers(pound)[0] > 0 and "'#' ends the gather on v1; on v2 it is a digit" in pound
    flow_naive, _ = changed_callers(plain_text(nb, "flow_naive = migrate.compare"))
    assert flow_naive > 0
    assert changed_callers(plain_text(nb, "flow_kept = migrate.compare")) == (0, 10_000)
    assert "transferred" in plain_text(nb, "pd.crosstab(flow_naive")
    assert "image/png" in cell_text(nb, "naive.plot()") and "image/png" in cell_text(nb, "flow_naive.plot()")
    assert 'gatherUrl="https://your.app/code"' in plain_text(nb, "from catapult_nb.flows.examples import")
    # the same late caller on the simulator: v1 and the kept port hear the code, the naive port nothing
    wire = plain_text(nb, "SIX_SECONDS_LATE = ")
    table = dict(re.findall(r"^(v1 gather|naive port|kept port)\s+(.*?)\s*$", wire, re.M))
    assert [table[name].split() for name in ("v1 gather", "naive port", "kept port")] == [
        ["12345", "max-digits"], ["inter-digit-timeout"], ["12345", "max-digits"]], wire
    # the whole comparison over the wire: the naive port changes callers, the kept port none but those
    # the wire's delays may decide (a key or hang-up close to a deadline, counted in the agreement)
    wired = plain_text(nb, "wired = {")
    naive_wire = re.search(r"^naive port: (\d+) of 100 callers changed on the wire", wired, re.M)
    kept_wire = re.search(r"^kept port: (\d+) of 100 callers changed on the wire\n.*?\((\d+) \D",
                          wired, re.M)
    assert naive_wire and kept_wire, wired
    assert int(naive_wire.group(1)) > 0 and int(kept_wire.group(1)) <= int(kept_wire.group(2)), wired
