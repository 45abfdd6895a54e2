"""catapult_nb.prompts: offline text-to-speech, audio decoding, fetching files, timing, listening."""

from __future__ import annotations

import asyncio
import io
import struct
import threading
import time
import wave
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hostile_servers import RawServer, dripping, dripping_head
from pytest_httpserver import HTTPServer
from werkzeug import Response

from catapult_nb import prompts
from catapult_nb.options import GatherOptions, OptionError, Prompt
from catapult_nb.prompts import espeak

SENTENCE = "Please enter your five digit account code, then press star."


def wav_bytes(seconds: float, rate: int = 8000, width: int = 2, channels: int = 1) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(bytes(int(seconds * rate) * width * channels))
    return out.getvalue()


def mulaw_wav(seconds: float, rate: int = 8000) -> bytes:
    """A G.711 mu-law WAV (format 7), which the standard library's wave module does not read."""
    samples = int(seconds * rate)
    fmt = struct.pack("<HHIIHH", 7, 1, rate, rate, 1, 8)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", samples)
    return b"RIFF" + struct.pack("<I", len(body) + samples) + body + bytes([0xFF]) * samples


def mp3_bytes(frames: int) -> bytes:
    """Constant-bitrate MPEG-1 layer III frames (128 kbit/s, 44.1 kHz) of silence: 1152 samples each."""
    return (bytes([0xFF, 0xFB, 0x90, 0x64]) + bytes(413)) * frames


@pytest.fixture
def files(httpserver: HTTPServer) -> HTTPServer:
    """pytest-httpserver's server, named for what it serves here: audio files (and pages that are not)."""
    return httpserver


def hanging(release: threading.Event) -> Callable[[Any], Response]:
    """A file-server handler that answers only once ``release`` is set (or after 15 s)."""

    def hang(_request: Any) -> Response:
        release.wait(15)
        return Response(wav_bytes(1.0), content_type="audio/wav")

    return hang


