"""The Session API end to end, over real sockets: simulator → receiver → store → GatherResult."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from waiting import wait_until

from catapult_nb import GatherOptions, Session, analysis
from catapult_nb.redact import redact_url
from catapult_nb.session.session import SessionError
from catapult_nb.simulator import Simulator
from catapult_nb.simulator.phone import VirtualPhone
from catapult_nb.store import EventStore

SEED = {
    "maxDigits": "5",
    "terminatingDigits": "*",
    "interDigitTimeout": "7",
    "prompt": {"sentence": "Please enter your 5 digit code"},
}
SPEED = 10  # API seconds per wall second: fast, yet 10 ms of scheduling delay is only 0.1 API s


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    store = tmp_path_factory.mktemp("session") / "events.sqlite3"
    with Session.simulated(speed=SPEED, store=store) as s:
        yield s


@pytest.fixture
def call(session: Session):
    call = session.call("+15551234567")
    yield call
    if "completed" not in call.state:
        call.hang_up()


def test_the_seed_example_ends_on_the_inter_digit_timeout_with_25(session, call):
    # given the seed's body, verbatim
    gather = call.gather(SEED)
    # when the caller types 2, 5 and then nothing
    session.phone.press(call, "25")
    result = gather.wait()
    # then
    assert (result.reason, result.digits) == ("inter-digit-timeout", "25")
    assert result.gather_id == gather.id and gather.id.startswith("gtr-")
    assert result.event["callId"] == call.id
    # the keys barge the prompt, and the gather lasts the 7 s timeout after the last key (0.25 s later)
    assert result.duration >= 7.25
    assert gather.result is result


@pytest.mark.parametrize(
    ("keys", "reason", "digits"),
    [("12345", "max-digits", "12345"), ("12*", "terminating-digit", "12"), ("", "inter-digit-timeout", "")],
)
def test_each_reason_end_to_end(session, call, keys, reason, digits):
    gather = call.gather(GatherOptions.from_wire(SEED))
    if keys:
        session.phone.press(call, keys, gap=0.1)
    result = gather.wait()
    assert (result.reason, result.digits) == (reason, digits)


def test_a_hang_up_ends_the_gather_before_the_hangup_event(session, call):
    gather = call.gather(max_digits=5, sentence="Enter your code")
    session.phone.press(call, "9")
    session.phone.hang_up(call)
    assert gather.wait().reason == "hung-up"
    session.receiver.wait_for(call_id=call.id, event_type="hangup", timeout=10)
    kinds = [e for e in call.events["eventType"].astype(str) if e in ("gather", "hangup")]
    assert kinds == ["gather", "hangup"]


def test_keyword_options_and_time_to_first_key_with_dtmf_events(session, call):
    gather = call.gather(max_digits=2, inter_digit_timeout=3, suppress_dtmf=False)
    session.phone.press(call, "47", gap=0.5)
    result = gather.wait()
    assert (result.reason, result.digits) == ("max-digits", "47")
    # the gather ended on the second key, pressed half an API second after the first
    assert result.time_to_first_key is not None and result.time_to_first_key >= 0
    assert result.duration - result.time_to_first_key == pytest.approx(0.5, abs=0.3)
    assert "suppress_dtmf" not in repr(result)


def test_an_unknown_time_to_first_key_beside_typed_digits_is_explained(session, call):
    gather = call.gather(max_digits=2, inter_digit_timeout=3)  # suppressDtmf defaults to true
    session.phone.press(call, "47", gap=0.5)
    result = gather.wait()
    assert result.digits == "47" and result.time_to_first_key is None
    why = "only a gather with suppress_dtmf=False sends the per-key events"
    assert why in repr(result) and why in result._repr_html_()


def test_stop_ends_the_gather_without_an_event(session, call):
    stopped = call.gather(max_digits=5, inter_digit_timeout=30)
    session.phone.press(call, "1")
    stopped.stop()
    assert stopped.get()["state"] == "completed"
    # a second gather is allowed once the first is stopped; its event is the call's only gather event
    after = call.gather(max_digits=1)
    session.phone.press(call, "8")
    assert after.wait().digits == "8"
    gather_events = call.events.query("eventType == 'gather'")
    assert gather_events["gatherId"].tolist() == [after.id]
    assert stopped.result is None


def test_wait_times_out_with_what_to_check():
    with Session.simulated(speed=1, store=":memory:") as slow:
        call = slow.call("+15551234567", timeout=10)
        gather = call.gather(max_digits=5, inter_digit_timeout=30)
        with pytest.raises(TimeoutError) as info:
            gather.wait(timeout=0.2)
        message = str(info.value)
        assert gather.id in message and "deliveries" in message


def test_a_busy_callee_is_reported_not_waited_for(session):
    with pytest.raises(SessionError, match="USER_BUSY"):
        session.call("+15550000002")


def test_events_and_deliveries_are_dataframes_of_this_session(session, call):
    gather = call.gather(max_digits=1)
    session.phone.press(call, "3")
    gather.wait()
    events = session.events
    assert set(events["session"]) == {session.label}
    assert {"answer", "gather"} <= set(events["eventType"].astype(str))
    deliveries = session.deliveries(call)
    assert len(deliveries) >= 2 and set(deliveries["callId"]) == {call.id}
    assert (deliveries["status"] == 200).all()
    token = session.receiver.path.rsplit("/", 1)[-1]
    assert not deliveries["url"].str.contains(token).any()
    assert deliveries["url"].str.endswith("/callbacks/***").all()


def test_what_calls_and_gathers_use_is_the_sessions_public_surface(session, call):
    # given a gather that has ended
    gather = call.gather(max_digits=1)
    session.phone.press(call, "4")
    result = gather.wait()
    # then the session reads and waits for the same events the gather did, by its public methods
    assert session.call_by_id(call.id) is call and call in session.calls
    frame = session.to_dataframe(gather_id=gather.id, event_type="gather")
    assert list(frame["digits"]) == ["4"] and frame["payload"].iloc[0] == result.event
    event = session.wait_for(gather_id=gather.id, event_type="gather", timeout=1)
    assert event["payload"] == result.event
    assert session.answer_timeout == pytest.approx(5.0 / SPEED + 10.0)


def test_reprs_show_state_and_mask_secrets(session, call):
    secret = session.simulator.api_secret
    token = session.receiver.path.rsplit("/", 1)[-1]
    gather = call.gather(max_digits=1)
    texts = [repr(session), session._repr_html_(), repr(call), call._repr_html_(), repr(gather),
             gather._repr_html_()]
    session.phone.press(call, "1")
    texts += [repr(gather.wait()), gather.wait()._repr_html_()]
    for text in texts:
        assert secret not in text and token not in text
    assert "simulated" in session._repr_html_() and "max-digits" in gather._repr_html_()


def test_live_session_through_a_tunnel_against_the_simulator(live_session):
    # given a live session pointed at a simulator, with the callback crossing a (fake) ngrok tunnel
    with live_session(speed=SPEED) as (live, sim, secret):
        assert live.callback_url.startswith(live.tunnel.public_url)
        assert live.callback_url != live.receiver.url
        with pytest.raises(SessionError, match="simulated backend"):
            _ = live.phone
        # when the simulated far end answers and types
        call = live.call("+15551234567")
        gather = call.gather(SEED)
        VirtualPhone(sim.base_url).press(call.id, "4*")
        # then the event came back through the tunnel
        result = gather.wait()
        assert (result.reason, result.digits) == ("terminating-digit", "4")
        assert secret not in repr(live) and secret not in live._repr_html_()
        urls = set(VirtualPhone(sim.base_url).deliveries(call.id)["url"])
        assert urls == {redact_url(live.callback_url)}  # the inspector needs no credentials


def test_live_without_credentials_names_the_missing_variable(tmp_path, monkeypatch):
    for name in ("CATAPULT_USER_ID", "CATAPULT_API_TOKEN", "CATAPULT_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="CATAPULT_"):
        Session.live(env_file=Path(tmp_path, ".env"), tunnel=False)


def _files_open_under(folder: Path) -> list[str]:
    """The files under ``folder`` this process holds open (SQLite databases, their WAL and SHM)."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed while we looked
            continue
        if target.startswith(str(folder)):
            held.append(target)
    return held


