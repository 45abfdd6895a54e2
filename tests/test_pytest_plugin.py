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


@pytest.mark.catapult(speed=50, callback_retries=1, expect_errors=True)
def test_the_marker_sets_speed_and_retries(catapult_simulator):
    assert catapult_simulator.speed == 50
    url = catapult_simulator.serve(broken_app)
    call_id = catapult_simulator.incoming(CALLER, APP_NUMBER, url + "/cb")
    catapult_simulator.wait_for(call_id, "incomingcall")
    attempts = catapult_simulator.deliveries(call_id).query("eventType == 'incomingcall'")["attempt"]
    assert attempts.tolist() == [1, 2]


def test_a_failing_wait_says_what_was_delivered_and_what_the_app_answered(catapult_simulator):
    catapult_simulator.expect_errors()
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


def test_next_event_takes_each_event_once_and_fields_narrow_the_match(catapult_simulator, collector):
    call_id = catapult_simulator.incoming(CALLER, APP_NUMBER, collector.url("/cb"))
    assert catapult_simulator.next_event(call_id, "incomingcall")["callId"] == call_id
    with pytest.raises(CatapultWaitError, match=r"1\. incomingcall.*\(already returned\)") as failure:
        catapult_simulator.next_event(call_id, "incomingcall", timeout=0.1)
    assert isinstance(failure.value, TimeoutError)  # as every wait of the package
    with pytest.raises(CatapultWaitError, match="with to='\\+15550000000'"):
        catapult_simulator.wait_for(call_id, "incomingcall", to="+15550000000", timeout=0.1)
    events = catapult_simulator.events  # a DataFrame, as session.events
    assert events.query("callId == @call_id")["eventType"].tolist() == ["incomingcall"]
    assert [e["eventType"] for e in catapult_simulator.event_list(call_id)] == ["incomingcall"]


def test_wait_for_gives_the_first_match_and_its_old_manners_warn(catapult_simulator, collector):
    call_id = catapult_simulator.incoming(CALLER, APP_NUMBER, collector.url("/cb"))
    first = catapult_simulator.wait_for(call_id, "incomingcall")
    assert first["eventType"] == "incomingcall"
    # asked again, it waits for the next one as it used to, and says to call next_event
    with pytest.warns(DeprecationWarning, match="next_event"), pytest.raises(CatapultWaitError):
        catapult_simulator.wait_for(call_id, "incomingcall", timeout=0.1)
    # the list manners of events(call_id) and deliveries(call_id)
    with pytest.warns(DeprecationWarning, match="catapult_simulator.events is a DataFrame now"):
        assert [e["eventType"] for e in catapult_simulator.events(call_id)] == ["incomingcall"]
    with pytest.warns(DeprecationWarning, match=r"deliveries\(\) is a DataFrame now"):
        (attempt,) = list(catapult_simulator.deliveries(call_id))
    assert attempt["eventType"] == "incomingcall" and attempt["status"] == 200
    with pytest.warns(DeprecationWarning, match=r"\.rows\(\)\[0\]"):
        assert catapult_simulator.deliveries(call_id)[0] == attempt
    assert catapult_simulator.deliveries("c-none").columns[:3].tolist() == ["time", "url", "method"]


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

    catapult_simulator.expect_errors()
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

    catapult_simulator.expect_errors()  # the refused request is this test's point
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


# --------------------------------------------------------------------------------------------------
# What a failing test shows, what a test can read, and the end-of-test check


def scripted_app(simulator: CatapultSimulator, on_answer: dict | None = None, transfer_to: str | None = None):
    """A WSGI app that answers incoming calls, then on ``answer`` creates a gather (``on_answer``'s body)
    or transfers the call to ``transfer_to``."""
    import json

    import requests

    api = requests.Session()
    api.auth = (simulator.api_token, simulator.api_secret)
    calls = f"{simulator.api_url}/users/{simulator.user_id}/calls"

    def app(environ, start_response):
        event = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
        call = f"{calls}/{event['callId']}"
        if event["eventType"] == "incomingcall":
            api.post(call, json={"state": "active"}, timeout=5)
        elif event["eventType"] == "answer" and transfer_to and event["to"] != transfer_to:
            api.post(call, json={"state": "transferring", "transferTo": transfer_to}, timeout=5)
        elif event["eventType"] == "answer" and on_answer is not None:
            api.post(f"{call}/gather", json=on_answer, timeout=5)
        start_response("204 No Content", [])
        return [b""]

    return app


