"""A v2 ``<Gather>`` over the wire ends as the gather engine says, for random attributes and callers.

Each example is a call whose BXML waits, then gathers with random ``maxDigits``, ``terminatingDigits``,
``interDigitTimeout``, ``firstDigitTimeout`` and ``repeatCount`` around a one-word sentence (0.5 s by
the estimate); the virtual phone presses random keys at exact moments of the simulator's clock. The
gather webhook's ``digits``, ``terminatingDigit`` and time must be :func:`catapult_nb.engine.run_gather`'s
for the same spec and presses. Key moments stay a quarter second away from every timer's deadline
(deadlines fall on half seconds, keys on quarter past), so a tie never decides an example.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import requests
from conftest import FROM, TO, Collector
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catapult_nb.engine import GatherSpec, estimate, run_gather
from catapult_nb.simulator import Simulator

SENTENCE = "Digits"
PAUSE = 10.0  # API seconds before the Gather: the test sends the key moments meanwhile
SPEED = 20
_paths = itertools.count()


@pytest.fixture(scope="module")
def wire() -> Iterator[tuple[Simulator, Collector]]:
    collector = Collector()
    try:
        with Simulator(speed=SPEED, prompt_timing="estimate") as sim:
            yield sim, collector
    finally:
        collector.close()


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@settings(max_examples=12, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    max_digits=st.integers(1, 5),
    terminating=st.sampled_from(["", "#", "*#"]),
    inter=st.integers(1, 3),
    first=st.integers(0, 3),
    repeat=st.integers(1, 3),
    first_key=st.sampled_from([0.25, 0.75, 1.25, 2.75, 4.25, 7.75]),
    gaps=st.lists(st.sampled_from([0.25, 0.75, 1.75, 2.25, 3.25]), max_size=5),
    keys=st.text(alphabet="0123456789#*", min_size=6, max_size=6),
)
def test_a_v2_gather_over_the_wire_ends_as_the_engine_says(
    wire, max_digits, terminating, inter, first, repeat, first_key, gaps, keys
):
    sim, collector = wire
    attributes = {"maxDigits": str(max_digits), "interDigitTimeout": str(inter),
                  "firstDigitTimeout": str(first), "repeatCount": str(repeat)}
    if terminating:
        attributes["terminatingDigits"] = terminating
    shown = " ".join(f'{k}="{v}"' for k, v in attributes.items())
    path = f"/answer-{next(_paths)}"
    collector.answer(path, f'<Response><Pause duration="{PAUSE:g}"/><Gather gatherUrl="/gather" {shown}>'
                           f"<SpeakSentence>{SENTENCE}</SpeakSentence></Gather></Response>")
    collector.answer("/gather", "<Response><Hangup/></Response>")
    created = requests.post(
        f"{sim.v2_api_url}/accounts/{sim.account_id}/calls", auth=(sim.api_token, sim.api_secret),
        json={"to": TO, "from": FROM, "applicationId": "prop", "answerUrl": collector.url(path)}, timeout=10,
    )
    call_id = created.json()["callId"]
    collector.wait_for_event("answer", call_id)
    arrived, deadline = None, time.monotonic() + 5
    while arrived is None:  # the document is kept as soon as it arrives, before its first verb runs
        assert time.monotonic() < deadline, "the answer's BXML never arrived"
        documents = sim.phone.call_info(call_id)["documents"]
        arrived = parse(documents[0]["time"]) if documents else None
    offsets = list(itertools.accumulate([first_key, *gaps]))
    presses = list(zip(offsets, keys, strict=False))
    gather_start = arrived + timedelta(seconds=PAUSE)
    sim.phone.press(call_id, "".join(k for _, k in presses),
                    at=[stamp(gather_start + timedelta(seconds=t)) for t, _ in presses])

    gather = collector.wait_for_event("gather", call_id, timeout=20)

    spec = GatherSpec.from_bxml(attributes, prompt_seconds=estimate(SENTENCE), nested_verbs=1)
    expected = run_gather(spec, presses)
    assert (gather["digits"], gather["terminatingDigit"]) == (expected.digits, expected.terminating_digit)
    ended = (parse(gather["eventTime"]) - gather_start).total_seconds()
    assert ended == pytest.approx(expected.completed_at, abs=0.05)
