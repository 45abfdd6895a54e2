"""A v1 gather as a v2 ``<Gather>``: the port that keeps behaviour, the naive one, and what neither keeps.

The gather half of :mod:`catapult_nb.migrate` (which re-exports it), kept low in the package so that the
snippets' ``bxml-v2`` translation (:mod:`catapult_nb.translate`) is this same document.

:func:`gather` writes the v2 gather that behaves like the v1 one on every caller: v1's defaults written
out (``terminatingDigits="#"``, ``maxDigits="30"``), ``firstDigitTimeout`` equal to ``interDigitTimeout``
(v1 timed the first key with it, from the end of the prompt, as v2 times it from the end of the nested
audio) and one play of the prompt. :func:`naive` writes what a port by attribute names gives: the
attributes v1 set, v2's defaults for the rest. Both are :class:`Migration` objects; their
``differences`` list, in words, each behaviour the v2 gather does not keep and what the app must do
instead, and their ``bxml`` is the document (the differences as XML comments). The gather rules
themselves live in :mod:`catapult_nb.engine` (:data:`~catapult_nb.engine.DIALECTS`); here they are only
compared.

:func:`v1_reason` reads v1's ``reason`` back from a v2 ``gather`` webhook (or ``hung-up`` from a
``disconnect``).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from catapult_nb.bxml import gather_elements, read_bxml
from catapult_nb.engine import DIALECTS, V2_GATHER_ATTRIBUTES, GatherSpec, Reason, prompt_duration
from catapult_nb.options import GatherOptions, Prompt

__all__ = ["GATHER_URL", "Difference", "Migration", "from_bxml", "gather", "naive", "v1_reason"]

#: Where the v2 gather sends its result: the app's own URL, a placeholder to replace.
GATHER_URL = "https://your.app/gather"

_V1 = DIALECTS["v1"]
_V2 = DIALECTS["v2"]


@dataclass(frozen=True)
class Difference:
    """One behaviour of the v1 gather that the v2 gather does not keep.

    :ivar behaviour: what it is about (``"terminating key"``, ``"reason"``, …).
    :ivar v1: what v1 did; ``v2``: what this v2 gather does.
    :ivar instead: what the app must do about it.
    :ivar by_port: True when the port chose it (another port could keep it, e.g. by writing an attribute);
        False when v2 cannot keep it at all.
    """

    behaviour: str
    v1: str
    v2: str
    instead: str
    by_port: bool = False

    def __str__(self) -> str:
        return f"{self.behaviour}: v1 {self.v1}; v2 {self.v2}. {self.instead}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _keys(keys: str) -> str:
    return repr(keys) if keys else "no key"


@dataclass(eq=False)
class Migration:
    """A v1 gather and the v2 ``<Gather>`` it becomes (see :func:`gather`).

    :ivar options: the v1 gather options.
    :ivar attributes: the v2 Gather's attributes by their BXML names, as written (text).
    :ivar kept: True for the port that keeps behaviour (:func:`gather`), False otherwise.
    :ivar differences: each behaviour this v2 gather does not keep, in words, with what to do instead.
    """

    options: GatherOptions
    attributes: dict[str, str]
    kept: bool
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # why the attributes are what they are
    source: str | None = None  # the v2 document it was read from (from_bxml), shown as given

    @property
    def prompt(self) -> Prompt | None:
        return self.options.prompt

    def spec(self, prompt_seconds: float | None = None) -> GatherSpec:
        """The v2 gather for the engine.

        :param prompt_seconds: one play of the nested audio, measured; None: the engine's estimate.
        """
        prompt = self.prompt
        seconds = (prompt_duration(prompt.sentence if prompt else None, prompt.file_url if prompt else None)
                   if prompt_seconds is None else prompt_seconds)
        timing = {k: v for k, v in self.attributes.items() if k in V2_GATHER_ATTRIBUTES}
        return GatherSpec.from_bxml(timing, prompt_seconds=seconds)

    @property
    def bxml(self) -> str:
        """The v2 document: ``<Response><Gather …><SpeakSentence|PlayAudio/></Gather></Response>``, each
        difference an XML comment above it (from :func:`from_bxml`: the document as given)."""
        if self.source is not None:
            return self.source
        comments = [*self.notes, *(str(d) for d in self.differences)]
        return document(comments, "Gather", list(self.attributes.items()), self._nested())

    def _nested(self) -> list[str]:
        prompt = self.prompt
        if prompt is None:
            return []
        if prompt.sentence:
            speech = attributes([("voice", _lower(prompt.voice)), ("locale", prompt.locale),
                                 ("gender", _lower(prompt.gender))])
            return [f"<SpeakSentence{speech}>{escape(prompt.sentence)}</SpeakSentence>"]
        if prompt.file_url:
            return [f"<PlayAudio>{escape(prompt.file_url)}</PlayAudio>"]
        return []

    def __repr__(self) -> str:
        kind = "keeps behaviour" if self.kept else "naive port"
        lines = [f"Migration({kind}; {len(self.differences)} differences)",
                 "  <Gather " + " ".join(f"{k}={quoteattr(v)}" for k, v in self.attributes.items()) + ">"]
        lines += [f"  - {d}" for d in self.differences]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(d.behaviour)}</td><td>{html.escape(d.v1)}</td><td>{html.escape(d.v2)}</td>"
            f"<td>{html.escape(d.instead)}</td></tr>" for d in self.differences
        )
        kind = "the port that keeps behaviour" if self.kept else "a naive port"
        return (
            f"<div><b>v1 gather → v2 &lt;Gather&gt;: {kind}</b>"
            f"<pre>{html.escape(self.bxml)}</pre>"
            f"<table><tr><th>behaviour</th><th>v1</th><th>v2</th><th>what to do</th></tr>{rows}</table></div>"
        )


def _lower(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) else None


def attributes(pairs: list[tuple[str, Any]]) -> str:
    """XML attributes, quoted; pairs whose value is None are left out."""
    return "".join(f" {name}={quoteattr(str(value))}" for name, value in pairs if value is not None)


def comment(text: str) -> str:
    # "--" may not appear inside an XML comment
    return f"<!-- {text.replace('--', '- -')} -->"


def document(comments: list[str], tag: str, pairs: list[tuple[str, Any]], inner: list[str]) -> str:
    """A ``<Response>`` holding one verb ``tag`` with ``pairs`` as attributes and ``inner`` nested, and
    ``comments`` above it."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<Response>"]
    lines += [f"  {comment(c)}" for c in comments]
    head = f"<{tag}{attributes(pairs)}"
    if inner:
        lines.append(f"  {head}>")
        lines += [f"    {line}" for line in inner]
        lines.append(f"  </{tag}>")
    else:
        lines.append(f"  {head}/>")
    lines.append("</Response>")
    return "\n".join(lines) + "\n"


