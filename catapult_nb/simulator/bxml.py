"""BXML, read safely: the parser and validator of the documents a v2 app answers its webhooks with.

The documents come from an application over the network, so they are untrusted: they are read by
:func:`catapult_nb.bxml.read_bxml` (:mod:`defusedxml`: no DTD, no entity expansion, no external
entities; refused above :data:`MAX_BXML_BYTES`, 64 KB, Bandwidth's own limit, before parsing starts).
Every verb and attribute is checked against the tables below; the first fault raises
:class:`~catapult_nb.bxml.BxmlError`, whose message names the verb, the attribute and the rule, which the
simulator sends as the ``errorMessage`` of an ``invalid-bxml`` disconnect.

What is read: ``<Response>`` (answers to webhooks) or ``<Bxml>`` (``PUT …/bxml``) holding
``SpeakSentence``, ``PlayAudio``, ``Pause``, ``Gather`` (nesting ``SpeakSentence``/``PlayAudio``),
``Redirect``, ``Transfer`` (nesting ``PhoneNumber``), ``Hangup``, ``Tag``, ``StartGather`` and
``StopGather``. The other verbs of BXML (``Record``, ``Bridge``, ``Conference``…) are named as verbs the
simulator does not run. A ``<Gather>``'s timing attributes are checked by the gather engine
(:meth:`catapult_nb.engine.GatherSpec.from_bxml`), the one home of the gather rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from catapult_nb.bxml import MAX_BXML_BYTES, BxmlError, read_bxml, tag_name
from catapult_nb.engine import V2_GATHER_ATTRIBUTES, GatherSpec
from catapult_nb.options import DTMF_KEYS, GENDERS, LOCALES, VOICES, OptionError

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

__all__ = [
    "MAX_BXML_BYTES",
    "SIMULATED_VERBS",
    "BxmlError",
    "Verb",
    "parse_bxml",
]

#: Most verbs a document may hold in all (a bound on the work one document can ask for).
MAX_VERBS = 1000
MAX_URL = 2048
MAX_TAG = 256

#: BXML verbs that exist but that the simulator does not run: named as such in the error.
OTHER_VERBS = (
    "Bridge",
    "Conference",
    "Connect",
    "Forward",
    "PauseRecording",
    "Record",
    "Refer",
    "ResumeRecording",
    "Ring",
    "SendDtmf",
    "StartRecording",
    "StartStream",
    "StartTranscription",
    "StopRecording",
    "StopStream",
    "StopTranscription",
    "SipUri",
)
#: SSML elements a ``<SpeakSentence>`` may hold (Bandwidth's list, and ``speak`` around them).
SSML_TAGS = frozenset({"break", "emphasis", "lang", "p", "phoneme", "prosody", "s", "say-as", "sub", "speak"})
_NUMBER = re.compile(r"\s*\d+(\.\d+)?\s*")
_E164 = re.compile(r"\+[1-9]\d{6,14}")


@dataclass(frozen=True, slots=True)
class Verb:
    """One checked verb: its name, attributes (parsed: numbers as numbers, methods upper-case), its text
    (a sentence, a URL, a phone number, a tag) and its nested verbs."""

    name: str
    attrs: dict[str, Any]
    text: str = ""
    children: tuple[Verb, ...] = ()

    def get(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)


# -- attribute checks: each takes the attribute's text and returns its value or raises ValueError(rule) --

Check = Callable[[str, str], Any]


def _text(limit: int = 1024) -> Check:
    def check(name: str, value: str) -> str:
        if len(value) > limit:
            raise ValueError(f"must be at most {limit} characters, got {len(value)}")
        return value

    return check


def _url(name: str, value: str) -> str:
    """A URL, absolute (http or https) or relative to the URL that served the document."""
    text = value.strip()
    if not text:
        raise ValueError("must be a URL, got an empty value")
    if len(text) > MAX_URL:
        raise ValueError(f"must be at most {MAX_URL} characters, got {len(text)}")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not 0-65535
    except ValueError:
        raise ValueError(f"must be a URL, got {text!r}") from None
    if parts.scheme and (parts.scheme not in ("http", "https") or not parts.hostname):
        raise ValueError(f"must be an http:// or https:// URL (or a relative one), got {text!r}")
    return text


def _method(name: str, value: str) -> str:
    if value.strip().upper() not in ("GET", "POST"):
        raise ValueError(f"must be GET or POST, got {value!r}")
    return value.strip().upper()


def _number(low: float, high: float) -> Check:
    def check(name: str, value: str) -> float:
        if not _NUMBER.fullmatch(value):
            raise ValueError(f"must be a number of seconds from {low:g} to {high:g}, got {value!r}")
        number = float(value)
        if not low <= number <= high:
            raise ValueError(f"must be between {low:g} and {high:g}, got {number:g}")
        return number

    return check


def _boolean(name: str, value: str) -> bool:
    if value.strip().lower() not in ("true", "false"):
        raise ValueError(f"must be true or false, got {value!r}")
    return value.strip().lower() == "true"


def _choice(*choices: str) -> Check:
    lowered = {c.lower(): c for c in choices}

    def check(name: str, value: str) -> str:
        if value.strip().lower() not in lowered:
            raise ValueError(f"must be one of {', '.join(choices)}, got {value!r}")
        return lowered[value.strip().lower()]

    return check


def _tag(name: str, value: str) -> str:
    if len(value) > MAX_TAG:
        raise ValueError(f"must be at most {MAX_TAG} characters, got {len(value)}")
    return value


def _keys(name: str, value: str) -> str:
    bad = sorted({ch for ch in value.upper() if ch not in DTMF_KEYS})
    if bad:
        raise ValueError(f"may only hold the keys 0-9 * # A-D, got {value!r}")
    return value.upper()


def _caller_id(name: str, value: str) -> str:
    if _E164.fullmatch(value.strip()) or value.strip().lower() in (
        "restricted",
        "anonymous",
        "private",
        "unavailable",
    ):
        return value.strip()
    raise ValueError(
        f"must be an E.164 number like +15551234567, or Restricted, Anonymous, Private or Unavailable, "
        f"got {value!r}"
    )


def _raw(name: str, value: str) -> str:
    """A value checked as a whole elsewhere (the gather engine checks a Gather's timing)."""
    return value


_AUTH: dict[str, Check] = {
    "username": _text(),
    "password": _text(),
    "fallbackUsername": _text(),
    "fallbackPassword": _text(),
}

#: Every verb the simulator runs, with the attributes it accepts and how each is checked.
ATTRIBUTES: dict[str, dict[str, Check]] = {
    "SpeakSentence": {
        "voice": _choice(*VOICES),
        "gender": _choice(*GENDERS),
        "locale": _choice(*LOCALES),
    },
    "PlayAudio": {"username": _text(), "password": _text()},
    "Pause": {"duration": _number(0.1, 86400)},
    "Gather": {
        "gatherUrl": _url,
        "gatherMethod": _method,
        "gatherFallbackUrl": _url,
        "gatherFallbackMethod": _method,
        **_AUTH,
        "tag": _tag,
        **dict.fromkeys(V2_GATHER_ATTRIBUTES, _raw),
        # speech input: accepted and kept; input other than dtmf ends the call (not simulated)
        "input": _choice("dtmf", "speech", "dtmf_speech"),
        "hints": _text(4096),
        "language": _text(32),
        "partialResultCallback": _url,
        "partialResultCallbackMethod": _method,
        "profanityFilter": _boolean,
        "speechModel": _text(256),
        "speechTimeout": _number(0, 60),
    },
    "Redirect": {
        "redirectUrl": _url,
        "redirectMethod": _method,
        "redirectFallbackUrl": _url,
        "redirectFallbackMethod": _method,
        **_AUTH,
        "tag": _tag,
    },
    "Transfer": {
        "transferCallerId": _caller_id,
        "transferCallerDisplayName": _text(256),
        "privacy": _boolean,
        "callTimeout": _number(1, 300),
        "transferCompleteUrl": _url,
        "transferCompleteMethod": _method,
        "transferCompleteFallbackUrl": _url,
        "transferCompleteFallbackMethod": _method,
        **_AUTH,
        "tag": _tag,
        "diversionTreatment": _choice("none", "propagate", "stack"),
        "diversionReason": _choice(
            "unknown",
            "user-busy",
            "no-answer",
            "unavailable",
            "unconditional",
            "time-of-day",
            "do-not-disturb",
            "deflection",
            "follow-me",
            "out-of-service",
            "away",
        ),
    },
    "PhoneNumber": {
        "transferAnswerUrl": _url,
        "transferAnswerMethod": _method,
        "transferAnswerFallbackUrl": _url,
        "transferAnswerFallbackMethod": _method,
        "transferDisconnectUrl": _url,
        "transferDisconnectMethod": _method,
        **_AUTH,
        "tag": _tag,
        "uui": _text(350),
    },
    "Hangup": {},
    "Tag": {},
    "StartGather": {
        "dtmfUrl": _url,
        "dtmfMethod": _method,
        "username": _text(),
        "password": _text(),
        "tag": _tag,
    },
    "StopGather": {},
}
REQUIRED = {"Redirect": ("redirectUrl",), "StartGather": ("dtmfUrl",)}
#: What each verb may nest (every other verb nests nothing).
NESTS = {"Gather": ("SpeakSentence", "PlayAudio"), "Transfer": ("PhoneNumber",)}
#: Verbs that may stand directly in the document (PhoneNumber only inside Transfer).
TOP_LEVEL = tuple(v for v in ATTRIBUTES if v != "PhoneNumber")
SIMULATED_VERBS = TOP_LEVEL


def parse_bxml(data: bytes | str, roots: tuple[str, ...] = ("Response",)) -> list[Verb]:
    """Parse and check one BXML document; returns its verbs in order.

    :param data: the document as sent (bytes are read by the XML declaration's encoding, UTF-8 by
        default).
    :param roots: the root elements allowed: ``("Response",)`` for a webhook's answer, ``("Bxml",)``
        for ``PUT …/bxml``.
    :raises BxmlError: the first fault found, naming the verb, attribute and rule.
    """
    root = read_bxml(data, roots)
    if root.attrib:
        raise BxmlError(root.tag, next(iter(root.attrib)), f"<{root.tag}> takes no attributes")
    _no_text(root, root.tag)
    count = sum(1 for _ in root.iter())
    if count > MAX_VERBS:
        raise BxmlError(root.tag, "", f"a document may hold at most {MAX_VERBS} elements, got {count}")
    return [_verb(child, root.tag) for child in root]


def _no_text(element: ET.Element, where: str) -> None:
    """Only whitespace may stand between verbs."""
    texts = [element.text or ""] + [child.tail or "" for child in element]
    stray = next((t.strip() for t in texts if t.strip()), "")
    if stray:
        raise BxmlError(where, "", f"<{where}> holds verbs, not text; found {stray[:40]!r}")


def _verb(element: ET.Element, parent: str) -> Verb:
    name = tag_name(element.tag)
    if name not in ATTRIBUTES:
        if name in OTHER_VERBS:
            raise BxmlError(
                name,
                "",
                f"<{name}> is a BXML verb the simulator does not run; it runs {', '.join(SIMULATED_VERBS)}",
            )
        raise BxmlError(
            name, "", f"unknown verb <{name}> in <{parent}>; the verbs are {', '.join(SIMULATED_VERBS)}"
        )
    allowed_here = NESTS.get(parent, TOP_LEVEL)
    if name not in allowed_here:
        raise BxmlError(
            name,
            "",
            f"<{name}> may not be nested in <{parent}>; <{parent}> holds "
            f"{', '.join(f'<{v}>' for v in allowed_here)}",
        )
    table = ATTRIBUTES[name]
    attrs: dict[str, Any] = {}
    for key, value in element.attrib.items():
        attribute = tag_name(key)
        check = table.get(attribute)
        if check is None:
            known = ", ".join(table) or "none"
            raise BxmlError(name, attribute, f"unknown attribute; <{name}> takes {known}")
        try:
            attrs[attribute] = check(attribute, value)
        except ValueError as exc:
            raise BxmlError(name, attribute, f"{attribute} {exc}") from None
    for attribute in REQUIRED.get(name, ()):
        if attribute not in attrs:
            raise BxmlError(name, attribute, f"{attribute} is required")
    if name in NESTS:
        _no_text(element, name)
        children = tuple(_verb(child, name) for child in element)
        text = ""
    else:
        children = ()
        text = _content(element, name)
    verb = Verb(name, attrs, text, children)
    _check_whole(verb)
    return verb


def _content(element: ET.Element, name: str) -> str:
    """The text of a verb that holds text (SSML allowed only inside SpeakSentence)."""
    for child in element.iter():
        if child is element:
            continue
        tag = tag_name(child.tag)
        if name != "SpeakSentence" or tag not in SSML_TAGS:
            what = "SSML (" + ", ".join(sorted(SSML_TAGS)) + ")" if name == "SpeakSentence" else "text"
            raise BxmlError(name, "", f"<{name}> holds {what}, not <{tag}>")
    return " ".join("".join(element.itertext()).split())


def _check_whole(verb: Verb) -> None:
    """Rules that look at a verb as a whole: its text, and how its attributes go together."""
    name, text = verb.name, verb.text
    if name == "SpeakSentence" and not text:
        raise BxmlError(name, "", "the sentence to speak may not be blank")
    if name == "PlayAudio":
        try:
            _url("", text)
        except ValueError as exc:
            raise BxmlError(name, "", f"the audio URL {exc}") from None
    if name == "PhoneNumber" and not _E164.fullmatch(text):
        raise BxmlError(name, "", f"must hold an E.164 number like +15551234567, got {text!r}")
    if name == "Tag" and len(text) > MAX_TAG:
        raise BxmlError(name, "", f"a tag may be at most {MAX_TAG} characters, got {len(text)}")
    if name in ("Hangup", "StopGather", "Pause", "StartGather", "Redirect") and text:
        raise BxmlError(name, "", f"<{name}> holds no text; found {text[:40]!r}")
    if name == "Transfer" and not 1 <= len(verb.children) <= 8:
        raise BxmlError(name, "", f"<Transfer> must nest 1 to 8 <PhoneNumber>, got {len(verb.children)}")
    if name == "Gather":
        timing = {k: verb.attrs[k] for k in V2_GATHER_ATTRIBUTES if k in verb.attrs}
        try:
            GatherSpec.from_bxml(timing, 0.0, max(1, len(verb.children)))
        except OptionError as exc:
            raise BxmlError(name, exc.prop, str(exc)) from None
        if len(verb.children) > 20:
            raise BxmlError(name, "", f"<Gather> may nest at most 20 verbs, got {len(verb.children)}")
