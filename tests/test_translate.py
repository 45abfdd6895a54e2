"""The gather as Bandwidth v2 BXML and as TwiML: well-formed XML, v1's values, differences as comments."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

import pytest

from catapult_nb.options import OptionError
from catapult_nb.snippets import render

SEED = {"maxDigits": "5", "terminatingDigits": "*", "interDigitTimeout": "7",
        "prompt": {"sentence": "Please enter your 5 digit code"}}


def parse(xml: str) -> tuple[ET.Element, list[str]]:
    """The <Gather> element and the comments of the document (parsed, not searched as text)."""
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    root = ET.fromstring(xml.encode("utf-8"), parser=parser)
    assert root.tag == "Response"
    comments = [node.text or "" for node in root.iter() if node.tag is ET.Comment]
    (gather,) = root.findall("Gather")
    return gather, comments


def test_seed_as_v2_bxml_carries_the_seed_values_and_says_what_differs():
    gather, comments = parse(render(SEED, language="bxml-v2"))
    assert gather.attrib | {"gatherUrl": ""} == {
        "gatherUrl": "", "maxDigits": "5", "terminatingDigits": "*", "interDigitTimeout": "7",
        "firstDigitTimeout": "7"}
    (speak,) = list(gather)
    assert (speak.tag, speak.text) == ("SpeakSentence", "Please enter your 5 digit code")
    text = " ".join(comments)
    assert "firstDigitTimeout" in text and "interDigitTimeout" in text and "voice:" in text
    assert "reason" in text and "disconnect" in text  # what v2 cannot keep, and what to do instead


def test_seed_as_twiml_carries_the_seed_values_and_says_what_differs():
    gather, comments = parse(render(SEED, language="twiml"))
    assert (gather.get("numDigits"), gather.get("finishOnKey"), gather.get("timeout")) == ("5", "*", "7")
    assert gather.get("input") == "dtmf"
    (say,) = list(gather)
    assert (say.tag, say.text) == ("Say", "Please enter your 5 digit code")
    text = " ".join(comments)
    assert "timeout" in text and "Voices differ" in text
    # one key Twilio takes as it is: no comment saying "'*' becomes '*'"
    assert "becomes" not in text and "finishOnKey takes one key" not in text


def test_several_terminating_keys_become_one_for_twilio_and_the_rest_is_named():
    gather, comments = parse(render({"terminatingDigits": "#*A"}, language="twiml"))
    assert gather.get("finishOnKey") == "#"
    assert any("'*A' no longer ends the gather" in c for c in comments)
    assert any("finishOnKey takes one key" in c and "'#*A' becomes '#'" in c for c in comments)
    v2, _ = parse(render({"terminatingDigits": "#*A"}, language="bxml-v2"))
    assert v2.get("terminatingDigits") == "#*A"


def test_loop_enabled_keeps_its_deadline_on_v2_and_becomes_twilio_loop():
    # a replay would move the first key's deadline (repeatCount × nested verbs ≤ 20 plays): the port plays
    # the prompt once and says so
    options = {"prompt": {"sentence": "Menu", "loopEnabled": True, "voice": "kate"}}
    v2, comments = parse(render(options, language="bxml-v2"))
    assert v2.get("repeatCount") is None and v2.get("firstDigitTimeout") == "5"
    assert any("looping prompt" in c and "repeatCount" in c for c in comments)
    assert v2.find("SpeakSentence").get("voice") == "kate"
    twiml, comments = parse(render(options, language="twiml"))
    assert twiml.find("Say").get("loop") == "0" and any("no kate" in c for c in comments)


def test_v1_defaults_are_written_out_where_the_targets_differ():
    v2, comments = parse(render({}, language="bxml-v2"))
    assert (v2.get("maxDigits"), v2.get("terminatingDigits"), v2.get("firstDigitTimeout")) == ("30", "#", "5")
    assert list(v2) == [] and any("50" in c for c in comments)


def test_text_and_tag_are_escaped_and_the_tag_rides_in_twilios_action_url():
    options = {"tag": "a&b <c>", "prompt": {"sentence": 'Say "1" & <2> -- then #'}}
    v2, _ = parse(render(options, language="bxml-v2"))
    assert v2.get("tag") == "a&b <c>" and v2.find("SpeakSentence").text == 'Say "1" & <2> -- then #'
    twiml, _ = parse(render(options, language="twiml"))
    assert parse_qs(urlsplit(twiml.get("action")).query) == {"tag": ["a&b <c>"]}


def test_fractional_timeouts_stay_on_v2_and_round_up_for_twilio():
    v2, comments = parse(render({"interDigitTimeout": 2.5}, language="bxml-v2"))
    assert (v2.get("firstDigitTimeout"), v2.get("interDigitTimeout")) == ("2.5", "2.5")  # v2 takes decimals
    assert not any("rounded up" in c for c in comments)
    twiml, comments = parse(render({"interDigitTimeout": 2.5}, language="twiml"))
    assert twiml.get("timeout") == "3" and any("rounded up" in c for c in comments)


def test_a_file_prompt_plays_and_bad_options_are_refused():
    v2, _ = parse(render({"prompt": {"fileUrl": "https://example.com/a.mp3"}}, language="bxml-v2"))
    assert v2.find("PlayAudio").text == "https://example.com/a.mp3"
    twiml, _ = parse(render({"prompt": {"fileUrl": "https://example.com/a.mp3"}}, language="twiml"))
    assert twiml.find("Play").text == "https://example.com/a.mp3"
    with pytest.raises(OptionError, match="interDigitTimeout"):
        render({"interDigitTimeout": 99}, language="twiml")
    with pytest.raises(ValueError, match="bxml-v2, twiml"):
        render(SEED, language="vxml")
