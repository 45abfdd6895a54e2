"""The simulator times prompts by their real audio: rendered sentences, fetched WAV/MP3 files, and files it
cannot play (a reason kept in ``GET /_sim/calls/{callId}``, the gather going on without a prompt)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import datetime

import pytest
import requests
from conftest import Api
from pytest_httpserver import HTTPServer
from test_prompts import hanging, wav_bytes

from catapult_nb import prompts
from catapult_nb.simulator import Simulator

SENTENCE = "Enter your code, then press pound."


def seconds_between(first: dict, second: dict) -> float:
    parse = lambda e: datetime.fromisoformat(e["time"].replace("Z", "+00:00"))  # noqa: E731
    return (parse(second) - parse(first)).total_seconds()


@pytest.fixture
def real_time() -> Iterator[Simulator]:
    """A simulator at speed 1, where API seconds are wall seconds."""
    with Simulator(speed=1) as sim:
        yield sim


@pytest.fixture
def files(httpserver: HTTPServer) -> HTTPServer:
    return httpserver


def prompt_events(collector, call_id: str, kind: str) -> tuple[dict, dict]:
    started = collector.wait_for_event(kind, call_id, status="started", timeout=10)
    done = collector.wait_for_event(kind, call_id, status="done", timeout=20)
    return started, done


def test_a_sentence_is_spoken_for_its_rendered_length(real_time, collector):
    # given a call on a simulator at speed 1, timing prompts by their audio (the default)
    api = Api(real_time)
    call_id = api.answered_call(collector)
    # when a gather speaks a sentence and nobody presses a key
    assert api.gather(call_id, {"interDigitTimeout": 1, "prompt": {"sentence": SENTENCE,
                                                                     "voice": "Paul"}}).status_code == 201
    started, done = prompt_events(collector, call_id, "speak")
    # then speak started -> done lasts as long as the audio espeak-ng renders
    rendered = prompts.render(SENTENCE, voice="paul").duration
    assert seconds_between(started, done) == pytest.approx(rendered, abs=0.1)
    assert rendered != pytest.approx(prompts.estimate(SENTENCE), abs=0.05)  # so the check can tell them apart
    info = real_time.phone.call_info(call_id)
    [entry] = info["prompts"]
    assert entry["kind"] == "speak" and entry["timing"] == "audio" and entry["played"] is True
    assert entry["seconds"] == pytest.approx(rendered, abs=0.001) and entry["sentence"] == SENTENCE


def test_estimate_timing_keeps_150_words_per_minute(collector):
    with Simulator(speed=1, prompt_timing="estimate") as sim:
        assert sim.phone.health()["promptTiming"] == "estimate" and "estimate" in repr(sim)
        api = Api(sim)
        call_id = api.answered_call(collector)
        api.gather(call_id, {"interDigitTimeout": 1, "prompt": {"sentence": SENTENCE}})
        started, done = prompt_events(collector, call_id, "speak")
        assert seconds_between(started, done) == pytest.approx(prompts.estimate(SENTENCE), abs=0.1)
        assert sim.phone.call_info(call_id)["prompts"][0]["timing"] == "estimate"


def test_a_file_prompt_plays_for_its_real_length(real_time, collector, files):
    # given a 1.5 s WAV on a local file server
    files.expect_request("/menu.wav").respond_with_data(wav_bytes(1.5), content_type="audio/wav")
    api = Api(real_time)
    call_id = api.answered_call(collector)
    # when a gather plays it
    api.gather(call_id, {"interDigitTimeout": 1, "prompt": {"fileUrl": files.url_for("/menu.wav")}})
    started, done = prompt_events(collector, call_id, "playback")
    # then the playback events are 1.5 API s apart, and the inter-digit clock starts after them
    assert seconds_between(started, done) == pytest.approx(1.5, abs=0.1)
    gather = collector.wait_for_event("gather", call_id, timeout=10)
    assert gather["reason"] == "inter-digit-timeout"
    assert seconds_between(done, gather) == pytest.approx(1.0, abs=0.1)
    [entry] = real_time.phone.call_info(call_id)["prompts"]
    assert entry == {**entry, "kind": "playback", "timing": "file", "played": True, "file": "menu.wav",
                     "reason": None}


def test_an_audio_file_plays_for_its_real_length(real_time, collector, files):
    files.expect_request("/hold.wav").respond_with_data(wav_bytes(1.2), content_type="audio/wav")
    api = Api(real_time)
    call_id = api.answered_call(collector)
    assert api.post(f"/calls/{call_id}/audio", {"fileUrl": files.url_for("/hold.wav")}).status_code == 200
    started, done = prompt_events(collector, call_id, "playback")
    assert seconds_between(started, done) == pytest.approx(1.2, abs=0.1)


@pytest.mark.parametrize(
    ("serve", "reason"),
    [
        (lambda r: r.respond_with_data("<html>Sign in</html>", content_type="text/html"),
         "not a WAV or MP3 file: got an HTML or XML page (served as text/html)"),
        (lambda r: r.respond_with_data("missing", status=404), "the file server answered HTTP 404 NOT FOUND"),
        (lambda r: r.respond_with_data(b"RIFF\x10\x00\x00\x00WAVEfmt junk", content_type="audio/wav"),
         "malformed WAV header"),
        (lambda r: r.respond_with_data(bytes(prompts.MAX_AUDIO_BYTES + 1), content_type="audio/wav"),
         "the file is over 10 MiB"),
    ],
    ids=["html", "404", "bad-header", "too-big"],
)
def test_a_file_that_cannot_be_played_is_skipped_with_its_reason(simulator, api, collector, files, serve,
                                                                   reason):
    serve(files.expect_request("/prompt.wav"))
    call_id = api.answered_call(collector)
    response = api.gather(call_id, {"interDigitTimeout": 2,
                                    "prompt": {"fileUrl": files.url_for("/prompt.wav")}})
    assert response.status_code == 201
    # the gather goes on as if it had no prompt: it times out, with no playback events
    gather = collector.wait_for_event("gather", call_id, timeout=10)
    assert gather["reason"] == "inter-digit-timeout"
    assert [e for e in collector.events(call_id) if e["eventType"] == "playback"] == []
    [entry] = simulator.phone.call_info(call_id)["prompts"]
    assert entry["played"] is False and entry["seconds"] == 0 and entry["reason"].startswith(reason)
    assert "127.0.0.1" not in str(entry)  # the URL (which may carry a secret path) is not repeated


def test_a_hanging_file_server_is_given_up_within_the_callback_timeout(simulator, api, collector, files):
    release = threading.Event()
    files.expect_request("/slow.wav").respond_with_handler(hanging(release))
    try:
        call_id = api.answered_call(collector, callbackTimeout=1000)
        response = api.gather(call_id, {"prompt": {"fileUrl": files.url_for("/slow.wav")}})
        assert response.status_code == 201
        [entry] = simulator.phone.call_info(call_id)["prompts"]
        assert entry["reason"] == "the file did not arrive within 1 s"
        # and the gather runs: a key completes it
        simulator.phone.press(call_id, "1#")
        assert collector.wait_for_event("gather", call_id, timeout=10)["digits"] == "1"
    finally:
        release.set()


def test_an_unplayable_audio_file_sends_no_events(simulator, api, collector, files):
    files.expect_request("/gone.mp3").respond_with_data("", status=404)
    call_id = api.answered_call(collector)
    assert api.post(f"/calls/{call_id}/audio", {"fileUrl": files.url_for("/gone.mp3")}).status_code == 200
    [entry] = simulator.phone.call_info(call_id)["prompts"]
    assert (entry["for"], entry["played"]) == ("audio", False) and "HTTP 404" in entry["reason"]
    simulator.phone.hang_up(call_id)
    collector.wait_for_event("hangup", call_id)
    assert [e["eventType"] for e in collector.events(call_id)] == ["answer", "hangup"]


def test_sim_calls_answers_404_for_an_unknown_call(simulator):
    response = requests.get(f"{simulator.base_url}/_sim/calls/c-nope", timeout=5)
    assert response.status_code == 404 and response.json()["code"] == "call-not-found"


def test_serve_audio_serves_a_local_file_the_simulator_plays_for_its_length(tmp_path):
    from catapult_nb import Session

    recording = tmp_path / "greeting.wav"
    recording.write_bytes(wav_bytes(1.3))
    with Session.simulated(speed=1, store=tmp_path / "events.sqlite3") as session:
        # given the recording served from the receiver, under its secret path
        url = session.serve_audio(recording)
        assert url.startswith(session.receiver.url + "/audio/") and url.endswith("-greeting.wav")
        assert requests.get(url, timeout=5).content == recording.read_bytes()
        guessed = url.replace("greeting", "other")
        assert requests.get(guessed, timeout=5).status_code == 404
        # when a gather plays it and nobody presses a key
        call = session.call("+15551234567")
        result = call.gather(inter_digit_timeout=1, prompt={"fileUrl": url}).wait()
        # then the playback lasted the file's length, and the inter-digit clock ran after it
        playback = call.events.query("eventType == 'playback'")
        started, done = playback["time"].iloc[0], playback["time"].iloc[1]
        assert (done - started).total_seconds() == pytest.approx(1.3, abs=0.1)
        assert result.reason == "inter-digit-timeout"
        assert session.phone.prompts(call)["played"].tolist() == [True]
        assert "estimate" not in repr(session) and "prompt_timing='audio'" in repr(session)


def test_serve_audio_refuses_what_could_not_be_played(tmp_path):
    from catapult_nb import Session

    page = tmp_path / "menu.wav"
    page.write_text("<html>not audio</html>")
    with Session.simulated(speed=10, store=tmp_path / "events.sqlite3") as session:
        with pytest.raises(prompts.AudioError, match="not a WAV or MP3 file"):
            session.serve_audio(page)
        with pytest.raises(FileNotFoundError):
            session.serve_audio(tmp_path / "missing.wav")


def test_serve_audio_takes_only_regular_files_the_simulator_would_fetch(tmp_path):
    from catapult_nb import Session

    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    big = tmp_path / "long.wav"
    big.write_bytes(wav_bytes(prompts.MAX_AUDIO_BYTES / 16000 + 1))  # a second over 10 MiB
    with Session.simulated(speed=10, store=tmp_path / "events.sqlite3") as session:
        with pytest.raises(prompts.AudioError, match=r"is over 10 MiB \(10,\d{3},\d{3} bytes\)"):
            session.serve_audio(big)
        outcome: list[BaseException | str] = []

        def serve_the_pipe() -> None:
            try:
                outcome.append(session.serve_audio(fifo))
            except Exception as exc:
                outcome.append(exc)

        worker = threading.Thread(target=serve_the_pipe, daemon=True)
        worker.start()
        worker.join(10)
        if worker.is_alive():  # it blocked opening the pipe: let it go before failing
            with open(fifo, "wb"):
                pass
        assert not worker.is_alive(), "serve_audio blocked on a named pipe"
        assert isinstance(outcome[0], prompts.AudioError) and "not a regular file" in str(outcome[0])
        with pytest.raises(prompts.AudioError, match="not a regular file"):
            session.serve_audio("/dev/zero")
