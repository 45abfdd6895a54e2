"""A session on Bandwidth's Voice API v2, over real sockets: simulator → receiver (answering with BXML) →
store → results; flows on v2; live v2 credentials through a (fake) ngrok tunnel, never shown."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from waiting import wait_until

from catapult_nb import Session
from catapult_nb.flows import Ask, Flow, Say
from catapult_nb.flows.examples import account_code
from catapult_nb.migrate import gather as kept_port
from catapult_nb.session.calls import SessionError
from catapult_nb.session.v2 import V2Call, V2GatherResult
from catapult_nb.session.v2_client import V2ApiError, load_v2_credentials
from catapult_nb.simulator import Simulator
from catapult_nb.simulator.phone import VirtualPhone

ROOT = Path(__file__).resolve().parent.parent
SEED = {
    "maxDigits": "5",
    "terminatingDigits": "*",
    "interDigitTimeout": "7",
    "prompt": {"sentence": "Please enter your 5 digit code"},
}
SPEED = 10
V2_NAMES = ("BANDWIDTH_ACCOUNT_ID", "BANDWIDTH_USERNAME", "BANDWIDTH_PASSWORD", "BANDWIDTH_APPLICATION_ID",
            "BANDWIDTH_FROM_NUMBER", "BANDWIDTH_VOICE_URL")


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    store = tmp_path_factory.mktemp("session_v2") / "events.sqlite3"
    with Session.simulated(speed=SPEED, store=store, api="v2") as s:
        yield s


def documents(session: Session, call_id: str) -> list[str]:
    """The BXML documents the simulator's call fetched, oldest first."""
    return [d["bxml"] for d in session.phone._phone.call_info(call_id)["documents"]]


def disconnect_of(session: Session, call_id: str) -> dict:
    return session.wait_for(call_id=call_id, event_type="disconnect", timeout=20)["payload"]


# -- the seed, on v2 --------------------------------------------------------------------------------


def test_the_seed_example_runs_on_v2_as_a_gather_that_keeps_v1s_behaviour(session):
    call = session.call("+15551234567")
    assert isinstance(call, V2Call)
    gather = call.gather(SEED)
    session.phone.press(call, "25")
    result = gather.wait()
    assert isinstance(result, V2GatherResult)
    assert (result.digits, result.terminating_digit, result.reason) == ("25", "", "inter-digit-timeout")
    assert "(derived)" in repr(result) and "migrate.v1_reason" in result._repr_html_()
    # the v2 webhook as sent: no reason, the gather's id as its tag
    assert "reason" not in result.event and result.event["tag"] == gather.id
    assert result.duration is not None and result.duration >= 7.25  # the 7 s timeout after the last key
    # the document the call fetched is the port that keeps behaviour (firstDigitTimeout = interDigitTimeout)
    fetched = next(d for d in documents(session, call.id) if gather.id in d)
    kept = ('maxDigits="5"', 'terminatingDigits="*"', 'interDigitTimeout="7"', 'firstDigitTimeout="7"')
    for attribute in kept:
        assert attribute in fetched
    # and the call is still up, for the next gather, as a v1 call is
    second = call.gather(max_digits=2)  # v1's default terminating key, '#', kept
    session.phone.press(call, "4#")
    assert (second.wait().digits, second.wait().reason) == ("4", "terminating-digit")
    call.hang_up()
    assert disconnect_of(session, call.id)["cause"] == "hangup"


@pytest.mark.parametrize(("port", "digits", "ended_by", "reason"), [
    ("kept", "1", "#", "terminating-digit"),  # v1's default terminating key, written out
    ("naive", "1#", "", "inter-digit-timeout"),  # v2 has none: '#' is a digit
])
def test_the_port_decides_what_hash_does(session, port, digits, ended_by, reason):
    call = session.call("+15551234567")
    gather = call.gather(max_digits=5, inter_digit_timeout=2, port=port)
    session.phone.press(call, "1#")
    result = gather.wait()
    assert (result.digits, result.terminating_digit, result.reason) == (digits, ended_by, reason)
    call.hang_up()


