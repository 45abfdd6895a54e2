"""Bandwidth's official Python SDK (``bandwidth-sdk`` 23.x), unchanged, answering a v2 session's webhooks.

Run by ``tests/test_session_v2.py`` in a subprocess whose ``PYTHONPATH`` starts with ``build/sdk-v2`` (the
test environment holds the v1 SDK under the same module name). A handler returns the SDK's ``Response``;
the SDK's webhook models parse what the session stored.
"""

from __future__ import annotations

from bandwidth.models import AnswerCallback, DisconnectCallback, GatherCallback
from bandwidth.models.bxml import Gather, Hangup, Response, SpeakSentence

from catapult_nb import Session


def test_a_handler_answers_with_the_sdks_bxml_and_the_sdks_models_read_the_stored_webhooks():
    with Session.simulated(speed=20, api="v2", store=":memory:") as session:
        gather_url = session.callback_url

        @session.on("answer")
        def ask(call, event):
            return Response([Gather(gather_url=gather_url, max_digits=3, first_digit_timeout=5,
                                    audio_verbs=[SpeakSentence(text="Three digits, please.")])])

        @session.on("gather")
        def thank(call, event):
            return Response([SpeakSentence(text=f"You typed {event['digits']}."), Hangup()])

        call = session.call("+15551234567", wait=True)
        call.wait_ready()
        session.wait_for(call_id=call.id, event_type="answer")
        # the Gather runs once the answer webhook was answered: wait for the document to be running
        import time
        deadline = time.monotonic() + 10
        while "<Gather" not in str(session.phone._phone.call_info(call.id)["documents"]):
            assert time.monotonic() < deadline, "the Gather never ran"
            time.sleep(0.01)
        session.phone.press(call, "123")
        session.wait_for(call_id=call.id, event_type="disconnect", timeout=20)
        events = {row["eventType"]: row for row in session.events["payload"]}
        AnswerCallback.from_dict(events["answer"])
        gathered = GatherCallback.from_dict(events["gather"])
        ended = DisconnectCallback.from_dict(events["disconnect"])
        assert gathered.digits == "123" and ended.cause == "hangup"
        assert "You typed 123." in str(session.phone._phone.call_info(call.id)["documents"])
        assert session.handler_errors.empty
