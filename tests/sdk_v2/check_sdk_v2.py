"""Bandwidth's official Python SDK (``bandwidth-sdk`` 23.x), unchanged, as the judge of the simulator's v2.

Run by ``tests/test_sdk_v2.py`` in a subprocess whose ``PYTHONPATH`` starts with ``build/sdk-v2``: the
test environment holds the v1 SDK (3.x) under the same module name, ``bandwidth``. ``CallsApi`` creates,
reads, lists and updates calls; the SDK's BXML classes build every answer the app gives; and the SDK's
webhook models parse every webhook the simulator sends, strictly: a field outside its model would land
in ``additional_properties``, a wrong type fails pydantic's strict types.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import bandwidth
import pytest
from bandwidth import ApiClient, Configuration
from bandwidth.api.calls_api import CallsApi
from bandwidth.exceptions import ApiException
from bandwidth.models import (
    AnswerCallback,
    CallState,
    CreateCall,
    CreateCallResponse,
    DisconnectCallback,
    DtmfCallback,
    GatherCallback,
    InitiateCallback,
    RedirectCallback,
    TransferAnswerCallback,
    TransferCompleteCallback,
    TransferDisconnectCallback,
    UpdateCall,
    VoiceApiError,
)
from bandwidth.models.bxml import (
    Bxml,
    Gather,
    Hangup,
    Pause,
    PhoneNumber,
    PlayAudio,
    Redirect,
    Response,
    SpeakSentence,
    StartGather,
    StopGather,
    Tag,
    Transfer,
)

from catapult_nb.simulator import Simulator
from catapult_nb.simulator.v2_webhooks import CORE_FIELDS

FROM, TO, OPERATOR = "+15551230000", "+15551239999", "+15550100999"

#: Every webhook the simulator sends, and the SDK model that must parse it.
MODELS = {
    "initiate": InitiateCallback, "answer": AnswerCallback, "gather": GatherCallback,
    "redirect": RedirectCallback, "transferAnswer": TransferAnswerCallback,
    "transferComplete": TransferCompleteCallback, "transferDisconnect": TransferDisconnectCallback,
    "dtmf": DtmfCallback, "disconnect": DisconnectCallback,
}


def strict(event: dict[str, Any]) -> Any:
    """Parse ``event`` with its SDK model; fail on a field outside the model or a missing core field."""
    model = MODELS[event["eventType"]].from_dict(event)
    assert model.additional_properties == {}, (event["eventType"], model.additional_properties)
    dumped = model.to_dict()
    missing = [name for name in CORE_FIELDS if dumped.get(name) is None]
    assert not missing, (event["eventType"], missing)
    return model


def wait_until(found: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        threading.Event().wait(0.02)  # the simulator works on its own thread; ask again soon
    raise AssertionError(f"nothing found within {timeout} s")


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(speed=20, prompt_timing="estimate") as simulator:
        yield simulator


@pytest.fixture
def calls(sim: Simulator) -> Iterator[CallsApi]:
    configuration = Configuration(
        host=sim.v2_api_url, username=sim.api_token, password=sim.api_secret, ignore_operation_servers=True,
    )
    with ApiClient(configuration) as client:
        yield CallsApi(client)


def create(calls: CallsApi, sim: Simulator, answer_url: str, **fields: Any) -> CreateCallResponse:
    body = CreateCall(to=fields.pop("to", TO), var_from=FROM, application_id="app-sdk", answer_url=answer_url,
                      **fields)
    return calls.create_call(sim.account_id, body)


def test_the_sdk_is_23():
    assert bandwidth.__version__.startswith("23."), bandwidth.__version__


def test_calls_api_creates_reads_lists_and_updates_a_call(calls, sim, collector):
    collector.answer("/answer", Response([Pause(duration=60)]).to_bxml())
    collector.answer("/redirect", Response([SpeakSentence("Moved on"), Pause(duration=60)]).to_bxml())
    created = create(calls, sim, collector.url("/answer"), disconnect_url=collector.url("/disconnect"),
                     tag="t1")
    assert isinstance(created, CreateCallResponse)
    assert (created.account_id, created.application_id, created.to, created.var_from, created.tag) == (
        sim.account_id, "app-sdk", TO, FROM, "t1",
    )
    assert created.call_url == f"{sim.v2_api_url}/accounts/{sim.account_id}/calls/{created.call_id}"
    collector.wait_for_event("answer", created.call_id)
    state = calls.get_call_state(sim.account_id, created.call_id)
    assert isinstance(state, CallState) and state.state == "answered" and state.answer_time is not None
    assert [c.call_id for c in calls.list_calls(sim.account_id, to=TO)] == [created.call_id]
    calls.update_call(sim.account_id, created.call_id,
                      UpdateCall(state="active", redirect_url=collector.url("/redirect")))
    strict(collector.wait_for_event("redirect", created.call_id))
    calls.update_call_bxml(sim.account_id, created.call_id,
                           Bxml([SpeakSentence("Replaced"), Tag("replaced"), Hangup()]).to_bxml())
    disconnect = strict(collector.wait_for_event("disconnect", created.call_id))
    assert (disconnect.cause, disconnect.tag) == ("hangup", "replaced")
    ended = calls.get_call_state(sim.account_id, created.call_id)
    assert (ended.state, ended.disconnect_cause) == ("disconnected", "hangup") and ended.end_time is not None


def test_calls_api_completes_a_call(calls, sim, collector):
    collector.answer("/answer", Response([Pause(duration=60)]).to_bxml())
    created = create(calls, sim, collector.url("/answer"), disconnect_url=collector.url("/disconnect"))
    collector.wait_for_event("answer", created.call_id)
    calls.update_call(sim.account_id, created.call_id, UpdateCall(state="completed"))
    assert strict(collector.wait_for_event("disconnect", created.call_id)).cause == "hangup"


def test_errors_reach_the_sdk_as_voice_api_errors(calls, sim, collector):
    with pytest.raises(ApiException) as missing:
        calls.get_call_state(sim.account_id, "c-nothere")
    assert missing.value.status == 404
    error = VoiceApiError.from_json(missing.value.body)
    assert error.type == "not-found" and "c-nothere" in error.description and error.id
    assert error.additional_properties == {}
    with pytest.raises(ApiException) as forbidden:
        calls.get_call_state("1234567", "c-nothere")
    assert forbidden.value.status == 403
    created = create(calls, sim, collector.url("/answer"), to="+15550000002")  # busy
    with pytest.raises(ApiException) as conflict:
        wait_until(lambda: calls.get_call_state(sim.account_id, created.call_id).state == "disconnected")
        calls.update_call(sim.account_id, created.call_id, UpdateCall(state="completed"))
    assert conflict.value.status == 409 and VoiceApiError.from_json(conflict.value.body).type == "conflict"


def test_every_webhook_of_a_full_call_parses_with_its_sdk_model(calls, sim, collector):
    """One call through every verb and webhook the simulator has, its BXML built by the SDK."""
    collector.answer("/answer", Response([
        Tag("sdk"),
        StartGather(dtmf_url="dtmf"),
        Pause(duration=3),
        StopGather(),
        Gather(gather_url="gather", max_digits=2, first_digit_timeout=30, terminating_digits="#",
               audio_verbs=[SpeakSentence("Two digits please", voice="julie")]),
    ]).to_bxml())
    collector.answer("/gather", Response([Redirect(redirect_url="redirect", tag="redirected")]).to_bxml())
    collector.answer("/redirect", Response([
        SpeakSentence("Transferring you"),
        Transfer(transfer_complete_url="complete", transfer_to=[
            PhoneNumber(OPERATOR, transfer_answer_url="announce", transfer_disconnect_url="leg-gone"),
        ]),
    ]).to_bxml())
    collector.answer("/announce", Response([SpeakSentence("A customer is on the line")]).to_bxml())
    collector.answer("/complete", Response([SpeakSentence("Goodbye"), Hangup()]).to_bxml())
    collector.answer("/app", Response([SpeakSentence("Hello caller"), Hangup()]).to_bxml())

    created = create(calls, sim, collector.url("/answer"), disconnect_url=collector.url("/disconnect"))
    call_id = created.call_id
    collector.wait_for_event("answer", call_id)
    sim.phone.press(call_id, "7")  # StartGather listens during the pause: a dtmf webhook
    assert strict(collector.wait_for_event("dtmf", call_id)).digit == "7"
    # once the Gather's audio is measured, the Gather listens
    wait_until(lambda: [p for p in sim.phone.call_info(call_id)["prompts"] if "Gather" in p["for"]])
    sim.phone.press(call_id, "4#", gap=0.1)
    gather = strict(collector.wait_for_event("gather", call_id))
    assert (gather.digits, gather.terminating_digit, gather.tag) == ("4", "#", "sdk")
    assert strict(collector.wait_for_event("redirect", call_id)).tag == "redirected"
    answered = strict(collector.wait_for_event("transferAnswer", None))
    leg_id = answered.call_id
    assert answered.transfer_to == OPERATOR
    wait_until(lambda: sim.phone.call_info(leg_id)["prompts"])  # the announcement is spoken to the leg
    sim.phone.hang_up(leg_id)
    assert strict(collector.wait_for_event("transferDisconnect", leg_id)).parent_call_id == call_id
    assert strict(collector.wait_for_event("transferComplete", call_id)).cause == "hangup"
    assert strict(collector.wait_for_event("disconnect", call_id)).cause == "hangup"

    inbound = sim.phone.incoming_v2(FROM, TO, collector.url("/app"))
    strict(collector.wait_for_event("initiate", inbound))
    strict(collector.wait_for_event("disconnect", inbound))

    seen = set()
    for event in collector.events():
        strict(event)
        seen.add(event["eventType"])
    assert seen == set(MODELS)


def test_the_failures_parse_too(calls, sim, collector):
    collector.answer("/answer", Response([Gather(max_digits=99)]).to_bxml())
    invalid = create(calls, sim, collector.url("/answer"), disconnect_url=collector.url("/disconnect"))
    model = strict(collector.wait_for_event("disconnect", invalid.call_id))
    assert model.cause == "invalid-bxml" and "maxDigits" in model.error_message and model.error_id
    collector.respond("/broken", 500)
    broken = create(calls, sim, collector.url("/broken"), disconnect_url=collector.url("/disconnect"))
    model = strict(collector.wait_for_event("disconnect", broken.call_id))
    assert model.cause == "callback-error" and "HTTP 500" in model.error_message
    assert calls.get_call_state(sim.account_id, broken.call_id).error_message == model.error_message


def test_an_sdk_gather_with_every_dtmf_attribute_runs(calls, sim, collector):
    """Every DTMF attribute of the SDK's Gather, relative URLs and nested audio with SSML."""
    gather = Gather(
        gather_url="gathered", gather_method="POST", gather_fallback_url="gathered-fallback",
        gather_fallback_method="GET", username="user", password="pass", fallback_username="user",
        fallback_password="pass", tag="every", terminating_digits="2", max_digits=5, inter_digit_timeout=1,
        first_digit_timeout=3, repeat_count=2,
        audio_verbs=[PlayAudio("prompt.wav", username="user", password="pass")],
    )
    gather.add_verb(SpeakSentence('Your number is <say-as interpret-as="telephone">5551234</say-as>.'))
    collector.answer("/answer", Response([gather]).to_bxml())
    collector.answer("/gathered", Response([Hangup()]).to_bxml())
    created = create(calls, sim, collector.url("/answer"), disconnect_url=collector.url("/disconnect"))
    wait_until(lambda: len(sim.phone.call_info(created.call_id)["prompts"]) == 2)
    sim.phone.press(created.call_id, "912", gap=0.1)
    result = strict(collector.wait_for_event("gather", created.call_id))
    assert (result.digits, result.terminating_digit, result.tag) == ("91", "2", "every")
    request = collector.wait_for(lambda r: r.path == "/gathered")
    assert request.headers["Authorization"] == "Basic dXNlcjpwYXNz"  # user:pass
    prompts = sim.phone.call_info(created.call_id)["prompts"]
    assert prompts[0]["played"] is False and prompts[0]["file"] == "prompt.wav"  # fetched, not audio
    assert prompts[1]["sentence"] == "Your number is 5551234."