def _catapult_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(("catapult", "sim"))]


def test_twenty_sessions_in_a_row_leave_no_threads_ports_or_open_files(tmp_path):
    # given one session opened and closed already (imports, pools and caches warm)
    store = tmp_path / "events.sqlite3"
    Session.simulated(speed=50, store=store).close()
    threads = threading.active_count()
    ports = []
    # when a cell that opens a session is re-run 20 times
    for _ in range(20):
        with Session.simulated(speed=50, store=store) as s:
            ports.append(s.receiver.port)
    # then nothing is left behind: no thread, no SQLite handle, no listening port
    assert threading.active_count() == threads, _catapult_threads()
    assert _files_open_under(tmp_path) == []
    for port in ports[-3:]:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))


def test_events_can_still_be_read_after_the_session_closed(tmp_path):
    # given a session that stored a gather's events, then closed
    with Session.simulated(speed=SPEED, store=tmp_path / "events.sqlite3") as s:
        call = s.call("+15551234567")
        gather = call.gather(max_digits=1)
        s.phone.press(call, "7")
        assert gather.wait().digits == "7"
    # then its events (and the call's) are still there to analyse
    assert "gather" in set(s.events["eventType"].astype(str))
    assert "gather" in set(call.events["eventType"].astype(str))
    assert s.events.query("eventType == 'gather'")["payload"].iloc[0]["digits"] == "7"


