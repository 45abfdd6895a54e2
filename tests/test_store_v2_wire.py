"""The simulator's own v2 webhooks, over real sockets, into the store and the analysis tables: a v2 app
records what it receives and the BXML it serves; the receiver takes the same webhooks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import requests
from flask import Flask, Response, request

from catapult_nb import analysis
from catapult_nb.receiver.receiver import CallbackReceiver
from catapult_nb.store.store import EventStore

GATHER = ('<Response><Gather gatherUrl="/gather" maxDigits="5" terminatingDigits="#" firstDigitTimeout="2" '
          'interDigitTimeout="2"><SpeakSentence>Your code, please.</SpeakSentence></Gather></Response>')


def recording_app(store: EventStore) -> Flask:
    """A v2 app that stores every webhook it gets and the BXML it answers with."""
    app = Flask(__name__)

    def answer(document: str | None) -> Response:
        payload = request.get_json()
        store.add(payload, source="app")
        if document is None:
            return Response("", status=204)
        store.record_bxml(payload["callId"], document, payload["eventTime"])
        return Response(document, content_type="application/xml")

    app.add_url_rule("/initiate", "initiate", lambda: answer(GATHER), methods=["POST"])
    app.add_url_rule("/gather", "gather", lambda: answer("<Response><Hangup/></Response>"), methods=["POST"])
    app.add_url_rule("/disconnect", "disconnect", lambda: answer(None), methods=["POST"])
    return app


def test_v2_calls_on_the_simulator_give_the_gather_table_their_v1_reasons(catapult_simulator, tmp_path: Path):
    v2 = catapult_simulator.v2
    with EventStore(tmp_path / "app.sqlite3") as store:
        base = v2.serve(recording_app(store))
        calls = {}
        for name, keys in (("max", "12345"), ("pound", "12#"), ("silent", None), ("hang-up", "1")):
            call_id = v2.incoming("+15551230000", "+15557654321", base + "/initiate",
                                  disconnectUrl=base + "/disconnect")
            v2.wait_for(call_id, "initiate")
            if keys:
                v2.press(call_id, keys)
            if name == "hang-up":
                v2.hang_up(call_id)
            v2.wait_for(call_id, "disconnect")
            calls[name] = call_id

        frame = store.to_dataframe()
        table = analysis.gather_table(store)
        sent = v2.events.rows()

    assert (frame["dialect"] == "v2").all() and frame["time"].notna().all()
    assert len(frame) == len(sent)  # each webhook stored once
    rows = table.set_index("callId")
    assert rows.loc[[calls[n] for n in ("max", "pound", "silent", "hang-up")], "reason"].tolist() == [
        "max-digits", "terminating-digit", "inter-digit-timeout", "hung-up"]
    assert rows.loc[calls["pound"], "digits"] == "12" and pd.isna(rows.loc[calls["hang-up"], "digits"])
    assert table["reasonDerived"].all() and (table["dialect"] == "v2").all()
    assert table["optionSet"].str.startswith("v2 maxDigits=5 interDigitTimeout=2").all()
    assert (table["duration"] > 0).all()

    # the receiver takes exactly these webhooks: every one stored, none refused
    with EventStore(tmp_path / "receiver.sqlite3") as other, CallbackReceiver(other) as receiver, \
            requests.Session() as http:
        http.trust_env = False
        statuses = {http.post(receiver.url, json=payload, timeout=5).status_code for payload in sent}
        received = receiver.to_dataframe()
    assert statuses == {200} and len(received) == len(sent)
    same = ["eventType", "time", "dialect", "callId", "digits", "terminatingDigit", "cause", "direction"]
    pd.testing.assert_frame_equal(received[same].reset_index(drop=True), frame[same].reset_index(drop=True))

