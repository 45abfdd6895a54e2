"""Every notebook is executed (nbclient), stored without outputs, and never shows a secret."""

from __future__ import annotations

import json
import lzma
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from catapult_nb.simulator import Simulator
from catapult_nb.simulator.phone import VirtualPhone

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
pytestmark = pytest.mark.notebook


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
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_are_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: clear the outputs"
    assert "widgets" not in nb.metadata, f"{path.name}: saved widget state"


@pytest.mark.parametrize("name", ["01_quickstart", "02_gather_explorer", "04_analysing_outcomes"])
def test_simulated_notebooks_run(name, tmp_path, fake_credentials):
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    execute(nb, tmp_path)
    text = outputs_text(nb)
    assert fake_credentials not in saved_text(nb)
    if name == "02_gather_explorer":  # the dashboard's widget state was saved, and holds no secret
        assert "cnb-explorer" in json.dumps(nb.metadata.get("widgets", {}))
    assert '"output_type": "error"' not in text
    if name == "01_quickstart":
        assert "inter-digit-timeout" in text and "'25'" in text
        for reason in ("max-digits", "terminating-digit", "hung-up"):
            assert reason in text


def test_call_flows_notebook_plays_the_account_code_flow(tmp_path, fake_credentials):
    nb = nbformat.read(ROOT / "notebooks" / "05_call_flows.ipynb", as_version=4)
    execute(nb, tmp_path)
    text = json.dumps([cell.get("outputs", []) for cell in nb.cells], ensure_ascii=False)
    assert '"output_type": "error"' not in text
    assert fake_credentials not in saved_text(nb)
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


def test_live_notebook_against_the_simulator_through_the_fake_tunnel(agent, tmp_path, monkeypatch):
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
        gathers = [d for d in VirtualPhone(sim.base_url).deliveries() if d["eventType"] == "gather"]
    text = outputs_text(nb)
    assert "terminating-digit" in text and "'31'" in text
    assert secret not in saved_text(nb) and "2fakeNotebookAuthtoken" not in saved_text(nb)
    # one gather, delivered once, through the tunnel's forwarder to the receiver's secret path
    assert [d["status"] for d in gathers] == [200]
    assert "/callbacks/" in gathers[0]["url"]


def test_make_demo_runs_the_quickstart_and_writes_html(tmp_path, fake_credentials):
    out = tmp_path / "build"
    proc = subprocess.run(
        [sys.executable, "-m", "catapult_nb", "demo", "--output", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=os.environ.copy(),
    )
    assert proc.returncode == 0, proc.stderr
    assert "inter-digit-timeout" in proc.stdout and "eventType" in proc.stdout
    html = (out / "01_quickstart.html").read_text()
    assert "terminating-digit" in html and fake_credentials not in html


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
    assert text.count("image/png") == 4  # reasons, hours, typing times, a call's timeline