def test_a_migration_is_sent_as_it_is_and_a_hang_up_reads_as_hung_up(session):
    call = session.call("+15551234567")
    gather = call.gather(kept_port({"maxDigits": "3", "interDigitTimeout": "30"}))
    assert 'interDigitTimeout="30"' in gather.bxml and gather.id in gather.bxml
    session.phone.press(call, "9")
    session.phone.hang_up(call)
    result = gather.wait()
    assert (result.reason, result.digits) == ("hung-up", "")  # v2 sends no gather webhook then
    assert result.event["eventType"] == "disconnect"


def test_the_sessions_gather_table_has_one_row_per_gather_as_wait_read_it(session):
    """Each ``call.gather`` is recorded as the ``<Gather>`` the call fetched: its webhook joins it in
    ``session.gather_table()`` (one row, under the gather's id, with its options), and the table's derived
    reason and duration are the ones ``gather.wait()`` gave; a hang-up is a row too."""
    call = session.call("+15551234567")
    typed = call.gather({"maxDigits": "3", "interDigitTimeout": "2", "prompt": {"sentence": "Enter"}})
    session.phone.press(call, "123")  # three keys of three: max-digits, which the webhook does not say
    typed_result = typed.wait()
    silent = call.gather(max_digits=4, inter_digit_timeout=30)
    session.phone.hang_up(call)
    silent_result = silent.wait()

    table = session.gather_table()
    assert table.index.is_unique
    rows = table.loc[[typed.id, silent.id]]
    assert rows["reason"].tolist() == [typed_result.reason, silent_result.reason] == ["max-digits", "hung-up"]
    assert rows["maxDigits"].tolist() == [3, 4] and rows.loc[typed.id, "prompt.sentence"] == "Enter"
    assert rows["reasonDerived"].all() and (rows["dialect"] == "v2").all()
    assert rows.loc[typed.id, "duration"] == pytest.approx(typed_result.duration)
    assert rows.loc[typed.id, "digits"] == "123"
    stored = session.gathers().set_index("gatherId").loc[typed.id, "options"]
    assert session.receiver.path not in str(stored) and stored["gatherUrl"]  # the secret path masked


def test_a_call_that_is_not_answered_says_why(session):
    with pytest.raises(SessionError, match=r"not answered \(busy\)"):
        session.call("+15551230002")


def test_bad_input_gets_clear_errors(session):
    call = session.call("+15551234567")
    with pytest.raises(ValueError, match="port must be 'kept'"):
        call.gather(max_digits=2, port="literal")
    call.hang_up()
    with pytest.raises(V2ApiError, match="ended"):
        call.gather(max_digits=2)  # a redirect of an ended call is a 409 that says so


def test_bxml_is_a_v2_argument():
    refused = pytest.raises(SessionError, match="api='v2'")
    with Session.simulated(speed=SPEED, store=":memory:") as v1, refused:
        v1.call("+15551234567", bxml="<Response/>")
    with pytest.raises(ValueError, match=r"api must be 'v1'.*'v2'"):
        Session.simulated(api="v3")


# -- the app's own BXML: bxml= and handlers ---------------------------------------------------------


def test_bxml_answers_the_call_and_a_handler_answers_its_gather(session):
    seen = []

    @session.on("gather")
    def read_back(call, event):
        seen.append(event)
        return f"<Response><SpeakSentence>You typed {event['digits']}</SpeakSentence><Hangup/></Response>"

    try:
        url = session.callback_url
        bxml = f'<Response><Gather gatherUrl="{url}" maxDigits="2"/></Response>'
        call = session.call("+15551234567", bxml=bxml)
        session.phone.press(call, "42")
        assert disconnect_of(session, call.id)["cause"] == "hangup"
        assert [e["digits"] for e in seen] == ["42"]
        fetched = documents(session, call.id)
        assert "<Gather" in fetched[0] and "You typed 42" in fetched[1]
        kinds = list(session.to_dataframe(call_id=call.id)["eventType"])
        assert kinds == ["answer", "gather", "disconnect"]  # stored as sent, in the one store
        assert session.handler_errors.empty
    finally:
        session.off(read_back)


