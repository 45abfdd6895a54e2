"""Recordings: a session's requests, key presses and callbacks saved, then run again against a fresh
simulator and compared callback by callback and request by request."""

from __future__ import annotations

import json
import re
import threading

import pytest

from catapult_nb import Session
from catapult_nb.api_errors import CatapultError
from catapult_nb.session import recording as recordings
from catapult_nb.session.recording import FORMAT, RecordingError

SPEED = 40


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """A session with a code entered, a gather that times out and a hang-up, saved."""
    path = tmp_path_factory.mktemp("rec") / "session.json"
    with Session.simulated(speed=SPEED, store=":memory:") as session:
        call = session.call("+15551234567")
        gather = call.gather(max_digits=5, terminating_digits="#", sentence="Enter your code")
        session.phone.press(call, "123#")
        assert gather.wait().digits == "123"
        assert call.gather(max_digits=3, inter_digit_timeout=2).wait().reason == "inter-digit-timeout"
        session.phone.hang_up(call)
        session.receiver.wait_for(call_id=call.id, event_type="hangup")
        assert session.save_recording(path) == path
        secrets = [session.receiver.url, session.receiver.path, session.client._auth.revealed()[1]]
    return path, secrets


def test_a_recording_keeps_requests_presses_and_callbacks_but_no_secret(recording):
    path, secrets = recording
    text = path.read_text()
    data = json.loads(text)
    assert (data["format"], data["version"], data["speed"]) == (FORMAT, 1, SPEED)
    posts = [(r["method"], r["path"].split("/")[-1]) for r in data["requests"] if r["method"] == "POST"]
    assert posts == [("POST", "calls"), ("POST", "gather"), ("POST", "press"), ("POST", "gather"),
                     ("POST", "hangup")]
    assert data["requests"][0]["body"]["callbackUrl"] == "{callback_url}"
    assert [c["payload"]["eventType"] for c in data["callbacks"]][-2:] == ["gather", "hangup"]
    assert not [secret for secret in secrets if secret in text]


def test_replaying_a_recording_gives_the_same_callbacks(recording):
    diff = Session.rerun_recording(recording[0])

    assert diff.same, diff
    assert list(diff.frame["recorded"]) == list(diff.frame["replayed"])
    assert "gather reason='terminating-digit' digits='123' state='completed'" in list(diff.frame["replayed"])
    assert "all the same" in repr(diff) and "✔" in diff._repr_html_()


def test_a_changed_behaviour_shows_side_by_side(recording, tmp_path):
    # given the recording with the caller typing one key fewer: the outcome the app saw must differ
    data = json.loads(recording[0].read_text())
    press = next(r for r in data["requests"] if r["path"].endswith("/press"))
    press["body"]["digits"] = "12#"
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(data))

    diff = Session.rerun_recording(changed)

    assert not diff.same
    (row,) = diff.differences.to_dict("records")
    assert row["recorded"] == "gather reason='terminating-digit' digits='123' state='completed'"
    assert row["replayed"] == "gather reason='terminating-digit' digits='12' state='completed'"
    assert "1 of 6 callbacks differ; first: call 1 #4" in repr(diff)


def test_a_request_the_api_refused_is_sent_again_and_refused_again(tmp_path):
    # given a session whose app asked for a gather on a call already over, and was refused
    path = tmp_path / "refused.json"
    with Session.simulated(speed=SPEED, store=":memory:") as session:
        call = session.call("+15551234567")
        session.phone.hang_up(call)
        session.receiver.wait_for(call_id=call.id, event_type="hangup")
        with pytest.raises(CatapultError):
            call.gather(max_digits=1)
        session.save_recording(path)
    refused = [(r["path"].split("/")[-1], r["status"]) for r in json.loads(path.read_text())["requests"]
               if r["status"] >= 400]
    assert refused and refused[-1][0] == "gather"

    # when it is played
    diff = Session.rerun_recording(path)

    # then every request was sent again and answered as it was, the refused one included
    assert diff.same, diff
    assert list(diff.requests["replayed"]) == list(diff.requests["recorded"])
    assert (diff.requests["path"].str.endswith("/gather") & (diff.requests["replayed"] >= 400)).any()


def test_a_request_answered_otherwise_makes_the_replay_differ(recording, tmp_path):
    # given the recording with the first gather's request answered otherwise when it was recorded
    data = json.loads(recording[0].read_text())
    gather = next(r for r in data["requests"] if r["path"].endswith("/gather"))
    gather["status"] = 409
    changed = tmp_path / "answered.json"
    changed.write_text(json.dumps(data))

    diff = Session.rerun_recording(changed)

    assert not diff.same and diff.frame["same"].all()  # the same callbacks, but not the same answers
    (row,) = diff.requests[~diff.requests["same"]].to_dict("records")
    assert (row["method"], row["recorded"], row["replayed"]) == ("POST", 409, 201)
    assert "was answered 409 when recorded and 201 now" in repr(diff)


