"""Call flows: checked when built, run on the simulator over real sockets, transcripts and diagrams."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
import requests

from catapult_nb import Session
from catapult_nb.flows import Ask, Flow, FlowError, Hangup, Play, Say, Transfer
from catapult_nb.flows.examples import account_code
from catapult_nb.flows.steps import render
from catapult_nb.redact import redact_url
from catapult_nb.session import SIMULATED_FROM

SPEED = 10  # keys are pressed once a step is ready: 10 ms of scheduling is 0.1 API s


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    with Session.simulated(speed=SPEED, store=tmp_path_factory.mktemp("flows") / "events.sqlite3") as s:
        yield s


# -- building ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "start", "step", "field", "words"),
    [
        ({"a": Ask("Hi", routes={"1": "b"})}, "a", "a", "routes", "'b' is not a step"),
        ({"a": Say("Hi"), "b": Say("Lost")}, "a", "b", "unreachable", "no route"),
        ({"a": Ask("Hi", routes={"[1": "a"})}, "a", "a", "routes", "not a regular expression"),
        ({"a": Say("Hi")}, "b", None, "start", "start step 'b'"),
        ({"a": Ask("Hi", max_digits=50)}, "a", "a", "max_digits", "between"),
        ({"a": Say("You said {b}")}, "a", "a", "sentence", "names no Ask step"),
        ({"a": Say("Hi", next="b")}, "a", "a", "next", "'b' is not a step"),
        ({"a": Ask("Hi", no_input="zz")}, "a", "a", "no_input", "'zz' is not a step"),
        ({"a": Ask("Hi", retries=-1)}, "a", "a", "retries", "≥ 0"),
        ({"a": Transfer("5550100")}, "a", "a", "to", "E.164"),
        ({"a": Play("file.wav")}, "a", "a", "file_url", "http"),
        ({"a": Say("")}, "a", "a", "sentence", ""),
        ({"1a": Say("Hi")}, "1a", "1a", "name", "a word"),
        ({"a": "not a step"}, "a", "a", None, "must be Ask"),
    ],
)
def test_a_flow_that_cannot_run_fails_when_built_naming_step_and_field(steps, start, step, field, words):
    with pytest.raises(FlowError) as caught:
        Flow(steps, start=start)
    assert (caught.value.step, caught.value.field) == (step, field)
    assert words in str(caught.value)
    if step is not None:
        assert f"step {step!r}" in str(caught.value)


def test_the_account_code_flow_builds_and_knows_its_edges():
    flow = account_code()
    assert flow.start == "code" and list(flow.steps) == ["code", "confirm", "thanks", "sorry", "operator"]
    edges = {(e.source, e.target, e.kind) for e in flow.edges()}
    assert ("code", "confirm", "route") in edges and ("code", "sorry", "exhausted") in edges
    assert ("thanks", None, "next") in edges  # a Say without next hangs up
    assert Flow({"only": Hangup()}).start == "only"  # start defaults to the first step


def test_but_changes_a_step_and_checks_the_flow_again():
    flow = account_code()
    one = flow.but("1 retry", code=flow.steps["code"].but(retries=1))
    assert (one.name, one.steps["code"].retries, flow.steps["code"].retries) == ("1 retry", 1, 2)
    assert one.steps["code"].options == flow.steps["code"].options
    with pytest.raises(FlowError, match="step 'confirm', field 'routes'"):
        flow.but(confirm=flow.steps["confirm"].but(routes={"1": "nowhere"}))
    assert flow.steps["thanks"].but(next="sorry").next == "sorry"


def test_variables_are_read_key_by_key():
    assert render("You entered {code}.", {"code": "12345"}) == "You entered 1 2 3 4 5."
    assert render("You entered {code}.", {}) == "You entered ."


def test_each_step_can_be_heard_with_its_variables_filled_in():
    from catapult_nb import prompts

    flow = account_code()
    assert flow.steps["confirm"].prompt({"code": "12345"}).sentence.startswith("You entered 1 2 3 4 5.")
    heard = flow.listen("confirm", code="12345")
    expected = prompts.Listen if prompts.engine_available() else prompts.Unheard
    assert isinstance(heard, expected)
    assert isinstance(flow.listen("operator"), prompts.Unheard)  # a transfer says nothing
    with pytest.raises(KeyError, match="no step 'menu'"):
        flow.listen("menu")


def test_a_flow_draws_as_mermaid():
    flow = account_code()
    text = flow.to_mermaid(current="confirm")
    assert text.startswith("flowchart TD\n")
    assert 's_code -->|"\\d{5}"| s_confirm' in text
    assert 's_code -.->|"3 failures"| s_sorry' in text
    assert "class s_confirm current" in text
    bundle = flow._repr_mimebundle_()
    assert bundle["text/vnd.mermaid"] == flow.to_mermaid()
    assert "account code" in bundle["text/plain"] and "text/html" not in bundle  # HTML would win over Mermaid
    assert list(flow.table()["step"]) == list(flow.steps)
    assert flow.table().set_index("step").loc["thanks", "next"] == "next → hang up"


def test_quotes_and_angle_brackets_cannot_break_the_diagram():
    flow = Flow({"a": Say('Say "yes" <now> & then')})
    line = next(line for line in flow.to_mermaid().splitlines() if line.strip().startswith("s_a("))
    assert '"yes"' not in line and "<now>" not in line and "#quot;yes#quot;" in line


# -- running -------------------------------------------------------------------------------------------


def test_keys_12345_then_1_complete_the_flow_and_read_the_code_back(session):
    # given the account-code flow on a call
    run = session.call("+15551234567", flow=account_code())
    # when the caller types the code, then confirms
    session.phone.press(run.wait_step("code").call, "12345")
    session.phone.press(run.wait_step("confirm").call, "1")
    run.wait()
    # then
    assert run.outcome == "completed"
    assert run.path == ["code", "confirm", "thanks"]
    assert run.variables == {"code": "12345", "confirm": "1"}
    transcript = run.transcript
    said = list(transcript.loc[transcript["action"] == "ask", "detail"])
    assert said[1] == "You entered 1 2 3 4 5. Press 1 if that is right, 2 to try again."
    keys = transcript[transcript["action"] == "key"]
    assert "".join(keys["digits"]) == "123451"
    assert keys["time"].is_monotonic_increasing and keys["time"].iloc[0] >= 0
    assert list(transcript.columns) == ["time", "step", "action", "detail", "reason", "digits"]
    html = transcript._repr_html_()
    assert "🔊" in html and "⌨" in html and "→ confirm" in html and "1 2 3 4 5" in html
    assert "completed" in repr(run)
    assert type(transcript.head()).__name__ == "DataFrame"  # operations give plain frames


def test_no_key_at_all_asks_three_times_then_says_sorry_and_transfers(session):
    # given the account-code flow on a call whose caller never types
    run = session.call("+15551234567", flow=account_code())
    run.wait()
    # then the code step was asked three times, then sorry, then the transfer to the operator
    assert run.outcome == "transferred"
    assert run.path == ["code", "code", "code", "sorry", "operator"]
    routes = run.transcript.query("action == 'route'")
    assert list(routes["reason"]) == ["no input", "no input", "no input; exhausted after 3 tries", "spoken"]
    # and the simulator rang the operator, answered, and bridged the two calls
    leg = run.transfer_leg
    assert leg is not None and leg.to == "+15550100999"
    session.receiver.wait_for(call_id=leg.id, event_type="answer", timeout=10)
    bridge = session.client.get_call(run.call.id)["bridgeId"]
    assert session.client.get_call(leg.id)["bridgeId"] == bridge
    assert "+15550100999" in run.reason and leg.id in run.reason


def test_invalid_digits_go_round_again_and_count_as_a_failure(session):
    flow = Flow({
        "menu": Ask("Press 1 or 2.", max_digits=1, routes={"1": "one", "2": "one"}, retries=1),
        "one": Hangup(),
    })
    run = session.call("+15551234567", flow=flow)
    session.phone.press(run.wait_step("menu").call, "9")
    session.phone.press(run.wait_step("menu", visit=2).call, "7")
    run.wait()
    assert (run.outcome, run.path) == ("exhausted", ["menu", "menu"])
    routes = run.transcript.query("action == 'route'")
    assert list(routes["reason"]) == ["invalid", "invalid; exhausted after 2 tries"]


def test_the_caller_hanging_up_ends_the_run_hung_up(session):
    run = session.call("+15551234567", flow=account_code())
    session.phone.hang_up(run.wait_step("code").call)
    run.wait()
    assert run.outcome == "hung-up" and "code" in run.reason
    assert list(run.transcript["action"])[-2:] == ["gathered", "end"]


def test_an_inbound_call_is_answered_by_the_flow(session):
    flow = Flow({"hello": Say("Hello, caller.")}, name="greeting")
    run = flow.answer(session)
    call_id = session.phone.incoming("+15557654321", SIMULATED_FROM, session.callback_url)
    run.wait()
    assert (run.outcome, run.path, run.call.id) == ("completed", ["hello"], call_id)
    assert run.call.from_ == "+15557654321"


def test_stray_duplicate_and_foreign_events_do_not_disturb_a_run(session):
    # given a run waiting at its first step, and a user handler that always raises
    def broken(call, event):
        raise RuntimeError("boom")

    session.on("gather", broken)
    try:
        run = session.call("+15551234567", flow=account_code())
        run.wait_step("code")
        gather_id = session.store.gathers()["gatherId"].iloc[-1]
        # when a gather event of another gather, the same one twice, and an event of an unknown call arrive
        stray = {"eventType": "gather", "callId": run.call.id, "gatherId": "gtr-old", "reason": "max-digits",
                 "digits": "99999", "state": "completed", "time": "2026-01-01T00:00:00Z"}
        for body in (stray, stray, {**stray, "callId": "c-unknown", "gatherId": gather_id}):
            assert requests.post(session.receiver.url, json=body, timeout=5).status_code == 200
        session.wait_handlers()
        session.phone.press(run.call, "12345")
        session.phone.press(run.wait_step("confirm").call, "1")
        run.wait()
    finally:
        session.off(broken)
    # then the run went its way; the stray event (stored once) is listed as ignored, with why
    assert run.outcome == "completed" and run.path == ["code", "confirm", "thanks"]
    assert [i["gatherId"] for i in run.ignored] == ["gtr-old"], run.ignored
    assert "not the gather of the current step" in run.ignored[0]["why"]
    assert set(session.handler_errors["handler"]) == {"broken"}


def test_a_request_the_api_refuses_ends_the_run_with_error_and_why(session):
    from catapult_nb.session.session import Call

    ghost = Call(session, "c-" + "a" * 23, to="+15551234567", from_=session.from_number)
    run = account_code().run(ghost)
    assert run.wait(5).outcome == "error"
    assert "step 'code' failed" in run.reason and "could not be found" in run.reason


def test_wait_says_where_the_run_is_stuck():
    with Session.simulated(speed=1) as s:
        run = s.call("+15551234567", flow=account_code())
        with pytest.raises(TimeoutError, match=re.escape("waiting for a answer event")):
            run.wait(0.01)


def test_wait_after_the_session_closed_returns_the_stored_outcome(tmp_path):
    with Session.simulated(speed=SPEED, store=tmp_path / "e.sqlite3") as s:
        run = s.call("+15551234567", flow=Flow({"bye": Say("Bye.")}))
        unfinished = s.call("+15551234567", flow=account_code())
        run.wait()
    assert run.wait(0.01).outcome == "completed"
    assert unfinished.wait(0.01).outcome == "error"
    assert "session was closed" in unfinished.reason


def test_a_run_notifies_its_listeners_at_each_step(session):
    seen: list[str | None] = []
    ended = threading.Event()
    run = session.call("+15551234567", flow=Flow({"bye": Say("Bye.")}))
    run.add_listener(lambda r: (seen.append(r.step), r.done and ended.set()))
    assert ended.wait(10)
    assert seen[-1] == "bye"


def test_the_same_flow_runs_through_a_live_session_and_a_tunnel(live_session):
    from catapult_nb.simulator.phone import VirtualPhone

    # given a live session pointed at a simulator, callbacks crossing a (fake) ngrok tunnel
    with live_session(speed=SPEED) as (live, sim, _secret):
        phone = VirtualPhone(sim.base_url)
        # when the flow runs unchanged and the far end types the code, then 1
        run = live.call("+15551234567", flow=account_code())
        phone.press(run.wait_step("code").call.id, "12345")
        phone.press(run.wait_step("confirm").call.id, "1")
        run.wait()
        # then it went the same way as on the simulated backend, every event through the tunnel
        assert (run.outcome, run.path) == ("completed", ["code", "confirm", "thanks"])
        assert "1 2 3 4 5" in run.transcript.query("step == 'confirm' and action == 'ask'")["detail"].iloc[0]
        # the simulator's inspector needs no credentials, so it masks the receiver's secret path
        assert set(phone.deliveries(run.call.id)["url"]) == {redact_url(live.callback_url)}
        # and a caller who types nothing is transferred, as on the simulated backend
        silent = live.call("+15551234567", flow=account_code()).wait()
        assert (silent.outcome, silent.path) == ("transferred", ["code", "code", "code", "sorry", "operator"])


def test_a_counted_diagram_counts_the_way_back_in_the_box_and_a_compact_one_names_the_steps():
    from catapult_nb.flows.diagram import to_mermaid
    from catapult_nb.flows.examples import account_code

    flow = account_code()
    counts = {(edge.source, edge.target, edge.kind): 7 for edge in flow.edges()}
    text = to_mermaid(flow, counts=counts)
    # the code step's way back to itself is counted inside its box, one line a reason, the loop unlabelled
    code_box = next(line for line in text.splitlines() if line.strip().startswith("s_code["))
    assert "<br/>↻ invalid ×7<br/>↻ no input ×7" in code_box
    assert "s_code -.-> s_code\n" in text
    assert text.startswith("%%{init:") and "\nflowchart TD\n" in text
    # compact: the steps' names and kinds, not what they say
    compact = to_mermaid(flow, counts=counts, compact=True)
    assert "Please enter" not in compact and "<b>code</b><br/>ask" in compact
    # and without counts the diagram is as it was: the loop labelled, no spacing directive
    plain = to_mermaid(flow)
    assert plain.startswith("flowchart TD") and "|\"invalid / no input\"|" in plain