def test_a_store_passed_in_is_left_open_by_close(tmp_path):
    from catapult_nb.store.store import EventStore

    with EventStore(tmp_path / "mine.sqlite3") as store:
        with Session.simulated(speed=50, store=store) as session:
            call = session.call("+15551234567")
            call.hang_up()
            session.receiver.wait_for(call_id=call.id, event_type="hangup", timeout=10)
        # the session closed, and the store it was given still holds the call's events and takes more
        assert not store.closed
        assert set(store.to_dataframe(call_id=call.id)["eventType"].astype(str)) >= {"answer", "hangup"}
        stored = len(store)
        assert store.add({"eventType": "hangup", "callId": "c-after-close", "time": "2026-01-01T00:00:00Z"})
        assert len(store) == stored + 1


def test_live_without_an_ngrok_authtoken_says_how_to_set_it_and_leaves_nothing_running(
    agent, tmp_path, monkeypatch
):
    from catapult_nb.tunnel import TunnelError

    # given a simulator standing in for the API, and no ngrok authtoken anywhere
    secret = "live-secret-" + os.urandom(6).hex()
    with Simulator(speed=SPEED, api_secret=secret) as sim:
        threads = threading.active_count()
        # when a live session is opened
        with pytest.raises(TunnelError) as caught:
            Session.live(
                user_id=sim.user_id, api_token=sim.api_token, api_secret=secret, from_number="+19195550100",
                base_url=sim.base_url, store=tmp_path / "live.sqlite3", ngrok_path=str(agent),
                config_path=str(tmp_path / "ngrok.yml"),
            )
        # then the error says what to do, shows no secret, and the receiver and its store are gone
        message = str(caught.value)
        assert "NGROK_AUTHTOKEN" in message and "ERR_NGROK_4018" in message
        assert secret not in message and "/callbacks/" not in message
        assert caught.value.__cause__ is None
        assert threading.active_count() == threads, _catapult_threads()
        assert _files_open_under(tmp_path) == []


# -- closing: waits, replaced sessions --------------------------------------------------------------------


def test_wait_after_close_returns_the_stored_result(tmp_path):
    # given a gather whose event was stored, then the session closed before anyone waited
    with Session.simulated(speed=SPEED, store=tmp_path / "events.sqlite3") as s:
        call = s.call("+15551234567")
        gather = call.gather(max_digits=1)
        s.phone.press(call, "4")
        s.receiver.wait_for(gather_id=gather.id, event_type="gather", timeout=10)
    # when the notebook waits for it afterwards, then it gets the stored result
    result = gather.wait()
    assert (result.reason, result.digits) == ("max-digits", "4")


def test_closing_a_session_wakes_a_running_wait_with_a_clear_error(tmp_path):
    from catapult_nb.store.store import EventStore

    with EventStore(tmp_path / "mine.sqlite3") as store:
        s = Session.simulated(speed=1, store=store)
        call = s.call("+15551234567", timeout=10)
        gather = call.gather(max_digits=5, inter_digit_timeout=30)
        outcome: list[BaseException] = []

        def wait() -> None:
            try:
                gather.wait(timeout=60)
            except BaseException as exc:  # handed to the test
                outcome.append(exc)

        waiter = threading.Thread(target=wait)
        waiter.start()
        # given a wait that is under way (it has read the store at least once)
        s.receiver.wait_for(call_id=call.id, event_type="answer", timeout=10)
        # when another thread closes the session
        s.close()
        # then the wait ends at once (long before its 60 s), saying why
        waiter.join(10)
        assert not waiter.is_alive()
        assert len(outcome) == 1 and isinstance(outcome[0], SessionError), outcome
        message = str(outcome[0])
        assert "closed" in message and gather.id in message and "port 0" not in message
        assert not store.closed


