"""The widgets without a browser: fields, validation, preview, Send, keypad, live table, secrets."""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Iterator

import ipywidgets as w
import pytest

from catapult_nb import Session
from catapult_nb.widgets import EventTable, Explorer, GatherForm

SPEED = 10


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    with Session.simulated(speed=SPEED, store=tmp_path_factory.mktemp("w") / "events.sqlite3") as s:
        yield s


def preview_json(form: GatherForm) -> dict:
    text = form.preview.value.split("<pre", 1)[1].split(">", 1)[1].rsplit("</pre>", 1)[0]
    import html

    return json.loads(html.unescape(text))


def test_the_form_starts_on_the_seed_options_and_previews_the_exact_body():
    form = GatherForm()
    assert preview_json(form) == {
        "maxDigits": "5",
        "interDigitTimeout": "7",
        "terminatingDigits": "*",
        "prompt": {"sentence": "Please enter your 5 digit code"},
    }
    assert "valid" in form.validation.value


def test_the_preview_send_and_every_code_tab_carry_one_body():
    import ast

    form = GatherForm()
    form.set_values(max_digits=4, tag="order-42", suppress_dtmf=False, locale="fr_FR", voice="jolie",
                    loop_enabled=True)
    body = preview_json(form)
    # numbers as strings (as the how-to pages), booleans as booleans
    assert body["maxDigits"] == "4" and body["tag"] == "order-42" and body["suppressDtmf"] is False
    assert body["prompt"] == {"sentence": "Please enter your 5 digit code", "locale": "fr_FR",
                              "voice": "jolie", "loopEnabled": True}
    # what Send posts (the client's create_gather writes options.to_wire())
    assert form.options.to_wire() == body
    # and what the curl and Python tabs send
    curl = html.unescape(form.snippets["curl"].value)
    assert json.loads(curl.split("--data '", 1)[1].split("'", 1)[0]) == body
    python = html.unescape(form.snippets["python"].value)
    literal = python.split("json=", 1)[1].split("\n    },\n", 1)[0] + "\n    }"
    assert ast.literal_eval(literal) == body
    assert "request body: what Send posts and every code tab sends" in form.preview.value


@pytest.mark.parametrize(
    ("value", "message"),
    [("", "terminatingDigits must not be empty"), ("1x", "terminatingDigits may only contain")],
)
def test_invalid_terminating_digits_show_a_message_before_sending(value, message):
    form = GatherForm()
    form.terminating_digits.value = value
    assert message in form.validation.value
    assert "invalid" in form.preview.value


def test_the_voice_list_follows_the_locale_and_gender():
    form = GatherForm()
    form.locale.value = "de_DE"
    assert [v for _, v in form.voice.options] == ["", "katrin", "stefan"]
    form.gender.value = "male"
    assert [v for _, v in form.voice.options] == ["", "stefan"]


def test_the_picker_and_the_text_stay_in_step():
    form = GatherForm()
    form.picker.toggles["#"].value = True
    assert form.terminating_digits.value == "*#"
    form.terminating_digits.value = "5"
    assert [k for k, t in form.picker.toggles.items() if t.value] == ["5"]


def test_the_code_tab_has_every_language_with_the_call_id(session):
    """Break this catches (the test placed no call before): code tabs that keep the ``{callId}``
    placeholder, or the first call's id, once a call is given."""
    form = GatherForm(session)
    titles = list(form.code.titles)
    assert titles[0] == "JSON" and len(titles) == 9 and titles[-2:] == ["v2 BXML", "TwiML"]
    assert all("maxDigits" in c.value or "max_digits" in c.value or "MaxDigits" in c.value
               or "numDigits" in c.value for c in form.code.children)
    code = dict(zip(titles, (c.value for c in form.code.children), strict=True))
    requests = titles[1:-2]  # the v1 request in each language (BXML and TwiML are documents, no call)
    assert all("{callId}" in code[t] for t in requests)  # no call yet: the placeholder
    first, second = session.call("+15551234567"), session.call("+15551234568")
    try:
        for call in (first, second):
            form.set_call(call)
            code = dict(zip(titles, (c.value for c in form.code.children), strict=True))
            for title in requests:  # every language's request names this call
                assert call.id in code[title] and "{callId}" not in code[title], (title, code[title])
            assert call.id not in code["JSON"]  # the JSON tab is the body alone
        assert first.id not in "".join(code.values())
    finally:
        first.hang_up()
        second.hang_up()