def gather(options: GatherOptions | Mapping[str, Any] | None = None, *, gather_url: str = GATHER_URL
           ) -> Migration:
    """The v2 ``<Gather>`` that behaves like the v1 gather ``options`` for every caller.

    v1's defaults are written out (``terminatingDigits="#"``, ``maxDigits="30"``, v2 has none and 50),
    ``firstDigitTimeout`` = ``interDigitTimeout`` (v1 waited that long for the first key after the
    prompt), one play of the prompt (``repeatCount`` would move the first key's deadline), the tag and
    the prompt's voice kept.

    :param options: the v1 gather (``GatherOptions`` or a wire dict).
    :param gather_url: where v2 sends the result (and asks for the next BXML).
    :returns: a :class:`Migration`; its ``differences`` are what v2 cannot keep.
    :raises OptionError: an option v1 does not accept.
    """
    v1 = GatherOptions.coerce(dict(options) if isinstance(options, Mapping) else options)
    timeout = _number(v1.effective_inter_digit_timeout)
    pairs = {
        "gatherUrl": gather_url,
        "maxDigits": str(v1.effective_max_digits),
        "terminatingDigits": v1.effective_terminating_digits,
        "interDigitTimeout": timeout,
        "firstDigitTimeout": timeout,
    }
    if v1.tag is not None:
        pairs["tag"] = v1.tag
    migration = _migration(v1, pairs, kept=True)
    migration.notes = [
        f"Kept: firstDigitTimeout = interDigitTimeout = {timeout} s, because v1 timed the first key with "
        "interDigitTimeout from the end of the prompt, as v2 times firstDigitTimeout from the end of the "
        "audio.",
        "v2 sends the result to gatherUrl (replace the placeholder); v1 sent it to the call's callbackUrl.",
    ]
    written = [f"{name} {value!r}" for name, value, given in (
        ("terminatingDigits", pairs["terminatingDigits"], v1.terminating_digits),
        ("maxDigits", pairs["maxDigits"], v1.max_digits)) if given is None]
    if written:
        migration.notes.append(f"Kept: v1's defaults written out ({', '.join(written)}); v2's are no "
                               f"terminating key and {_V2.max_digits} digits.")
    return migration


