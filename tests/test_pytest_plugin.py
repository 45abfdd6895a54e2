"""The pytest plugin: the ``catapult_simulator`` fixtures as a user's own test suite sees them.

The plugin reaches this suite the way it reaches a user's: through the ``pytest11`` entry point of the
installed package. Inner test runs use ``pytester``; one test installs the package into a new virtual
environment and runs the documentation's own app and test file (docs/testing-your-app.md) there, with
no conftest.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import sysconfig
import threading
from pathlib import Path

import pytest

from catapult_nb.pytest_plugin import CatapultSimulator, CatapultWaitError

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
CALLER, APP_NUMBER = "+15551230000", "+15557654321"


def broken_app(environ, start_response):
    """A WSGI app that fails every callback the way a crashing Flask view does."""
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("500 INTERNAL SERVER ERROR", [("Content-Type", "text/html")])
    return [b"<!doctype html>\n<title>500 Internal Server Error</title>\n<p>KeyError: 'digits'</p>"]


def refused(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_the_plugin_is_loaded_from_the_entry_point(pytestconfig):
    plugin = pytestconfig.pluginmanager.get_plugin("catapult_nb")
    assert plugin is not None and plugin.__name__ == "catapult_nb.pytest_plugin"


def test_the_fixture_runs_at_speed_20_with_the_simulator_credentials(catapult_simulator):
    assert catapult_simulator.speed == 20
    assert catapult_simulator.api_url == catapult_simulator.url + "/v1"
    assert (catapult_simulator.user_id, catapult_simulator.api_token) == ("u-simulator", "t-simulator")
    assert catapult_simulator.phone.health()["speed"] == 20


@pytest.mark.catapult(speed=50, callback_retries=1)
def test_the_marker_sets_speed_and_retries(catapult_simulator):
    assert catapult_simulator.speed == 50
    url = catapult_simulator.serve(broken_app)
    call_id = catapult_simulator.incoming(CALLER, APP_NUMBER, url + "/cb")
    catapult_simulator.wait_for(call_id, "incomingcall")
    assert [d["attempt"] for d in catapult_simulator.deliveries(call_id)] == [1, 2]


def test_a_failing_wait_says_what_was_delivered_and_what_the_app_answered(catapult_simulator):
    url = catapult_simulator.serve(broken_app)
    call_id = catapult_simulator.incoming(CALLER, APP_NUMBER, url + "/cb", fallback_url=url + "/fallback")

    with pytest.raises(CatapultWaitError) as failure:
        catapult_simulator.wait_for(call_id, "answer", timeout=0.5)

    message = str(failure.value)
    assert message.startswith(f"no 'answer' event for call {call_id} within 0.5 s")
    assert "1. incomingcall" in message
    assert f"attempt 1 → POST {url}/cb: HTTP 500" in message
    assert f"attempt 2 → POST {url}/fallback: HTTP 500" in message
    assert "your app answered: <!doctype html> <title>500 Internal Server Error</title>" in message
    assert "KeyError: 'digits'" in message
    assert "Nothing more came after 'incomingcall'" in message


def test_a_wait_on_a_call_that_got_nothing_says_so(catapult_simulator):
    with pytest.raises(CatapultWaitError, match="Nothing was delivered to this call: is the call id right"):
        catapult_simulator.wait_for("c-unknown", "answer", timeout=0.1)


def test_each_event_is_returned_once_and_fields_narrow_the_match(catapult_simulator, collector):
    call_id = catapult_simulator.incoming(CALLER, APP_NUMBER, collector.url("/cb"))
    catapult_simulator.wait_for(call_id, "incomingcall")
    with pytest.raises(CatapultWaitError, match=r"1\. incomingcall.*\(already returned\)"):
        catapult_simulator.wait_for(call_id, "incomingcall", timeout=0.1)
    with pytest.raises(CatapultWaitError, match="with to='\\+15550000000'"):
        catapult_simulator.wait_for(call_id, "incomingcall", to="+15550000000", timeout=0.1)
    assert [e["eventType"] for e in catapult_simulator.events(call_id)] == ["incomingcall"]


def test_the_session_scoped_fixture_is_shared_and_the_marker_is_checked(pytester):
    pytester.makepyfile(
        """
        import pytest

        urls = set()

        @pytest.mark.parametrize("n", range(3))
        def test_shared(catapult_simulator_session, n):
            urls.add(catapult_simulator_session.url)
            assert len(urls) == 1 and catapult_simulator_session.speed == 40

        @pytest.mark.catapult(speed=-1)
        def test_bad_speed(catapult_simulator):
            pass

        @pytest.mark.catapult(sped=5)
        def test_typo(catapult_simulator):
            pass
        """
    )
    pytester.makeini("[pytest]\ncatapult_speed = 40\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.re_match_lines([r".*speed must be a positive number.*", r".*got \['sped'\].*"])


def test_the_fixture_leaves_no_thread_port_or_file_behind(pytester, tmp_path):
    # given a test run that uses the fixture, an app it serves and a call to that app
    report = tmp_path / "ports.txt"
    pytester.makepyfile(
        f"""
        from urllib.parse import urlsplit

        def app(environ, start_response):
            environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            start_response("200 OK", [])
            return [b""]

        def test_call(catapult_simulator):
            url = catapult_simulator.serve(app)
            call_id = catapult_simulator.incoming("{CALLER}", "{APP_NUMBER}", url + "/cb")
            catapult_simulator.wait_for(call_id, "incomingcall")
            ports = [urlsplit(catapult_simulator.url).port, urlsplit(url).port]
            open({str(report)!r}, "w").write(" ".join(map(str, ports)))
        """
    )
    threads_before = set(threading.enumerate())
    files_before = set(os.listdir("/proc/self/fd"))

    # when it has run
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)

    # then its threads have ended, its ports are closed and no file descriptor is left open
    assert set(threading.enumerate()) - threads_before == set()
    ports = [int(p) for p in report.read_text().split()]
    assert len(ports) == 2 and all(refused(port) for port in ports)
    assert set(os.listdir("/proc/self/fd")) - files_before == set()


def test_the_class_can_be_used_without_pytest():
    with CatapultSimulator(speed=10) as sim:
        assert sim.phone.health()["status"] == "ok"
        assert "speed=10" in repr(sim)
    assert "not running" in repr(sim)


# --------------------------------------------------------------------------------------------------
# The documentation's own app and test file, in a new virtual environment with the package installed


def readme_files() -> dict[str, str]:
    """The files the "Testing your own app" page (docs/testing-your-app.md) shows, by the name it gives."""
    text = (ROOT / "docs" / "testing-your-app.md").read_text()
    blocks = re.findall(r"<!-- user-app: (\S+) -->\n```python\n(.*?)```", text, re.S)
    return dict(blocks)


def test_the_readme_shows_a_thirty_line_app_and_its_test_file():
    files = readme_files()
    assert set(files) == {"menu.py", "test_menu.py"}
    assert len(files["menu.py"].splitlines()) <= 32
    assert "catapult_simulator" in files["test_menu.py"]


@pytest.mark.slow  # a fresh virtual environment and a pip install
def test_pip_install_then_the_readme_test_file_passes_with_no_conftest(tmp_path):
    # given a new virtual environment that borrows this one's dependencies but not its catapult_nb,
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    Path(purelib, "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "catapult_nb"):
        subprocess.run(["cp", "-r", str(ROOT / name), str(source)], check=True)

    # when the package is installed with pip and the page's files are all the project has
    install = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--no-deps", str(source)],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    project = tmp_path / "my_project"
    project.mkdir()
    for name, code in readme_files().items():
        (project / name).write_text(code)
    run = subprocess.run(
        [python, "-m", "pytest", "-p", "no:cacheprovider", "-v", "test_menu.py"],
        capture_output=True, text=True, cwd=project, timeout=120,
    )

    # then the fixture came from the installed package and the tests pass
    where = subprocess.run(
        [python, "-c", "import catapult_nb.pytest_plugin as p; print(p.__file__)"],
        capture_output=True, text=True, cwd=project,
    ).stdout.strip()
    assert where.startswith(purelib), where
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "3 passed" in run.stdout


def test_a_failing_wait_shows_the_apps_api_requests_the_simulator_refused(catapult_simulator):
    # given an app that answers the call, then asks for a gather the API refuses
    import requests

    api = requests.Session()
    api.auth = (catapult_simulator.api_token, catapult_simulator.api_secret)
    calls = f"{catapult_simulator.api_url}/users/{catapult_simulator.user_id}/calls"

    def app(environ, start_response):
        import json

        event = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
        call = f"{calls}/{event['callId']}"
        if event["eventType"] == "incomingcall":
            api.post(call, json={"state": "active"}, timeout=5)
        elif event["eventType"] == "answer":
            api.post(f"{call}/gather", json={"maxDigits": 99}, timeout=5)
        start_response("204 No Content", [])
        return [b""]

    url = catapult_simulator.serve(app)
    call_id = catapult_simulator.incoming(CALLER, APP_NUMBER, url + "/cb")
    catapult_simulator.wait_for(call_id, "answer")

    with pytest.raises(CatapultWaitError) as failure:
        catapult_simulator.wait_for(call_id, "gather", timeout=0.3)
    api.close()

    message = str(failure.value)
    assert f"  POST /calls/{call_id} → 200" in message or f"  POST /calls/{call_id} → 201" in message
    assert f"  POST /calls/{call_id}/gather → 400 validation-error: " in message
    assert "maxDigits" in message


def test_the_v2_view_has_the_v2_root_account_and_credentials(catapult_simulator):
    v2 = catapult_simulator.v2
    assert v2.url == catapult_simulator.url + "/api/v2"
    assert (v2.account_id, v2.username, v2.password) == ("9900000", "t-simulator", "simulator-secret")
    assert v2.calls_url == v2.url + "/accounts/9900000/calls"
    assert "simulator-secret" not in repr(v2)


def test_a_failing_v2_wait_shows_the_invalid_bxml_and_the_apps_refused_requests(catapult_simulator):
    import requests

    v2 = catapult_simulator.v2

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/xml")])
        return [b"<Response><Gather maxDigits='99'/></Response>"]

    url = v2.serve(app)
    call_id = v2.incoming(CALLER, APP_NUMBER, url + "/initiate")
    refused = requests.post(f"{v2.calls_url}/{call_id}", json={"state": "active"},
                            auth=(v2.username, v2.password), timeout=5)
    assert refused.status_code == 400

    with pytest.raises(CatapultWaitError) as failure:
        v2.wait_for(call_id, "gather", timeout=0.5)

    message = str(failure.value)
    assert "1. initiate" in message
    assert "cause='invalid-bxml'" in message and "maxDigits must be between 1 and 50, got 99" in message
    assert f"  POST /calls/{call_id} → 400 validation: Invalid redirectUrl: is required" in message
    assert "The call has ended: nothing more will be delivered." in message