def preview_text(form: GatherForm) -> str:
    return preview_text_of(form.preview)


def test_the_v2_dialect_previews_the_one_ported_gather_and_back(session):
    """Breaks this catches: a v2 preview that is a second translation (it must be migrate.gather's
    document, the same as the "v2 BXML" code tab), a preview that does not follow the fields, a title
    left on JSON."""
    from catapult_nb import migrate

    form = GatherForm(session)
    form.set_values(max_digits=4, terminating_digits="#", inter_digit_timeout=3.0)
    form.dialect.value = "v2"
    assert form.code.titles[0] == "BXML"
    shown = preview_text(form)
    assert shown == migrate.gather(form.options).bxml == form.migration.bxml
    tabs = dict(zip(form.code.titles, form.code.children, strict=True))
    assert preview_text_of(tabs["v2 BXML"]) == shown  # one translation
    assert 'maxDigits="4" terminatingDigits="#" interDigitTimeout="3" firstDigitTimeout="3"' in shown
    form.set_values(max_digits=6)
    assert 'maxDigits="6"' in preview_text(form)
    form.dialect.value = "v1"
    assert form.code.titles[0] == "JSON" and preview_json(form)["maxDigits"] == "6"
    with pytest.raises(ValueError, match="dialect must be 'v1' or 'v2'"):
        GatherForm(dialect="v3")


def preview_text_of(view: w.HTML) -> str:
    import html

    return html.unescape(view.value.split("<pre", 1)[1].split(">", 1)[1].rsplit("</pre>", 1)[0])


def test_a_v2_gather_on_a_v1_call_is_not_sent_and_says_what_to_do(session):
    call = session.call("+15551234567")
    form = GatherForm(session, call, dialect="v2")
    form.send_button.click()
    assert "Not sent" in form.result.value and "this call speaks v1" in form.result.value
    assert "api=&#x27;v2&#x27;" in form.result.value or "api='v2'" in form.result.value
    assert call.gathers == [] and form.last_gather is None
    form.dialect.value = "v1"  # the same form, switched back, sends the REST gather
    form.send_button.click()
    assert form.last_gather is not None and call.gathers == [form.last_gather]
    call.hang_up()


def test_send_without_a_call_says_so_and_sends_nothing(session):
    form = GatherForm(session)
    form.send_button.click()
    assert "Not sent" in form.result.value and "place a call" in form.result.value


def test_send_with_an_invalid_value_sends_nothing(session):
    call = session.call("+15551234567")
    form = GatherForm(session, call)
    form.terminating_digits.value = "x"
    form.send_button.click()
    assert "Not sent" in form.result.value and "terminatingDigits" in form.result.value
    assert call.gathers == []
    call.hang_up()


def test_send_creates_the_gather_and_the_keypad_completes_it_into_the_table(session):
    # given a dashboard with a placed call
    explorer = Explorer(session)
    call = explorer.panel.place_call()
    assert "active" in explorer.panel.status.value
    explorer.form.set_values(max_digits=5, terminating_digits="#", inter_digit_timeout=2.0)
    # when Send is clicked
    explorer.form.send_button.click()
    gather = explorer.form.last_gather
    assert gather is not None and gather.id in explorer.form.result.value
    assert session.client.get_gather(call.id, gather.id)["state"] == "started"
    # and the keypad is pressed
    for key in "123#":
        explorer.keypad.press(key)
    result = gather.wait()
    # then the event is in the table's data and, once redrawn, in its HTML
    assert (result.reason, result.digits) == ("terminating-digit", "123")
    rows = explorer.events.data.query("eventType == 'gather'")
    assert rows["gatherId"].tolist()[-1] == gather.id
    shown = wait_for_label(explorer.events.table, "terminating-digit")  # observed, once redrawn
    assert "data-event-type='gather'" in shown and "terminating-digit" in explorer.events.table.value
    explorer.close()


def test_the_event_table_filters_by_call_and_type(session):
    table = EventTable(session)
    first = session.call("+15551234567")
    second = session.call("+15551234568")
    session.receiver.wait_for(call_id=second.id, event_type="answer", timeout=10)
    table.refresh()
    table.call_filter.value = first.id
    assert set(table.data["callId"]) == {first.id}
    table.type_filter.value = "answer"
    assert len(table.data) == 1
    table.close()


