"""The ``<Gather>`` verbs of a Voice API v2 BXML document, as the options the store records for them.

A v2 gather has no ``gatherId`` and no create request: its options are the attributes of the ``<Gather>``
in the BXML that the app answered a webhook with (or ``PUT …/calls/{callId}/bxml``). The store records
each such gather in its gathers table beside v1's, named by its call and the time the document was
served (:func:`gather_key`), with options in the v1 table's shape where the names are shared
(``maxDigits``, ``interDigitTimeout``, ``terminatingDigits``, ``tag``, ``prompt.sentence`` …), v2's own
attributes (``firstDigitTimeout``, ``repeatCount``, ``gatherUrl`` …) beside them, and ``"dialect": "v2"``.
Documents are read as untrusted XML by :func:`catapult_nb.bxml.read_bxml` (:mod:`defusedxml`: no DTD, no
entities; at most 64 KB), whatever their root; what is not a ``<Gather>`` is passed over, unchecked.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape, quoteattr

from catapult_nb.bxml import MAX_BXML_BYTES as MAX_DOCUMENT
from catapult_nb.bxml import BxmlError, gather_elements, read_bxml

__all__ = ["MAX_DOCUMENT", "BxmlError", "bxml_document", "gather_key", "gathers_in", "is_v2_gather"]

_NUMBERS = {"maxDigits": int, "repeatCount": int, "interDigitTimeout": float, "firstDigitTimeout": float}
_SPEECH = {"voice": "voice", "locale": "locale", "gender": "gender"}
_PASSWORDS = frozenset({"password", "fallbackPassword"})


def gathers_in(document: str | bytes) -> list[dict[str, Any]]:
    """Each ``<Gather>`` of ``document``, in order, as recorded options (see the module docstring).

    Numbers are read as numbers where they are numbers (else kept as the text given); a nested
    ``<SpeakSentence>`` becomes ``prompt.sentence`` (with its voice), a ``<PlayAudio>`` ``prompt.fileUrl``
    (the first nested verb; ``nestedVerbs`` counts them all). Passwords are left out.

    :raises BxmlError: empty, not XML, over 64 KB, or XML that uses a DTD or entities.
    """
    out = []
    for element in gather_elements(read_bxml(document)):
        options: dict[str, Any] = {"dialect": "v2"}
        for name, value in element.attrib.items():
            if name in _PASSWORDS:
                continue
            options[name] = _number(value, _NUMBERS[name]) if name in _NUMBERS else value
        nested = [child for child in element if child.tag in ("SpeakSentence", "PlayAudio")]
        if nested:
            first = nested[0]
            text = (first.text or "").strip()
            if first.tag == "SpeakSentence":
                prompt = {"sentence": text}
                prompt.update({wire: first.attrib[name] for name, wire in _SPEECH.items()
                               if name in first.attrib})
            else:
                prompt = {"fileUrl": text}
            options["prompt"] = prompt
            options["nestedVerbs"] = len(nested)
        out.append(options)
    return out


def bxml_document(gathers: list[dict[str, Any]]) -> str:
    """A ``<Response>`` holding these recorded gathers (what :func:`gathers_in` reads back as them, but
    for ``nestedVerbs``: only the first nested verb was recorded)."""
    verbs = []
    for options in gathers:
        attributes = "".join(f" {name}={quoteattr(_text(value))}" for name, value in options.items()
                             if name not in ("dialect", "prompt", "nestedVerbs"))
        given = options.get("prompt")
        prompt: dict[str, Any] = given if isinstance(given, dict) else {}
        inner = ""
        if prompt.get("sentence") is not None:
            voice = "".join(f" {name}={quoteattr(str(prompt[wire]))}" for name, wire in _SPEECH.items()
                            if wire in prompt)
            inner = f"<SpeakSentence{voice}>{escape(str(prompt['sentence']))}</SpeakSentence>"
        elif prompt.get("fileUrl") is not None:
            inner = f"<PlayAudio>{escape(str(prompt['fileUrl']))}</PlayAudio>"
        verbs.append(f"<Gather{attributes}>{inner}</Gather>")
    return '<?xml version="1.0" encoding="UTF-8"?><Response>' + "".join(verbs) + "</Response>"


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _number(text: str, kind: type) -> Any:
    try:
        number = float(text)
    except ValueError:
        return text
    if kind is int:
        return int(number) if number.is_integer() else text
    return number


def gather_key(call_id: str, served: str, index: int = 0) -> str:
    """The name of a v2 gather: its call and when its document was served (``c-1@2026-…Z``); a second
    ``<Gather>`` of the same document adds ``#2``."""
    return f"{call_id}@{served}" + (f"#{index + 1}" if index else "")


def is_v2_gather(options: Any) -> bool:
    """True for the options of a v2 gather the store recorded from BXML."""
    return isinstance(options, dict) and options.get("dialect") == "v2"
