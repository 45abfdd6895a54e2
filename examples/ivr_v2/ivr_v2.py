"""A Bandwidth Voice API v2 IVR, written the way users write one: Flask, answering webhooks with BXML.

It answers an inbound call (the ``initiate`` webhook), gathers a 5-digit code (``<Gather>``, whose result
comes back to ``/code``), reads it back and hangs up. The BXML is plain XML made with the standard
library (Bandwidth's SDK builds the same documents with ``bandwidth.models.bxml``). ``test_ivr_v2.py``
runs it against catapult_nb's simulator; in production, point your Bandwidth application's call-initiated
URL at ``/initiate`` and serve it with any WSGI server.
"""

import xml.etree.ElementTree as ET

from flask import Flask, Response, request

PROMPT = "Please enter your five digit code, then press pound."


def bxml(*verbs):
    """A ``<Response>`` document holding ``verbs`` (elements), as the XML text a webhook answers with."""
    root = ET.Element("Response")
    root.extend(verbs)
    return Response(ET.tostring(root, encoding="unicode"), content_type="application/xml")


def verb(name, text=None, *children, **attributes):
    element = ET.Element(name, {k: str(v) for k, v in attributes.items()})
    element.text = text
    element.extend(children)
    return element


def create_app(max_digits=5):
    """The IVR as a Flask app. ``max_digits`` is the Gather's ``maxDigits`` (v2 allows 1 to 50)."""
    app = Flask(__name__)
    app.disconnects = []  # the disconnect webhooks received, newest last

    @app.post("/initiate")
    @app.post("/initiate-fallback")
    def initiate():
        gather = verb(
            "Gather",
            None,
            verb("SpeakSentence", PROMPT),
            gatherUrl="code",
            maxDigits=max_digits,
            terminatingDigits="#",
            firstDigitTimeout=5,
            repeatCount=2,
        )
        return bxml(gather)

    @app.post("/code")
    def code():
        digits = request.get_json()["digits"]
        if len(digits) == 5:
            return bxml(
                verb("Tag", "read-back"),
                verb("SpeakSentence", f"You entered {' '.join(digits)}. Goodbye."),
                verb("Hangup"),
            )
        return bxml(
            verb("Tag", "no-code"),
            verb("SpeakSentence", "Sorry, we did not get a five digit code."),
            verb("Hangup"),
        )

    @app.post("/disconnect")
    def disconnect():
        app.disconnects.append(request.get_json())
        return "", 204

    return app
