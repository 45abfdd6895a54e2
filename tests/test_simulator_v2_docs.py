"""Bandwidth's own documentation examples of ``<Gather>``, run unchanged on the simulator.

The three XML examples of Bandwidth's BXML reference for Gather (``Bandwidth/api-docs``,
``site/docs/voice/bxml/gather.mdx``: "Simple gather", "Gather with Repeated Audio Prompt", "Gather with
Multiple Nested Verbs"), quoted verbatim. Their made-up hosts (``gather.url``, ``audio1.com``,
``audio2.com``) are rerouted to the test's own server, so nothing leaves the machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests
from conftest import FROM, TO

from catapult_nb.simulator import Simulator

SIMPLE_GATHER = """<?xml version="1.0" encoding="UTF-8"?>
<Response>
   <Gather gatherUrl="https://gather.url/nextBXML" firstDigitTimeout="10" terminatingDigits="#">
      <SpeakSentence voice="kate">Please press a digit.</SpeakSentence>
   </Gather>
</Response>"""

REPEATED_PROMPT = """<Response>
   <Gather gatherUrl="https://gather.url/nextBXML" repeatCount="5" maxDigits="1">
      <SpeakSentence>I am going to keep asking you to press a digit</SpeakSentence>
   </Gather>
</Response>"""

MULTIPLE_NESTED = """<?xml version="1.0" encoding="UTF-8"?>
<Response>
    <Gather gatherUrl="https://gather.url/nextBXML">
        <SpeakSentence>First Sentence</SpeakSentence>
        <PlayAudio>https://audio1.com</PlayAudio>
        <PlayAudio>https://audio2.com</PlayAudio>
        <SpeakSentence>Second Sentence</SpeakSentence>
    </Gather>
</Response>"""


@pytest.fixture
def sim(collector) -> Iterator[Simulator]:
    origin = "http://" + urlsplit(collector.url("/")).netloc
    reroute = dict.fromkeys(("gather.url", "audio1.com", "audio2.com"), origin)
    with Simulator(speed=50, prompt_timing="estimate", reroute=reroute) as simulator:
        yield simulator


def run(sim: Simulator, collector, example: str, keys: str) -> tuple[str, dict]:
    collector.answer("/answer", example)
    collector.answer("/nextBXML", "<Response><Hangup/></Response>")
    response = requests.post(
        f"{sim.v2_api_url}/accounts/{sim.account_id}/calls", auth=(sim.api_token, sim.api_secret),
        json={"to": TO, "from": FROM, "applicationId": "docs", "answerUrl": collector.url("/answer"),
              "disconnectUrl": collector.url("/disconnect")},
    )
    call_id = response.json()["callId"]
    collector.wait_for_event("answer", call_id)
    if keys:
        sim.phone.press(call_id, keys, gap=0.1)
    gather = collector.wait_for_event("gather", call_id, timeout=20)
    assert collector.wait_for_event("disconnect", call_id)["cause"] == "hangup"
    return call_id, gather


def test_the_simple_gather_ends_on_the_pound_key(sim, collector):
    call_id, gather = run(sim, collector, SIMPLE_GATHER, "5#")
    assert (gather["digits"], gather["terminatingDigit"]) == ("5", "#")
    # the gather webhook went to https://gather.url/nextBXML, rerouted here
    assert collector.wait_for(lambda r: r.path == "/nextBXML").event["callId"] == call_id
    assert sim.phone.call_info(call_id)["prompts"][0]["sentence"] == "Please press a digit."


def test_the_repeated_prompt_takes_one_digit(sim, collector):
    _, gather = run(sim, collector, REPEATED_PROMPT, "3")
    assert (gather["digits"], gather["terminatingDigit"]) == ("3", "")


def test_the_multiple_nested_verbs_time_out_with_no_digits(sim, collector):
    call_id, gather = run(sim, collector, MULTIPLE_NESTED, "")
    assert (gather["digits"], gather["terminatingDigit"]) == ("", "")
    prompts = sim.phone.call_info(call_id)["prompts"]
    assert [p.get("sentence") or p.get("file") for p in prompts] == [
        "First Sentence", "audio1.com", "audio2.com", "Second Sentence",
    ]
    # the two audio URLs answer nothing playable: measured, not played, and why is kept
    assert [p["played"] for p in prompts] == [True, False, False, True]
    assert all(p["reason"] for p in prompts[1:3])