def test_a_truncated_recording_is_named_and_called_truncated(recording, tmp_path):
    cut = tmp_path / "cut.json"
    cut.write_text(recording[0].read_text()[:-200])
    with pytest.raises(RecordingError, match=rf"^{cut}: the recording is truncated"):
        Session.rerun_recording(cut)


def test_a_recording_from_a_newer_version_says_to_upgrade(recording, tmp_path):
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({**json.loads(recording[0].read_text()), "version": 2}))
    upgrade = rf"^{newer}: written by a newer catapult_nb \(recording format 2\)"
    with pytest.raises(RecordingError, match=upgrade):
        Session.rerun_recording(newer)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such recording file"),
        ('{"format": "har"}', "not a catapult_nb recording"),
        ("[1, 2", "truncated"),
        ("{,}", "bad JSON at line 1, column 2"),
        (json.dumps({"format": FORMAT, "version": 1, "requests": []}), "has no list of callbacks"),
        (json.dumps({"format": FORMAT, "version": "1"}), "version is '1'"),
    ],
)
def test_other_bad_files_are_refused_with_the_file_named(tmp_path, content, message):
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(RecordingError, match=message) as failure:
        Session.rerun_recording(path)
    assert str(failure.value).startswith(str(path))


def _spoiled(recording, tmp_path, change) -> str:
    data = json.loads(recording[0].read_text())
    change(data)
    path = tmp_path / "spoiled.json"
    path.write_text(json.dumps(data))
    return str(path)


def _put(part: str, index: int, field: str | None, value: object):
    """A change to a saved recording: one field of one entry, or the whole entry when ``field`` is None."""
    if field is None:
        return lambda data: data[part].__setitem__(index, value)
    return lambda data: data[part][index].update({field: value})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_put("requests", 1, "t", 1e6), r"requests\[1\]: t is 1000000.0, .* from 0 to 14,400"),
        (_put("requests", 1, "t", "soon"), r"requests\[1\]: t is 'soon', not a number"),
        (_put("requests", 0, None, "GET /calls"), r"requests\[0\] is not a JSON object"),
        (_put("requests", 0, "after", "x"), r"requests\[0\]: after is 'x', not a whole number from 0"),
        (_put("requests", 0, "after", 10**6), r"requests\[0\]: after is 1000000, but .* has \d+ callbacks"),
        (_put("requests", 0, "method", 5), r"requests\[0\]: method is 5, not one of"),
        (_put("requests", 0, "path", None), r"requests\[0\]: path is None, not a path from /"),
        (_put("requests", 0, "query", [1]), r"requests\[0\]: query is \[1\], not an object of texts"),
        (_put("callbacks", 2, None, 7), r"callbacks\[2\] is not a JSON object"),
        (_put("callbacks", 2, "payload", "x"), r"callbacks\[2\]: payload is 'x', not a JSON object"),
        (_put("callbacks", 2, "t", float("inf")), r"callbacks\[2\]: t is inf, not a number"),
        (lambda data: data.update(speed=float("inf")), r"speed is inf, not a number from 0.001"),
    ],
)
def test_a_hostile_recording_is_refused_at_load_naming_file_and_entry(recording, tmp_path, change, message):
    path = _spoiled(recording, tmp_path, change)
    outcome: list[BaseException | None] = []

    def play() -> None:
        try:
            Session.rerun_recording(path)
            outcome.append(None)
        except BaseException as exc:  # any failure is looked at below
            outcome.append(exc)

    worker = threading.Thread(target=play, daemon=True)
    worker.start()
    worker.join(20)
    assert not worker.is_alive(), "the playback still runs after 20 s"
    assert isinstance(outcome[0], RecordingError), repr(outcome[0])
    assert str(outcome[0]).startswith(f"{path}: "), outcome[0]
    assert re.search(message, str(outcome[0])), outcome[0]


def test_the_old_names_of_a_rerun_work_and_warn(recording):
    with pytest.warns(DeprecationWarning, match=r"replay_recording\(\) is now rerun_recording\(\)"):
        assert Session.replay_recording(recording[0]).same
    with pytest.warns(DeprecationWarning, match=r"recording\.play\(\) is now rerun\(\)"):
        assert recordings.play(recording[0], open_session=Session.simulated).same