def test_replay_to_sends_the_selected_rows_again(session, collector):
    table = EventTable(session)
    call = session.call("+15551234567")
    table.refresh()
    table.call_filter.value, table.type_filter.value = call.id, "answer"

    table.replay_url.value = collector.url("/app")
    table.replay_button.click()

    sent = collector.wait_for_event("answer", call.id)
    assert len(collector.events()) == 1
    assert (sent["eventType"], sent["callId"]) == ("answer", call.id)
    assert "1 sent to" in table.replay_result.value and "1× HTTP 200" in table.replay_result.value
    table.replay_url.value = "not a url"
    table.replay_button.click()
    assert "url must be an http(s) URL" in table.replay_result.value
    table.close()


def all_widget_states(root: w.Widget) -> list[dict]:
    states, stack, seen = [], [root], set()
    while stack:
        widget = stack.pop()
        if id(widget) in seen:
            continue
        seen.add(id(widget))
        states.append(widget.get_state())
        stack.extend(c for c in getattr(widget, "children", ()) if isinstance(c, w.Widget))
    return states


def test_no_widget_state_holds_a_secret(session):
    explorer = Explorer(session)
    explorer.panel.place_call()
    explorer.form.send_button.click()
    secrets = [session.simulator.api_secret, session.receiver.path.rsplit("/", 1)[-1]]
    dump = json.dumps(all_widget_states(explorer), default=str)
    assert len(dump) > 1000  # the walk reached the widgets
    for secret in secrets:
        assert secret not in dump
    explorer.form.last_gather.stop()
    explorer.close()


def wait_for_label(widget: w.HTML, needle: str, *, absent: str = "", timeout: float = 10.0) -> str:
    """Wait until ``widget``'s text contains ``needle`` (and not ``absent``), observed, not polled;
    return the text, HTML entities decoded."""
    import html
    import threading

    seen = threading.Event()

    def check(_change=None) -> None:
        text = html.unescape(widget.value)
        if needle in text and not (absent and absent in text):
            seen.set()

    widget.observe(check, names="value")
    try:
        check()
        assert seen.wait(timeout), f"waited {timeout} s for {needle!r}; shows {widget.value!r}"
    finally:
        widget.unobserve(check, names="value")
    return html.unescape(widget.value)


def test_the_gather_clock_shows_the_result_and_a_new_call_clears_the_last_ones(session):
    # given a gather on a first call, refused a second time with the API's 409
    explorer = Explorer(session)
    first = explorer.panel.place_call()
    explorer.form.set_values(inter_digit_timeout=1.0, sentence="", max_digits=3)
    explorer.form.send_button.click()
    gather = explorer.form.last_gather
    explorer.form.send_button.click()
    assert "409" in explorer.form.result.value and "call-duplicate-gather-error" in explorer.form.result.value
    assert "Traceback" not in explorer.form.result.value
    # when the caller types the 3 digits
    explorer.keypad.press("123")
    # then the clock reports the end, with a full bar rather than an empty one
    label = wait_for_label(explorer.countdown.label, "ended")
    assert gather.id in label and "max-digits" in label and "'123'" in label
    assert explorer.countdown.bar.value == 1.0 and explorer.countdown.bar.bar_style == "success"

    # when a second call is placed
    second = explorer.panel.place_call()
    # then nothing about the first call is left to mislead: result line, clock, keypad, code tabs
    assert first.id not in explorer.form.result.value and "409" not in explorer.form.result.value
    assert "no gather running" in explorer.countdown.label.value and explorer.countdown.bar.value == 0.0
    assert explorer.keypad.pressed == ""
    curl = explorer.form.snippets["curl"].value
    assert second.id in curl and first.id not in curl
    first.hang_up()
    second.hang_up()
    explorer.close()


def test_a_looping_prompt_is_named_on_the_clock_until_the_first_key(session):
    call = session.call("+15551234567")
    explorer = Explorer(session)
    explorer._call_placed(call)
    # a one-word prompt (0.5 API s) looping, and a timeout long enough to watch
    explorer.form.set_values(sentence="Hello", loop_enabled=True, inter_digit_timeout=30.0)
    explorer.form.send_button.click()
    assert "still looping" in wait_for_label(explorer.countdown.label, "inter-digit timeout")
    explorer.keypad.press("1")
    # then the clock restarts without the loop note (a key stops the prompt)
    wait_for_label(explorer.countdown.label, "inter-digit timeout", absent="looping")
    explorer.form.last_gather.stop()
    call.hang_up()
    explorer.close()