def test_a_handler_that_returns_nothing_answers_an_empty_response(session):
    def quiet(call, event):
        return None

    session.on("gather", quiet)
    try:
        call = session.call("+15551234567", bxml=f'<Response><Gather gatherUrl="{session.callback_url}" '
                                                 'maxDigits="1"/><SpeakSentence>never</SpeakSentence></Response>')
        session.phone.press(call, "7")
        assert disconnect_of(session, call.id)["cause"] == "hangup"  # no verbs left
        assert documents(session, call.id)[-1].endswith("<Response/>")
    finally:
        session.off(quiet)


def test_a_handler_that_fails_or_returns_junk_is_recorded_and_the_call_ends_cleanly(session):
    def broken(call, event):
        raise RuntimeError("the app's bug")

    def junk(call, event):
        return 42

    session.on("gather", broken)
    session.on("gather", junk)
    try:
        before = len(session.handler_errors)
        call = session.call("+15551234567", bxml=f'<Response><Gather gatherUrl="{session.callback_url}" '
                                                 'maxDigits="1"/></Response>')
        session.phone.press(call, "7")
        assert disconnect_of(session, call.id)["cause"] == "hangup"
        errors = session.handler_errors.iloc[before:]
        assert list(errors["handler"]) == ["broken", "junk"]
        assert "the app's bug" in errors["error"].iloc[0]
        assert "a v2 handler returns the BXML" in errors["error"].iloc[1]
    finally:
        session.off(broken)
        session.off(junk)


def test_objects_with_to_bxml_and_migrations_are_answers(session):
    class Document:  # the SDK's BXML classes have this method (tests/sdk_v2 runs the SDK itself)
        def to_bxml(self) -> str:
            return "<Response><SpeakSentence>from an object</SpeakSentence></Response>"

    answers = iter([Document(), kept_port({"maxDigits": "1"})])

    def answer(call, event):
        return next(answers, None)

    session.on("gather", answer)
    try:
        call = session.call("+15551234567", bxml=f'<Response><Gather gatherUrl="{session.callback_url}" '
                                                 'maxDigits="1"/></Response>')
        session.phone.press(call, "1")
        assert disconnect_of(session, call.id)["cause"] == "hangup"
        assert "from an object" in documents(session, call.id)[-1]
    finally:
        session.off(answer)


def test_the_sdks_bxml_classes_answer_webhooks_unchanged():
    sdk = Path(os.environ.get("CATAPULT_SDK_V2") or ROOT / "build" / "sdk-v2")
    if not (sdk / "bandwidth" / "models" / "bxml").is_dir():
        sdk = Path("/work/main/build/sdk-v2")  # a worktree shares main's copy
    if not (sdk / "bandwidth" / "models" / "bxml").is_dir():
        pytest.fail(f"the v2 SDK is missing from {sdk}: run `make test` (it installs it)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(sdk), str(ROOT)])}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(ROOT / "tests" / "sdk_v2" /
                                                                           "check_session_v2.py")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"\b1 passed", result.stdout), result.stdout[-2000:]


# -- flows on v2 --------------------------------------------------------------------------------------


def test_a_flow_runs_on_v2_unchanged(session):
    flow = account_code()
    run = session.call("+15551234567", flow=flow)
    run.wait_step("code")
    session.phone.press(run.call, "12345")
    run.wait_step("confirm")
    session.phone.press(run.call, "1")
    run.wait(30)
    assert (run.outcome, run.path) == ("completed", ["code", "confirm", "thanks"])
    assert run.variables == {"code": "12345", "confirm": "1"}
    transcript = run.transcript
    gathered = transcript[transcript["action"] == "gathered"]
    assert list(gathered["reason"]) == ["max-digits", "max-digits"]  # derived from v2's webhooks
    said = transcript[transcript["action"] == "route"]
    assert list(said["reason"])[-1] == "spoken"
    # each step's document is the flow's v2 port (the one translation): the code step keeps '*'
    fetched = "\n".join(documents(session, run.call.id))
    assert 'terminatingDigits="*"' in fetched and 'firstDigitTimeout="7"' in fetched
    assert "Thank you. Goodbye." in fetched
    assert not run.ignored


def test_a_flows_no_input_and_hang_up_on_v2(session):
    flow = Flow({"menu": Ask("Press 1.", max_digits=1, inter_digit_timeout=1, routes={"1": "bye"},
                             no_input="menu", retries=1), "bye": Say("Bye.")}, start="menu", name="menu")
    run = session.call("+15551234567", flow=flow)
    run.wait_step("menu", visit=2)  # the first time out came back here
    session.phone.hang_up(run.call)
    run.wait(30)
    assert run.outcome == "hung-up" and run.path == ["menu", "menu"]