@pytest.fixture
def no_engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A machine without libespeak-ng: no wheel, no system library."""
    monkeypatch.setattr(espeak, "_candidates", lambda: iter(()))
    monkeypatch.setattr(prompts.timing, "_warned", False)
    espeak.reset()
    prompts.cache_clear()
    yield
    espeak.reset()


# -- text-to-speech ------------------------------------------------------------------------------------


def test_render_gives_a_wav_whose_length_is_the_duration():
    spoken = prompts.render(SENTENCE)
    info = prompts.decode(spoken.wav)
    assert (info.format, info.sample_rate, info.channels) == ("wav", spoken.sample_rate, 1)
    assert info.duration == pytest.approx(spoken.duration, abs=1e-6)
    # ten words at about 150 words per minute
    assert 2.5 < spoken.duration < 6.0
    assert spoken.voice == prompts.EngineVoice("susan", "en_US", "female", "en-us+f3")
    assert "susan en_US as espeak-ng en-us+f3" in repr(spoken) and "RIFF" not in repr(spoken)


def test_render_is_cached_by_sentence_and_resolved_voice():
    first = prompts.render("Press one for sales.")
    assert prompts.render("Press one for sales.", voice="Susan", locale="en_us", gender="female") is first
    other = prompts.render("Press one for sales.", voice="paul")
    assert other is not first and other.voice.engine == "en-us+m3"
    assert other.wav != first.wav


def test_the_render_cache_is_bounded_by_its_bytes_not_only_its_entries(monkeypatch):
    from catapult_nb.prompts import tts

    monkeypatch.setattr(tts, "CACHE_BYTES", 1_500_000, raising=False)
    prompts.cache_clear()
    try:
        sentences = [f"Menu {n}: " + "press one for sales, two for support, " * 5 for n in range(8)]
        renders = [prompts.render(sentence) for sentence in sentences]  # about 0.6 MB of WAV each
        assert sum(len(r.wav) for r in renders) > 3 * tts.CACHE_BYTES
        held = [r.wav for r in tts._CACHE.values()]
        assert sum(map(len, held)) <= tts.CACHE_BYTES and 1 <= len(held) < len(sentences)
        assert prompts.cache_info() == (len(held), sum(map(len, held)))
        assert prompts.render(sentences[-1]) is renders[-1]  # the newest stays
        assert prompts.render(sentences[0]) is not renders[0]  # the oldest went
    finally:
        prompts.cache_clear()


def test_spanish_is_rendered_in_spanish():
    spanish = prompts.render("Por favor, marque su código de cinco dígitos.", locale="es_MX")
    assert spanish.voice == prompts.EngineVoice("esperanza", "es_MX", "female", "es-419+f3")
    assert spanish.duration > 1.5
    male = prompts.render("Por favor, marque su código.", locale="es_MX", gender="male")
    assert male.voice.voice == "jorge"


@pytest.mark.parametrize(
    ("voice", "locale", "gender", "expected"),
    [
        (None, None, None, ("susan", "en_US", "female", "en-us+f3")),
        (None, None, "male", ("paul", "en_US", "male", "en-us+m3")),
        ("jorge", None, None, ("jorge", "es_MX", "male", "es-419+m3")),
        (None, "es", None, ("esperanza", "es", "female", "es+f3")),
        ("Simon", "en_UK", "female", ("simon", "en_UK", "male", "en+m3")),  # the voice names a speaker
        ("luca", "en_US", None, ("luca", "en_US", "male", "en-us+m3")),  # the locale sets the language
        (None, "DE_de", None, ("katrin", "de_DE", "female", "de+f3")),
    ],
)
def test_voices_resolve_by_locale_then_voice_then_gender(voice, locale, gender, expected):
    assert tuple(prompts.resolve_voice(voice, locale, gender)) == expected


def test_every_v1_voice_has_an_engine_voice_that_renders():
    table = prompts.voice_table()
    assert len(table) == 16
    for row in table:
        assert prompts.render("One two three.", voice=row["voice"], locale=row["locale"]).duration > 0.3


@pytest.mark.parametrize(
    ("kwargs", "prop", "words"),
    [
        ({"text": "x" * 1001}, "prompt.sentence", "at most 1000 characters"),
        ({"text": "Hi", "voice": "hal"}, "prompt.voice", "must be one of"),
        ({"text": "Hi", "locale": "pt_BR"}, "prompt.locale", "must be one of"),
        ({"text": "Hi", "gender": "robot"}, "prompt.gender", "female or male"),
    ],
)
def test_bad_input_is_the_apis_validation_error(kwargs, prop, words):
    with pytest.raises(OptionError) as raised:
        prompts.render(**kwargs)
    assert raised.value.prop == prop and words in str(raised.value)


# -- a machine without the engine ------------------------------------------------------------------------


def test_without_the_engine_render_says_how_to_install(no_engine):
    assert not prompts.engine_available()
    with pytest.raises(prompts.EngineMissing, match="pip install espeakng-loader"):
        prompts.render(SENTENCE)


def test_without_the_engine_timing_falls_back_to_150_words_per_minute_and_warns_once(no_engine):
    with pytest.warns(UserWarning, match="pip install espeakng-loader.*150 words per minute"):
        length = prompts.measure(SENTENCE)
    assert (length.seconds, length.timing) == (4.0, "estimate")
    assert "espeakng-loader" in length.reason
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert prompts.duration("one two three") == pytest.approx(1.2)


def test_without_the_engine_listen_shows_the_reason_instead_of_failing(no_engine):
    note = Prompt(sentence=SENTENCE).listen()
    assert isinstance(note, prompts.Unheard)
    assert "espeakng-loader" in note._repr_html_() and "4.0 s" in note._repr_html_()


# -- timing --------------------------------------------------------------------------------------------


def test_audio_timing_is_the_rendered_length_and_estimate_is_the_old_rule():
    audio = prompts.measure(Prompt(sentence=SENTENCE, voice="kate"))
    assert audio == prompts.PromptLength(prompts.render(SENTENCE, voice="kate").duration, "speak", "audio")
    assert prompts.measure(SENTENCE, "estimate") == prompts.PromptLength(4.0, "speak", "estimate")
    assert prompts.estimate("Hi") == 0.5
    assert prompts.duration(GatherOptions(max_digits=1)) == 0.0
    assert prompts.duration({"sentence": "   "}) == 0.0
    with pytest.raises(ValueError, match="'audio' or 'estimate'"):
        prompts.measure(SENTENCE, "wpm")


def test_a_file_prompt_is_timed_by_its_real_length(files):
    files.expect_request("/menu.wav").respond_with_data(wav_bytes(2.5), content_type="audio/wav")
    length = prompts.measure(Prompt(file_url=files.url_for("/menu.wav")))
    assert length.kind == "playback" and length.timing == "file"
    assert length.seconds == pytest.approx(2.5)
    assert prompts.duration(Prompt(file_url=files.url_for("/menu.wav"))) == pytest.approx(2.5)


def test_the_duration_of_a_file_that_cannot_be_fetched_is_an_error_with_the_reason(files):
    files.expect_request("/gone.wav").respond_with_data("Not found", status=404)
    missing = Prompt(file_url=files.url_for("/gone.wav"))
    with pytest.raises(prompts.AudioError, match=r"cannot be played.*HTTP 404.*prompts\.measure"):
        prompts.duration(missing)
    # measure says the same without raising: 0 s, as long as the simulator plays it, and why
    length = prompts.measure(missing)
    assert length.seconds == 0.0 and "HTTP 404" in length.reason


# -- decoding ------------------------------------------------------------------------------------------


def test_decode_reads_pcm_wav_mulaw_wav_and_mp3():
    assert prompts.decode(wav_bytes(1.25, rate=16000, channels=2)).duration == pytest.approx(1.25)
    mulaw = prompts.decode(mulaw_wav(3.0))
    assert (mulaw.format, mulaw.sample_rate) == ("wav", 8000) and mulaw.duration == pytest.approx(3.0)
    mp3 = prompts.decode(mp3_bytes(100))
    assert mp3.format == "mp3" and mp3.duration == pytest.approx(100 * 1152 / 44100, abs=0.02)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<!DOCTYPE html><html><body>Not found</body></html>", "not a WAV or MP3 file: got an HTML"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00", "malformed WAV header"),
        (wav_bytes(1.0)[:30], "malformed WAV header"),
        (b"\xff\xfb" + b"garbage" * 10, "not a readable MP3"),
        (b"", "the file is empty"),
        (b'{"error": "nope"}', "got JSON"),
    ],
)
def test_undecodable_files_give_a_one_line_reason(data, reason):
    with pytest.raises(prompts.AudioError) as raised:
        prompts.decode(data)
    assert reason in str(raised.value) and "\n" not in str(raised.value)


# -- fetching ------------------------------------------------------------------------------------------


def fetch_both(url: str, timeout: float = 2.0) -> list[str | prompts.AudioInfo]:
    """The same URL through the simulator's transport and the synchronous one."""
    results: list[str | prompts.AudioInfo] = []
    for fetch in (lambda: asyncio.run(prompts.fetch_audio(url, timeout=timeout)),
                  lambda: prompts.fetch_audio_sync(url, timeout=timeout)):
        try:
            results.append(fetch())
        except prompts.AudioError as exc:
            results.append(str(exc))
    return results