def test_the_form_keeps_its_width_and_the_picker_its_single_row():
    form = GatherForm()
    assert form.layout.width == "700px" and form.layout.flex == "0 0 auto"  # never squeezed by its row
    assert form.picker.layout.flex_flow == "row nowrap"
    # long prompt text wraps between words in the preview
    form.sentence.value = "word " * 40
    assert "word-break:normal" in form.preview.value


def test_the_form_shows_how_long_the_sentence_is_spoken_and_listen_fills_a_player():
    from catapult_nb import prompts

    form = GatherForm()
    seconds = prompts.render("Please enter your 5 digit code").duration
    assert f"{seconds:.1f} s spoken" in form.spoken.value
    assert form.player is None and not form.player_box.children
    # when
    form.listen_button.click()
    # then
    assert form.player_box.children == (form.player,) and not form.player.autoplay  # nothing plays by itself
    assert form.player.format == "wav"
    assert prompts.decode(form.player.value).duration == pytest.approx(seconds)
    assert form.listen().duration == seconds  # the button is this one line
    # a new sentence: the label follows, the old recording is hidden
    form.set_values(sentence="Por favor, marque su código.", locale="es_MX")
    spanish = prompts.render("Por favor, marque su código.", locale="es_MX").duration
    assert f"{spanish:.1f} s spoken" in form.spoken.value and not form.player_box.children


def test_listen_with_nothing_to_hear_says_why():
    form = GatherForm(sentence="", file_url="ftp://example.invalid/menu.wav")
    form.listen_button.click()
    assert "Nothing to hear" in form.spoken.value and "http or https" in form.spoken.value
    assert not form.player_box.children


def test_the_session_panel_shows_the_sessions_own_summary(session):
    import html

    from catapult_nb.widgets import SessionPanel

    rows = dict(session.summary())
    assert rows["backend"].startswith("simulated") and rows["state"] == "open" and not session.closed
    assert rows["callback URL"].endswith("/callbacks/***")
    assert session.receiver.path not in json.dumps(rows)  # the secret path is masked
    panel = SessionPanel(session)
    for label, value in rows.items():
        assert label in panel.info.value and html.escape(value) in panel.info.value
    # the panel itself never shows the secret path, nor its token alone (the masked receiver and callback
    # URLs above are the same text, so their being there says nothing of what else is)
    token = session.receiver.path.rsplit("/", 1)[-1]
    assert len(token) >= 16 and token not in panel.info.value
    assert session.receiver.path not in panel.info.value
    panel.close()


def test_a_ticker_steps_until_its_step_says_stop_and_starts_again():
    from catapult_nb.widgets._kernel import Ticker

    steps: list[int] = []
    finished = threading.Event()
    left = [3]

    def step() -> bool:
        steps.append(left[0])
        left[0] -= 1
        if left[0] == 0:
            finished.set()
        return left[0] > 0

    ticker = Ticker(step, 0.01, "test-ticker")
    # when started, it steps until the step returns False
    ticker.start()
    assert finished.wait(5)
    assert steps == [3, 2, 1]
    # then started again, it ticks again; stopped, it ends
    finished.clear()
    left[0] = 2
    ticker.start()
    assert finished.wait(5)
    assert steps == [3, 2, 1, 2, 1]
    ticker.stop()


def test_the_form_sends_its_v2_gather_on_a_v2_session_call(tmp_path):
    """Breaks this catches: a v2 session's form that starts on v1 (its REST gather has no v2 route), a
    sent document other than the one previewed, a result that is not read from the v2 webhook."""
    with Session.simulated(speed=SPEED, api="v2", store=tmp_path / "v2.sqlite3") as v2:
        call = v2.call("+15551234567")
        form = GatherForm(v2, call)
        assert form.dialect.value == "v2" and form.code.titles[0] == "BXML"
        form.set_values(max_digits=4, terminating_digits="#", inter_digit_timeout=3.0)
        previewed = preview_text(form)
        form.send_button.click()
        gather = form.last_gather
        assert gather is not None and gather.id in form.result.value, form.result.value
        # the document the call fetched is the previewed one, with the call's own gatherUrl and tag
        assert gather.bxml.replace(gather.migration.attributes["gatherUrl"], migrate_placeholder()) \
            .replace(f' tag="{gather.id}"', "") == previewed
        v2.phone.press(call, "12#")
        result = gather.wait()
        assert (result.digits, result.terminating_digit, result.reason) == ("12", "#", "terminating-digit")


def migrate_placeholder() -> str:
    from catapult_nb.migrate import GATHER_URL

    return GATHER_URL