def test_check_and_to_pytest_run_a_flows_cases_on_v2(session, tmp_path):
    flow = account_code()
    result = flow.check(session)
    assert result.passed and result.edges["covered"].all(), result.cases
    path = flow.to_pytest(tmp_path / "test_account_code_v2.py", speed=50, api="v2")
    assert 'API = "v2"' in path.read_text() or "API = 'v2'" in path.read_text()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:]
    assert f"{len(result.cases)} passed" in done.stdout
    with pytest.raises(ValueError, match="api must be"):
        flow.to_pytest(tmp_path / "x.py", api="v9")


# -- live v2: credentials, the tunnel, secrets never shown ---------------------------------------------


def test_live_v2_through_a_tunnel_against_the_simulator_never_shows_the_password(agent, tmp_path,
                                                                                 monkeypatch):
    monkeypatch.setenv("NGROK_AUTHTOKEN", "2fakeAuthtokenForTheLiveTests")
    password = "v2-password-" + os.urandom(6).hex()
    with Simulator(speed=SPEED, api_secret=password) as sim:
        # the credentials from a .env file, as a user keeps them
        env_file = tmp_path / ".env"
        env_file.write_text(f"BANDWIDTH_ACCOUNT_ID={sim.account_id}\nBANDWIDTH_USERNAME={sim.api_token}\n"
                            f"BANDWIDTH_PASSWORD={password}\nBANDWIDTH_APPLICATION_ID=a-notebook\n"
                            f"BANDWIDTH_FROM_NUMBER=+19195550100\nBANDWIDTH_VOICE_URL={sim.v2_api_url}\n")
        for name in V2_NAMES:
            monkeypatch.delenv(name, raising=False)
        with Session.live(api="v2", env_file=env_file, store=tmp_path / "live.sqlite3", ngrok_path=str(agent),
                          config_path=str(tmp_path / "ngrok.yml")) as live:
            assert live.callback_url.startswith(live.tunnel.public_url)
            call = live.call("+15551234567")
            gather = call.gather(SEED)
            # through the tunnel the call reads the <Gather> a hop after the receiver sent it: a key pressed
            # in between reaches no Gather and is lost, as on a real line
            phone = VirtualPhone(sim.base_url)
            wait_until(lambda: any(gather.id in d["bxml"] for d in phone.call_info(call.id)["documents"]),
                       about="the call to read the <Gather>")
            phone.press(call.id, "4*")
            result = gather.wait()
            assert (result.digits, result.terminating_digit, result.reason) == ("4", "*", "terminating-digit")
            shown = [repr(live), live._repr_html_(), repr(live.client), repr(call), repr(result),
                     str(live.summary()), repr(load_v2_credentials(env_file))]
            for text in shown:
                assert password not in text
            assert sim.account_id in live._repr_html_()
            call.hang_up()
        # a wrong password: the API's refusal, without the password
        with Session.live(api="v2", env_file=env_file, password="wrong-" + password, tunnel=False,
                          store=":memory:") as wrong:
            with pytest.raises(V2ApiError) as refused:
                wrong.call("+15551234567")
            assert refused.value.status == 401 and password not in str(refused.value)


def test_live_v2_without_credentials_names_every_missing_variable_and_no_value(tmp_path, monkeypatch):
    for name in V2_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BANDWIDTH_PASSWORD", "hunter2-secret")
    with pytest.raises(ValueError) as missing:
        Session.live(api="v2", env_file=tmp_path / ".env", tunnel=False)
    text = str(missing.value)
    for name in V2_NAMES[:2] + V2_NAMES[3:5]:
        assert name in text
    assert "BANDWIDTH_PASSWORD" not in text and "hunter2" not in text
    monkeypatch.setenv("BANDWIDTH_PASSWORD", "has a space")
    with pytest.raises(ValueError, match="cannot be sent") as unusable:
        load_v2_credentials(None, account_id="1", username="u", application_id="a", from_number="+1")
    assert "has a space" not in str(unusable.value)
