"""A Catapult v1 IVR callback server, written the way users write one (Flask and requests).

It answers an inbound call, gathers a 5-digit code, reads it back and hangs up. ``test_ivr.py`` runs it
against catapult_nb's simulator; in production, give ``create_app`` the live API and your credentials
(``create_app("https://api.catapult.inetwork.com/v1", "u-…", token, secret)``) and serve it with any
WSGI server.
"""

import requests
from flask import Flask, request

GATHER = {
    "maxDigits": 5,
    "interDigitTimeout": 5,
    "terminatingDigits": "#",
    "prompt": {"sentence": "Please enter your five digit code, then press pound."},
}


def create_app(api_url, user_id, api_token, api_secret):
    app = Flask(__name__)
    api = requests.Session()
    api.auth = (api_token, api_secret)
    calls = f"{api_url}/users/{user_id}/calls"

    @app.post("/catapult")
    @app.post("/catapult-fallback")
    def callback():
        event = request.get_json()
        call, kind = f"{calls}/{event['callId']}", event["eventType"]
        if kind == "incomingcall":
            api.post(call, json={"state": "active"}, timeout=5).raise_for_status()
        elif kind == "answer":
            api.post(f"{call}/gather", json=GATHER, timeout=5).raise_for_status()
        elif kind == "gather" and event["reason"] != "hung-up":
            code = event.get("digits", "")
            if len(code) == 5:
                speech = {"sentence": f"You entered {' '.join(code)}. Goodbye.", "tag": "read-back"}
            else:
                speech = {"sentence": "Sorry, we did not get a five digit code. Goodbye.", "tag": "no-code"}
            api.post(f"{call}/audio", json=speech, timeout=5).raise_for_status()
        elif kind == "speak" and event["state"] == "PLAYBACK_STOP" and event.get("tag"):
            api.post(call, json={"state": "completed"}, timeout=5).raise_for_status()  # hang up
        return "", 204

    return app