def test_events_carry_plain_values_and_a_failed_wait_names_them_so(catapult_simulator):
    url = catapult_simulator.serve(scripted_app(catapult_simulator, on_answer={"maxDigits": 1}))
    call_id = catapult_simulator.incoming(CALLER, APP_NUMBER, url + "/cb")
    catapult_simulator.wait_for(call_id, "answer")
    catapult_simulator.press(call_id, "7")
    gather = catapult_simulator.wait_for(call_id, "gather")
    assert type(gather["reason"]) is str and gather["reason"] == "max-digits"
    with pytest.raises(CatapultWaitError) as failure:
        catapult_simulator.wait_for(call_id, "hangup", timeout=0.2)
    assert "gather (reason='max-digits', digits='7'" in str(failure.value)
    assert "Reason." not in str(failure.value)
    # each event delivered is its own (one attempt each here), never counted as another's retry
    assert len(catapult_simulator.event_list(call_id)) == len(catapult_simulator.deliveries(call_id)) >= 3


def test_a_test_reads_the_calls_state_its_transfer_leg_and_the_apps_requests(catapult_simulator):
    # given an app that transfers the call once it is answered
    operator = "+15550100999"
    url = catapult_simulator.serve(scripted_app(catapult_simulator, transfer_to=operator))
    call_id = catapult_simulator.incoming(CALLER, APP_NUMBER, url + "/cb")
    catapult_simulator.wait_for(call_id, "answer")
    # then the new leg is a call of its own, answered, and the transferred call is bridged to it
    # (the app asked for the transfer before it answered the answer callback that wait_for waited on)
    leg = catapult_simulator.transfer_leg(call_id)
    assert leg is not None and leg.startswith("c-") and leg != call_id
    assert catapult_simulator.wait_for(leg, "answer")["to"] == operator
    assert catapult_simulator.call_state(call_id) in {"transferring", "active"}
    assert catapult_simulator.call_state(leg) == "active"
    # and the app's requests on the call are there to read, with the simulator's answers
    asked = catapult_simulator.api_requests(call_id)
    assert [(r["method"], r["path"], r["status"]) for r in asked] == [
        ("POST", f"/calls/{call_id}", 200), ("POST", f"/calls/{call_id}", 201)]
    assert catapult_simulator.transfer_leg(leg) is None
    # and waiting for an event v1 never sends says so, instead of blaming the accepted request
    with pytest.raises(CatapultWaitError) as failure:
        catapult_simulator.wait_for(call_id, "transferComplete", timeout=0.2)
    message = str(failure.value)
    assert "sends no 'transferComplete' event" in message and "transfer_leg(call_id)" in message
    assert "did your app make the request" not in message
    catapult_simulator.hang_up(call_id)
    assert catapult_simulator.wait_for(leg, "hangup")


APP_FOR_CHECK = """
import json
import pytest
import requests

def make_app(sim, answer_status="204 No Content", gather=None):
    api = requests.Session()
    api.auth = (sim.api_token, sim.api_secret)
    def app(environ, start_response):
        event = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
        call = f"{sim.api_url}/users/{sim.user_id}/calls/{event['callId']}"
        if event["eventType"] == "incomingcall":
            api.post(call, json={"state": "active"}, timeout=5)
        elif event["eventType"] == "answer" and gather is not None:
            api.post(call + "/gather", json=gather, timeout=5)
            start_response(answer_status, [])
            return [b"KeyError: 'digits'"]
        start_response("204 No Content", [])
        return [b""]
    return app

def ring(sim, app):
    url = sim.serve(app)
    call_id = sim.incoming("+15551230000", "+15557654321", url + "/cb")
    sim.wait_for(call_id, "answer")
    return call_id
"""


