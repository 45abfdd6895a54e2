"""A v1 gather as Bandwidth v2 BXML and as Twilio TwiML, with the behaviours that differ as comments.

v1 creates a gather with a REST request on a live call; v2 and Twilio describe it in the XML the app
returns to a webhook. The three do the same job with different rules; each one that matters is written
as an XML comment beside what it changes:

* **The first key.** v1 times the wait for the first key with ``interDigitTimeout`` (its clock starts
  when the prompt ends). v2 has a separate ``firstDigitTimeout``, so it gets the same value. Twilio's one
  ``timeout`` covers both, as v1's does.
* **Terminating keys.** v1 and v2 take several (``terminatingDigits="*#"``); Twilio's ``finishOnKey`` takes
  one key, and not ``A``-``D``.
* **Defaults.** v1 ends on ``#`` and after 30 digits when not told otherwise; v2 has no terminating key
  and allows 50 digits by default, so the v1 defaults are written out.
* **A looping prompt.** v1's ``loopEnabled`` repeats the prompt until the first key; v2 has
  ``repeatCount`` (at most 25 plays) and Twilio ``loop="0"`` on the prompt.
* **Voices.** v2 keeps v1's voice names; Twilio has its own (``man``/``woman`` here, ``Polly.*`` for more)
  and spells locales ``en-US``.
* **Per-key events** (``suppressDtmf`` false) and the ``tag`` have no exact counterpart: see the comments.

``snippets.render(options, language="bxml-v2")`` and ``language="twiml"`` call :func:`to_bxml_v2` and
:func:`to_twiml`. The output is well-formed XML (the tests parse it); what the caller hears and presses
behaves as in v1 wherever the target can express it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

from catapult_nb.options import GatherOptions

__all__ = ["GATHER_URL", "TRANSLATIONS", "to_bxml_v2", "to_twiml"]

#: Where the target sends the gather's result: the app's own URL, a placeholder to replace.
GATHER_URL = "https://your.app/gather"

#: XML translations as ``(name, tab label)`` pairs, in the order the gather form shows them.
TRANSLATIONS: tuple[tuple[str, str], ...] = (("bxml-v2", "v2 BXML"), ("twiml", "TwiML"))

_V1 = GatherOptions()  # every field left out: its effective_* values are v1's defaults
_V1_MAX_DIGITS = _V1.effective_max_digits
_V1_TIMEOUT = _V1.effective_inter_digit_timeout
_V1_TERMINATORS = _V1.effective_terminating_digits
_V2_REPEAT_MAX = 25
_TWILIO_KEYS = set("0123456789#*")
_TWILIO_LANGUAGE = {"en_us": "en-US", "en_uk": "en-GB", "es": "es-ES", "es_mx": "es-MX", "fr": "fr-FR",
                    "fr_fr": "fr-FR", "de": "de-DE", "de_de": "de-DE", "it": "it-IT", "it_it": "it-IT"}


def _comment(text: str) -> str:
    # "--" may not appear inside an XML comment; the texts here are fixed, but keep it safe anyway
    return f"<!-- {text.replace('--', '- -')} -->"


def _number(value: Any) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _attributes(pairs: list[tuple[str, Any]]) -> str:
    return "".join(f" {name}={quoteattr(str(value))}" for name, value in pairs if value is not None)


def _document(comments: list[str], gather: str, inner: list[str], tag: str) -> str:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<Response>"]
    lines += [f"  {_comment(c)}" for c in comments]
    if inner:
        lines.append(f"  <{tag}{gather}>")
        lines += [f"    {line}" for line in inner]
        lines.append(f"  </{tag}>")
    else:
        lines.append(f"  <{tag}{gather}/>")
    lines.append("</Response>")
    return "\n".join(lines) + "\n"


def to_bxml_v2(options: GatherOptions | dict[str, Any] | None = None) -> str:
    """The gather as Bandwidth v2 BXML: ``<Response><Gather …><SpeakSentence|PlayAudio/></Gather>``.

    :param options: the v1 gather options (``GatherOptions`` or a wire dict).
    :returns: the XML document, with the behaviours that differ from v1 as comments.
    :raises OptionError: an option has a value v1 does not accept.
    """
    wire, prompt, timeout, seconds = _resolve(options)
    comments = [
        f"v1 timed the wait for the first key with interDigitTimeout ({_number(timeout)} s after the "
        "prompt); v2 times it with firstDigitTimeout, set to the same value.",
        "v2 sends the result to gatherUrl (replace the placeholder); v1 sent it to the call's callbackUrl.",
    ]
    if seconds != float(timeout):
        comments.append(f"v2 takes whole seconds: v1's {_number(timeout)} s is rounded up to {seconds} s.")
    if "maxDigits" not in wire:
        comments.append(f"v1 stops after {_V1_MAX_DIGITS} digits when maxDigits is left out; v2 after 50.")
    if "terminatingDigits" not in wire:
        comments.append("v1 ends on # when terminatingDigits is left out; v2 has no terminating key then.")
    repeat = None
    if prompt.get("loopEnabled"):
        repeat = _V2_REPEAT_MAX
        comments.append(f"v1 loopEnabled repeats the prompt until the first key; v2 plays it repeatCount "
                        f"times (at most {_V2_REPEAT_MAX}).")
    if wire.get("suppressDtmf") is False:
        comments.append("v1 suppressDtmf false sent a dtmf event per key; v2 sends only the gather's result.")
    if "bargeable" in prompt:
        comments.append("v1 bargeable is deprecated; in a v2 Gather a key always stops the prompt.")
    attributes = _attributes([
        ("gatherUrl", GATHER_URL),
        ("maxDigits", wire.get("maxDigits", _V1_MAX_DIGITS)),
        ("terminatingDigits", wire.get("terminatingDigits", _V1_TERMINATORS)),
        ("interDigitTimeout", seconds),
        ("firstDigitTimeout", seconds),
        ("repeatCount", repeat),
        ("tag", wire.get("tag")),
    ])
    inner = []
    if prompt.get("sentence"):
        comments.append("Voices: v2 SpeakSentence takes v1's voice names (susan when none is given), "
                        "locale and gender as attributes; its voices are newer recordings, so they sound "
                        "different.")
        speech = _attributes([("voice", _lower(prompt.get("voice"))), ("locale", prompt.get("locale")),
                              ("gender", _lower(prompt.get("gender")))])
        inner.append(f"<SpeakSentence{speech}>{escape(prompt['sentence'])}</SpeakSentence>")
    elif prompt.get("fileUrl"):
        inner.append(f"<PlayAudio>{escape(prompt['fileUrl'])}</PlayAudio>")
    return _document(comments, attributes, inner, "Gather")


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
    attributes = _attributes([
        ("input", "dtmf"),
        ("action", action),
        ("method", "POST"),
        ("numDigits", wire.get("maxDigits", _V1_MAX_DIGITS)),
        ("finishOnKey", finish),
        ("timeout", seconds),
    ])
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
        speech = _attributes([("voice", voice), ("language", language), ("loop", loop)])
        inner.append(f"<Say{speech}>{escape(prompt['sentence'])}</Say>")
    elif prompt.get("fileUrl"):
        inner.append(f"<Play{_attributes([('loop', loop)])}>{escape(prompt['fileUrl'])}</Play>")
    return _document(comments, attributes, inner, "Gather")


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