def naive(options: GatherOptions | Mapping[str, Any] | None = None, *, gather_url: str = GATHER_URL
          ) -> Migration:
    """The v2 ``<Gather>`` a port by attribute names gives: what v1 set, v2's defaults for the rest (no
    terminating key, 50 digits, ``firstDigitTimeout`` 5 s, one play of the prompt). What it changes is in
    its ``differences``; :func:`catapult_nb.migrate.compare` shows who it changes."""
    v1 = GatherOptions.coerce(dict(options) if isinstance(options, Mapping) else options)
    pairs = {"gatherUrl": gather_url}
    if v1.max_digits is not None:
        pairs["maxDigits"] = str(v1.max_digits)
    if v1.terminating_digits is not None:
        pairs["terminatingDigits"] = v1.terminating_digits
    if v1.inter_digit_timeout is not None:
        pairs["interDigitTimeout"] = _number(v1.inter_digit_timeout)
    if v1.tag is not None:
        pairs["tag"] = v1.tag
    return _migration(v1, pairs, kept=False)


def from_bxml(text: str, options: GatherOptions | Mapping[str, Any] | None = None) -> Migration:
    """A v2 document's first ``<Gather>``, against the v1 gather ``options`` it replaces.

    The document is read as untrusted XML by :func:`catapult_nb.bxml.read_bxml` (:mod:`defusedxml`: no
    DTD, no entities; at most 64 KB).

    :raises BxmlError: the document cannot be read (a ValueError; the message says why).
    :raises ValueError: no ``<Gather>`` in it; OptionError for values out of v2's ranges.
    """
    found = gather_elements(read_bxml(text))
    if not found:
        raise ValueError("the v2 BXML has no <Gather>: give the document the v2 app answers with")
    element = found[0]
    v1 = GatherOptions.coerce(dict(options) if isinstance(options, Mapping) else options)
    pairs = dict(element.attrib)
    GatherSpec.from_bxml({k: v for k, v in pairs.items() if k in V2_GATHER_ATTRIBUTES},
                         nested_verbs=max(len(element), 1))
    migration = _migration(v1, pairs, kept=False)
    migration.source = text if isinstance(text, str) else text.decode("utf-8")
    return migration


def _migration(v1: GatherOptions, pairs: dict[str, str], kept: bool) -> Migration:
    migration = Migration(v1, pairs, kept)
    migration.differences = differences(v1, migration.spec(prompt_seconds=1.0), migration.spec(0.0))
    return migration


def differences(v1: GatherOptions, with_prompt: GatherSpec, without_prompt: GatherSpec) -> list[Difference]:
    """Each behaviour of the v1 gather ``v1`` that the v2 gather does not keep (the v2 gather given
    twice, with a prompt of 1 s and of none, so timing rules are compared whatever the prompt)."""
    out: list[Difference] = []
    v2 = with_prompt
    ends1, ends2 = v1.effective_terminating_digits, v2.terminating_digits
    if ends1 != ends2:
        default = " (v1's default)" if v1.terminating_digits is None else ""
        out.append(Difference(
            "terminating key", f"ends on {_keys(ends1)}{default}",
            f"ends on {_keys(ends2)}" + (", so '#' is an ordinary digit" if "#" in ends1 and "#" not in ends2
                                        else ""),
            f'Write terminatingDigits="{ends1}" to keep it', by_port=True))
    if v1.effective_max_digits != v2.max_digits:
        out.append(Difference(
            "maxDigits", f"stops at {v1.effective_max_digits} digits", f"at {v2.max_digits}",
            f'Write maxDigits="{v1.effective_max_digits}" to keep it', by_port=True))
    timeout = v1.effective_inter_digit_timeout
    v1_first = GatherSpec(inter_digit_timeout=timeout)
    if (v1_first.no_key_timeout_at != without_prompt.no_key_timeout_at
            or 1.0 + timeout != with_prompt.no_key_timeout_at):
        replays = f", {v2.repeat_count} plays" if v2.repeat_count > 1 else ""
        out.append(Difference(
            "first key", f"waits {_number(timeout)} s after the prompt (interDigitTimeout)",
            f"waits {_number(v2.first_key_timeout)} s after the audio (firstDigitTimeout{replays})",
            f'Write firstDigitTimeout="{_number(timeout)}" and repeatCount="1" to keep it', by_port=True))
    if timeout != v2.inter_digit_timeout:
        out.append(Difference(
            "between keys", f"waits {_number(timeout)} s", f"{_number(v2.inter_digit_timeout)} s",
            f'Write interDigitTimeout="{_number(timeout)}" to keep it', by_port=True))
    prompt = v1.prompt
    if prompt is not None and prompt.loop_enabled and v2.repeat_count == 1:
        out.append(Difference(
            "looping prompt", "repeated the prompt until the first key",
            "plays it once, then waits in silence (the deadline for the first key is the same)",
            "Say in the prompt that the caller may press now, or accept repeatCount's replays: each adds "
            "a play and a firstDigitTimeout to the wait for the first key"))
    out.append(Difference(
        "reason", "said why the gather ended (reason)", "sends digits and terminatingDigit, no reason",
        "Derive it with catapult_nb.migrate.v1_reason: terminatingDigit set → terminating-digit; "
        "len(digits) == maxDigits → max-digits; otherwise inter-digit-timeout"))
    out.append(Difference(
        "hang-up", "sent a gather event with reason hung-up and the digits so far",
        "sends no gather webhook; the digits pressed before the hang-up are lost",
        "Watch the disconnect webhook (cause hangup) to end the caller's session"))
    out.append(Difference(
        "gatherId and state", "identified the gather (gatherId) and its state", "has neither",
        "Use callId and tag to tell gathers apart"))
    if v1.suppress_dtmf is False:
        out.append(Difference(
            "per-key events", "sent a dtmf event per key (suppressDtmf false)",
            "sends no dtmf webhooks during a Gather", "Read the keys from the gather webhook's digits"))
    if prompt is not None and prompt.sentence:
        out.append(Difference(
            "voice", f"spoke with {_lower(prompt.voice) or 'susan'}",
            "SpeakSentence takes the same voice names, but newer recordings that sound different and last "
            "a little longer or shorter", "Listen to the prompt again on v2"))
    return out


