"""A v1 gather as Bandwidth v2 BXML and as Twilio TwiML, with the behaviours that differ as comments.

v1 creates a gather with a REST request on a live call; v2 and Twilio describe it in the XML the app
returns to a webhook. The three do the same job with different rules; each one that matters is written
as an XML comment beside what it changes.

**v2 BXML** is the port that keeps behaviour, :func:`catapult_nb.migrate.gather`: ``to_bxml_v2(options)``
is its ``.bxml``, one document from one home. v1's defaults are written out (v2 has no terminating key
and allows 50 digits), ``firstDigitTimeout`` = ``interDigitTimeout`` (v1 timed the first key with it,
from the end of the prompt; decimals are kept, v2 takes them), the prompt plays once (``repeatCount`` ×
nested verbs may reach 20 plays, but each replay moves the first key's deadline), and what v2 cannot keep
(v1's ``reason``, its ``hung-up`` event, ``gatherId``, per-key events, the voices' recordings) is said
in comments.

**Twilio TwiML**:

* **The first key.** Twilio's one ``timeout`` covers the first key and the gaps, as v1's does, in whole
  seconds.
* **Terminating keys.** Twilio's ``finishOnKey`` takes one key, and not ``A``-``D``.
* **A looping prompt.** v1's ``loopEnabled`` repeats the prompt until the first key; Twilio's ``loop="0"``.
* **Voices.** Twilio has its own (``man``/``woman`` here, ``Polly.*`` for more) and spells locales ``en-US``.
* **Per-key events** (``suppressDtmf`` false) and the ``tag`` have no exact counterpart: see the comments.

``snippets.render(options, language="bxml-v2")`` and ``language="twiml"`` call :func:`to_bxml_v2` and
:func:`to_twiml`. The output is well-formed XML (the tests parse it).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

from catapult_nb.gather_port import GATHER_URL, attributes
from catapult_nb.gather_port import document as _port_document
from catapult_nb.gather_port import gather as migrate_gather
from catapult_nb.options import GatherOptions

__all__ = ["GATHER_URL", "TRANSLATIONS", "to_bxml_v2", "to_twiml"]

#: XML translations as ``(name, tab label)`` pairs, in the order the gather form shows them.
TRANSLATIONS: tuple[tuple[str, str], ...] = (("bxml-v2", "v2 BXML"), ("twiml", "TwiML"))

_V1 = GatherOptions()  # every field left out: its effective_* values are v1's defaults
_V1_MAX_DIGITS = _V1.effective_max_digits
_V1_TIMEOUT = _V1.effective_inter_digit_timeout
_V1_TERMINATORS = _V1.effective_terminating_digits
_TWILIO_KEYS = set("0123456789#*")
_TWILIO_LANGUAGE = {"en_us": "en-US", "en_uk": "en-GB", "es": "es-ES", "es_mx": "es-MX", "fr": "fr-FR",
                    "fr_fr": "fr-FR", "de": "de-DE", "de_de": "de-DE", "it": "it-IT", "it_it": "it-IT"}


def _number(value: Any) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def to_bxml_v2(options: GatherOptions | dict[str, Any] | None = None) -> str:
    """The gather as Bandwidth v2 BXML that behaves like it: :func:`catapult_nb.migrate.gather`'s ``.bxml``.

    :param options: the v1 gather options (``GatherOptions`` or a wire dict).
    :returns: the XML document, with what v2 cannot keep as comments.
    :raises OptionError: an option has a value v1 does not accept.
    """
    return migrate_gather(options, gather_url=GATHER_URL).bxml


def to_twiml(options: GatherOptions | dict[str, Any] | None = None) -> str:
    """The gather as Twilio TwiML: ``<Response><Gather input="dtmf" …><Say|Play/></Gather>``.

    :param options: the v1 gather options (``GatherOptions`` or a wire dict).
    :returns: the XML document, with the behaviours that differ from v1 as comments.
    :raises OptionError: an option has a value v1 does not accept.
    """
    wire, prompt, timeout, seconds = _resolve(options)
    comments = [
        f"Twilio's timeout ({_number(timeout)} s) waits for the first key after the prompt and between "
        "keys, as v1's interDigitTimeout does. Twilio wants whole seconds."
        if float(timeout).is_integer() else
        f"Twilio's timeout waits for the first key and between keys, as v1's interDigitTimeout does, but "
        f"in whole seconds: {_number(timeout)} s is rounded up.",
        "Twilio posts the result to action (replace the placeholder); v1 sent it to the call's callbackUrl.",
    ]
    keys = wire.get("terminatingDigits", _V1_TERMINATORS)
    finish = next((k for k in keys if k in _TWILIO_KEYS), "")
    dropped = "".join(k for k in keys if k != finish)
    if keys != finish:  # one key Twilio takes as it is needs no comment ("'#' becomes '#'")
        comments.append(f"Twilio's finishOnKey takes one key (0-9, # or *) where v1's terminatingDigits may "
                        f"list several: {keys!r} becomes {finish!r}"
                        + (f"; {dropped!r} no longer ends the gather." if dropped else "."))
    if "maxDigits" not in wire:
        comments.append(f"v1 stops after {_V1_MAX_DIGITS} digits when maxDigits is left out; so does this.")
    action = GATHER_URL
    if wire.get("tag") is not None:
        action += "?tag=" + quote(str(wire["tag"]), safe="")
        comments.append("Twilio has no tag: it travels in the action URL's query instead.")
    if wire.get("suppressDtmf") is False:
        comments.append("v1 suppressDtmf false sent a dtmf event per key; Twilio sends only the result.")
    if "bargeable" in prompt:
        comments.append("v1 bargeable is deprecated; in a Twilio Gather a key always stops the prompt.")
    pairs = [
        ("input", "dtmf"),
        ("action", action),
        ("method", "POST"),
        ("numDigits", wire.get("maxDigits", _V1_MAX_DIGITS)),
        ("finishOnKey", finish),
        ("timeout", seconds),
    ]
    loop = "0" if prompt.get("loopEnabled") else None
    if loop:
        comments.append("v1 loopEnabled repeats the prompt until the first key; Twilio's loop=0 does too.")
    inner = []
    if prompt.get("sentence"):
        voice = "man" if _lower(prompt.get("gender")) == "male" else "woman"
        v1_voice = _lower(prompt.get("voice")) or "susan, v1's default"
        comments.append(f"Voices differ: Twilio has no {v1_voice}; '{voice}' speaks here (Polly.* voices "
                        "sound closer), and locales are spelled en-US, not en_US.")
        language = _TWILIO_LANGUAGE.get(_lower(prompt.get("locale")) or "")
        speech = attributes([("voice", voice), ("language", language), ("loop", loop)])
        inner.append(f"<Say{speech}>{escape(prompt['sentence'])}</Say>")
    elif prompt.get("fileUrl"):
        inner.append(f"<Play{attributes([('loop', loop)])}>{escape(prompt['fileUrl'])}</Play>")
    return _port_document(comments, "Gather", pairs, inner)


def _resolve(
    options: GatherOptions | dict[str, Any] | None,
) -> tuple[dict[str, Any], dict[str, Any], float, int]:
    """The checked wire options, their prompt, v1's inter-digit timeout and it in whole seconds."""
    wire = GatherOptions.coerce(options).to_wire(as_strings=False)
    timeout = wire.get("interDigitTimeout", _V1_TIMEOUT)
    seconds = int(-(-float(timeout) // 1))  # v2 and Twilio take whole seconds: round up, never cut short
    return wire, wire.get("prompt", {}), timeout, seconds


def _lower(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) else None