def test_fetch_reads_a_served_wav(files):
    files.expect_request("/ok.wav").respond_with_data(wav_bytes(1.5), content_type="audio/x-wav")
    for info in fetch_both(files.url_for("/ok.wav")):
        assert isinstance(info, prompts.AudioInfo) and info.duration == pytest.approx(1.5)


def test_fetch_refuses_html_404_oversized_and_non_http(files):
    files.expect_request("/page").respond_with_data("<html>login</html>", content_type="text/html")
    files.expect_request("/gone.wav").respond_with_data("nope", status=404)
    big = prompts.MAX_AUDIO_BYTES + 1
    files.expect_request("/huge.wav").respond_with_data(wav_bytes(1.0) + bytes(big))
    assert fetch_both(files.url_for("/page")) == ["not a WAV or MP3 file: got an HTML or XML page "
                                                  "(served as text/html)"] * 2
    assert fetch_both(files.url_for("/gone.wav")) == ["the file server answered HTTP 404 NOT FOUND"] * 2
    for reason in fetch_both(files.url_for("/huge.wav")):
        assert reason.startswith("the file is over 10 MiB")
    not_http = "the file URL is not an absolute http or https URL"
    assert fetch_both("ftp://example.invalid/a.wav") == [not_http] * 2


def test_a_hanging_file_server_gives_a_reason_within_the_deadline(files):
    release = threading.Event()
    files.expect_request("/slow.wav").respond_with_handler(hanging(release))
    try:
        reasons = fetch_both(files.url_for("/slow.wav"), timeout=0.3)
        assert reasons == ["the file did not arrive within 0.3 s"] * 2
    finally:
        release.set()


def test_reasons_never_repeat_the_url(files):
    files.expect_request("/callbacks/s3cr3t/x.wav").respond_with_data("no", status=403)
    url = files.url_for("/callbacks/s3cr3t/x.wav").replace("http://", "http://user:pw@")
    for reason in fetch_both(url):
        assert "s3cr3t" not in reason and "pw" not in reason