def v1_reason(event: Any, options: Any = None) -> Reason:
    """v1's ``reason`` for a gather, read from its v2 webhook.

    A ``gather`` webhook: non-empty ``terminatingDigit`` → ``terminating-digit``; as many digits as the
    gather's ``maxDigits`` → ``max-digits``; otherwise ``inter-digit-timeout`` (v1's name for both the
    first key's and a later key's time-out; no digits means the first). A ``disconnect`` webhook (any
    cause): ``hung-up`` — v2 sends no gather webhook when the caller hangs up mid-gather, and v1's
    ``hung-up`` event is the one v1 reason a gather webhook cannot carry. For the port that keeps
    behaviour (:func:`gather`) the answer is v1's reason for every caller.

    :param event: the webhook as a dict (wire names) or an object with ``digits``,
        ``terminating_digit`` and ``event_type`` (the SDK's callback models).
    :param options: the gather: the v1 options (``GatherOptions`` or its wire dict; the port that keeps
        behaviour keeps its ``maxDigits``), a :class:`Migration`, a v2
        :class:`~catapult_nb.engine.GatherSpec`, or None (v2's default of 50).
    :raises ValueError: an event that is neither a gather nor a disconnect webhook.
    """
    kind = _field(event, "eventType", "event_type")
    if kind == "disconnect":
        return Reason.HUNG_UP
    if kind not in (None, "gather"):
        raise ValueError(f"v1_reason reads a gather or disconnect webhook, got eventType {kind!r}")
    digits = _field(event, "digits", "digits") or ""
    ended_by = _field(event, "terminatingDigit", "terminating_digit") or ""
    if ended_by:
        return Reason.TERMINATING_DIGIT
    if len(digits) >= _max_digits(options):
        return Reason.MAX_DIGITS
    return Reason.INTER_DIGIT_TIMEOUT


def _field(event: Any, wire: str, python: str) -> Any:
    if isinstance(event, Mapping):
        return event.get(wire)
    return getattr(event, python, None)


def _max_digits(options: Any) -> int:
    if isinstance(options, Migration):
        return options.spec(0.0).max_digits
    if isinstance(options, GatherSpec):
        return options.max_digits
    if isinstance(options, GatherOptions):
        return options.effective_max_digits
    if isinstance(options, Mapping):  # the v1 gather as the v1 API took it
        return GatherOptions.coerce(dict(options)).effective_max_digits
    if options is None:
        return _V2.max_digits
    raise TypeError(f"options must be GatherOptions, a Migration, a GatherSpec or a dict, got "
                    f"{type(options).__name__}")