def test_an_unreferenced_session_is_closed_by_garbage_collection(tmp_path):
    import gc
    import weakref

    # given a session with a call and a gather that nobody refers to any more (a re-run cell)
    Session.simulated(speed=50, store=tmp_path / "warm.sqlite3").close()
    threads = threading.active_count()
    s = Session.simulated(speed=50, store=tmp_path / "events.sqlite3")
    call = s.call("+15551234567")
    call.gather(max_digits=1)
    gone = weakref.ref(s)
    port = s.receiver.port
    del s, call
    # when the garbage collector runs
    gc.collect()
    # then the session is freed and left nothing running or open (its threads may take a moment to exit)
    assert gone() is None
    wait_until(lambda: threading.active_count() == threads, about=f"no thread left ({_catapult_threads()})")
    assert _files_open_under(tmp_path) == []
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))


def test_rerunning_a_fixed_port_session_stops_the_earlier_receiver_and_simulator(tmp_path, capsys):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    first = Session.simulated(speed=50, store=tmp_path / "events.sqlite3", receiver_port=port)
    try:
        second = Session.simulated(speed=50, store=tmp_path / "events.sqlite3", receiver_port=port)
    finally:
        first_simulator_running = first.simulator.running
        first.close()
    try:
        assert not first_simulator_running and not first.receiver.running
        assert second.receiver.running and second.receiver.port == port
        notice = capsys.readouterr().err.strip().splitlines()
        assert len(notice) == 1 and "closed the earlier session" in notice[0] and str(port) in notice[0]
    finally:
        second.close()


def test_the_gather_table_of_a_session_holds_its_own_gathers_only(tmp_path):
    # given two sessions writing to one store, each with one finished gather
    store_path = tmp_path / "shared.sqlite3"
    tables = []
    for digits in ("12345", "678"):
        with Session.simulated(speed=SPEED, store=store_path) as session:
            call = session.call("+15551234567")
            call.wait_answered(timeout=10)
            gather = call.gather(max_digits=len(digits), sentence="Enter your code")
            session.phone.press(call, digits, gap=0.05)
            gather.wait()
            # when the table is asked of the session, three ways
            table = session.gather_table()
            assert table.equals(analysis.gather_table(session))
            assert table.equals(analysis.gather_table(session.events, session.gathers()))
            tables.append((gather.id, table))
    # then each session sees its own gather, with its options and outcome
    for gather_id, table in tables:
        assert list(table.index) == [gather_id]
        assert table.loc[gather_id, "reason"] == "max-digits"
    # and the store's table holds both, as the two frames give it
    with EventStore(store_path) as store:
        whole = analysis.gather_table(store)
        assert whole.equals(analysis.gather_table(store.to_dataframe(), store.gathers()))
        assert whole["maxDigits"].to_dict() == {tables[0][0]: 5, tables[1][0]: 3}


def test_ring_is_incoming_under_its_old_name_and_order(session):
    with pytest.warns(DeprecationWarning, match=r"is now Phone.incoming\(from_, to, url\)"):
        call_id = session.phone.ring(session.callback_url, from_="+15557654321")
    event = session.wait_for(call_id=call_id, event_type="incomingcall", timeout=10)
    assert event["from"] == "+15557654321"


def test_the_replaced_sessions_phone_says_it_was_replaced(tmp_path):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    first = Session.simulated(speed=50, store=tmp_path / "events.sqlite3", receiver_port=port)
    call = first.call("+15551234567")
    with Session.simulated(speed=50, store=tmp_path / "events.sqlite3", receiver_port=port) as second:
        replaced = rf"session {first.label} was closed \(a newer one replaced it on port {port}\)"
        for use in (lambda: first.phone.press(call, "1"), lambda: first.phone.hang_up(call.id)):
            with pytest.raises(SessionError, match=replaced):
                use()
    first.close()
    closed = rf"^session {second.label} was closed: open a new session$"
    with pytest.raises(SessionError, match=closed):
        second.phone.press(call, "1")