# -- listening ------------------------------------------------------------------------------------------


def test_listen_embeds_a_labelled_player_that_does_not_autoplay():
    player = GatherOptions(sentence=SENTENCE).listen()
    assert isinstance(player, prompts.Listen)
    assert player.duration == prompts.render(SENTENCE).duration
    page = player._repr_html_()
    assert "<audio" in page and "autoplay=" not in page and "data:audio/wav;base64," in page
    assert f"{player.duration:.1f} s spoken" in page and player.label == f"{player.duration:.1f} s spoken"
    assert "approximated by espeak-ng" in page


def test_listen_to_a_file_embeds_its_bytes_not_its_url(files):
    path = "/callbacks/s3cr3t/menu.mp3"
    files.expect_request(path).respond_with_data(mp3_bytes(60), content_type="audio/mpeg")
    player = Prompt(file_url=files.url_for("/callbacks/s3cr3t/menu.mp3")).listen()
    assert isinstance(player, prompts.Listen) and player.label == "1.6 s played"
    assert "s3cr3t" not in player._repr_html_() and "data:audio/mpeg;base64," in player._repr_html_()


def test_listen_to_nothing_or_a_broken_file_says_why(files):
    files.expect_request("/gone.wav").respond_with_data("", status=404)
    assert "no prompt to hear" in GatherOptions(max_digits=3).listen().reason
    assert "HTTP 404" in Prompt(file_url=files.url_for("/gone.wav")).listen().reason


# -- the prompt lab ------------------------------------------------------------------------------------


def test_compare_prompts_tables_words_seconds_wpm_and_when_a_key_is_useful():
    from catapult_nb import analysis

    long_sentence = ("Welcome to Example Bank. Calls may be recorded. Please enter your five digit account "
                     "code, then press star.")
    lab = analysis.compare_prompts({
        "short": "Enter your code.",
        "long": long_sentence,
        "spanish": Prompt(sentence="Marque su código.", locale="es_MX"),
        "patient": GatherOptions(inter_digit_timeout=10, sentence="Enter your code."),
    })
    table = lab.table
    assert list(table.index) == ["short", "long", "spanish", "patient"]
    assert table.loc["long", "words"] == 18
    assert table.loc["long", "seconds"] == prompts.render(long_sentence).duration
    assert table.loc["long", "wpm"] == pytest.approx(18 / table.loc["long", "seconds"] * 60)
    assert (table["firstUsefulKeyAt"] == table["seconds"]).all()
    assert table.loc["short", "timesOutAt"] == pytest.approx(table.loc["short", "seconds"] + 5)
    assert table.loc["patient", "timesOutAt"] == pytest.approx(table.loc["patient", "seconds"] + 10)
    assert table.loc["spanish", "voice"] == "es-419+f3" and set(table["timing"]) == {"audio"}
    assert table.loc["long", "estimate"] == pytest.approx(18 * 60 / 150)
    figure = lab.plot()
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels == ["short", "long", "spanish", "patient"]  # drawn top to bottom in the given order
    assert "<img src='data:image/png;base64," in lab._repr_html_()
    with pytest.raises(ValueError, match="at least one prompt"):
        analysis.compare_prompts([])
    with pytest.raises(ValueError, match="same label"):
        analysis.compare_prompts(["Hi there.", "Hi there."])


@pytest.mark.parametrize("server", [dripping(0.2), dripping_head(0.2)], ids=["body", "head"])
def test_a_dripping_file_server_is_cut_at_the_whole_fetchs_deadline(server):
    with RawServer(server) as slow:
        started = time.monotonic()
        reasons = fetch_both(slow.url + "/drip.wav", timeout=1.0)
        took = time.monotonic() - started
    assert reasons == ["the file did not arrive within 1 s"] * 2
    assert took < 2 * 1.0 + 1.5, f"two fetches of 1 s took {took:.1f} s"


def test_the_players_load_on_first_use_in_a_fresh_process():
    import subprocess
    import sys

    # "from catapult_nb.prompts import listen" first, as a flow step does: loaded on demand, not a module
    code = ("import sys\nfrom catapult_nb.prompts import listen\nassert callable(listen), listen\n"
            "assert 'IPython.display' in sys.modules\n"
            "from catapult_nb import prompts\nprint(type(prompts.listen('Hi')).__name__)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() in ("Listen", "Unheard")