def test_a_test_whose_app_failed_fails_unless_it_says_it_expected_that(pytester):
    pytester.makeconftest(APP_FOR_CHECK.replace("import pytest\n", "import pytest\n\n") + """
@pytest.fixture
def make(catapult_simulator):
    return lambda **kw: make_app(catapult_simulator, **kw)
""")
    pytester.makepyfile(
        """
        import pytest
        from conftest import ring

        def test_clean(catapult_simulator, make):
            ring(catapult_simulator, make(gather={"maxDigits": 1}))

        def test_app_answers_500(catapult_simulator, make):
            ring(catapult_simulator, make(answer_status="500 INTERNAL SERVER ERROR", gather={"maxDigits": 1}))

        def test_api_refuses_a_request(catapult_simulator, make):
            ring(catapult_simulator, make(gather={"maxDigits": 99}))

        def test_expected(catapult_simulator, make):
            catapult_simulator.expect_errors()
            failing = make(answer_status="500 INTERNAL SERVER ERROR", gather={"maxDigits": 99})
            ring(catapult_simulator, failing)

        @pytest.mark.catapult(expect_errors=True)
        def test_expected_by_marker(catapult_simulator, make):
            ring(catapult_simulator, make(gather={"maxDigits": 99}))

        def test_shared_clean_after_a_failure(catapult_simulator_session):
            sim = catapult_simulator_session
            if not hasattr(sim, "rang"):
                from conftest import make_app
                sim.rang = ring(sim, make_app(sim, gather={"maxDigits": 99}))
                sim.expect_errors()

        def test_shared_next_test_does_not_inherit_it(catapult_simulator_session):
            assert catapult_simulator_session.problems() == []
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5, failed=2)
    out = result.stdout.str()
    result.stdout.re_match_lines([
        r".*your app failed during this test, though the test's own assertions passed:",
        r".*your app answered the answer callback of call c-\w+ with HTTP 500 "
        r"\(POST http://127\.0\.0\.1:\d+/cb\): KeyError: 'digits'",
    ])
    assert "the API refused POST /calls/c-" in out and "/gather → 400 validation-error" in out
    assert "catapult_simulator.expect_errors()" in out
    # the failures show the message, not the plugin's source
    assert "def pytest_runtest_call" not in out and "_end_test" not in out


def test_a_failed_wait_shows_the_tests_line_and_the_message_not_the_plugins_source(pytester):
    pytester.makepyfile(
        """
        def test_wait(catapult_simulator):
            catapult_simulator.wait_for("c-unknown", "answer", timeout=0.1)
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert 'catapult_simulator.wait_for("c-unknown", "answer", timeout=0.1)' in out
    assert "Nothing was delivered to this call" in out
    assert "self._cond.wait_for" not in out and "def wait_for" not in out
    failure = out[out.index("___ test_wait ___"):out.index("short test summary")]
    assert len(failure.splitlines()) < 15, failure


#: What the lean install leaves out (the toolkit extra brings it): made unimportable in a child process.
TOOLKIT = ("pandas", "numpy", "ipywidgets", "IPython", "pyngrok", "matplotlib", "dotenv", "tqdm", "ijson",
           "orjson", "pyarrow", "espeakng_loader", "duckdb")


def test_the_plugin_and_the_simulator_run_on_the_lean_install():
    # given a process where none of the toolkit's packages can be imported
    code = f"""
import sys
for name in {TOOLKIT!r}:
    sys.modules[name] = None
from catapult_nb.pytest_plugin import CatapultSimulator
with CatapultSimulator() as sim:
    call_id = sim.incoming("+15551230000", "+15557654321", "http://127.0.0.1:9/cb")
    print("timing", sim.phone.health()["promptTiming"], "call", call_id[:2])
try:
    from catapult_nb import Session
except ModuleNotFoundError as exc:
    print("hint", exc)
"""
    run = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", code], capture_output=True,
                         text=True, timeout=60)
    # then the simulator rings an app, timing sentences at 150 wpm without a warning, and a Session says
    # which extra brings it
    assert run.returncode == 0, run.stderr[-2000:]
    assert "timing estimate call c-" in run.stdout
    assert "pip install 'catapult_nb[toolkit]'" in run.stdout and "needs pandas" in run.stdout


def test_each_delivered_event_is_kept_apart_even_when_the_simulator_frees_the_last():
    # the simulator hands the plugin a fresh dict per event and drops it afterwards; a new dict may then
    # get the old one's id, which must not make the new event a retry of the old one
    sim = CatapultSimulator()
    record = {"attempt": 1, "status": 204, "method": "POST", "url": "http://127.0.0.1:9/cb"}
    for n in range(200):
        sim._on_delivery(record, {"eventType": "speak", "callId": "c-one", "n": n}, b"", True)
    assert [event["n"] for event in sim.event_list("c-one")] == list(range(200))
