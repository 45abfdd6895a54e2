"""How long a prompt plays: from its rendered audio, or from the 150 words-per-minute rule.

``timing="audio"`` (the default where espeak-ng is installed) times a sentence by the length of the WAV
:func:`~catapult_nb.prompts.render` makes, so what you hear is what the simulator and campaigns wait
through. ``timing="estimate"`` keeps the old rule: 150 words per minute, at least half a second. A
``fileUrl`` is fetched and measured either way; one that cannot be fetched or decoded is not played.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from catapult_nb.engine import MIN_PROMPT_SECONDS, estimate
from catapult_nb.engine import WORDS_PER_MINUTE as ESTIMATE_WORDS_PER_MINUTE
from catapult_nb.prompts import espeak
from catapult_nb.prompts.audio import AudioError
from catapult_nb.prompts.fetch import FETCH_TIMEOUT, fetch_audio_sync
from catapult_nb.prompts.tts import render

__all__ = [
    "ESTIMATE_WORDS_PER_MINUTE",
    "MIN_PROMPT_SECONDS",
    "PROMPT_TIMINGS",
    "PromptLength",
    "check_timing",
    "describe_timing",
    "duration",
    "estimate",
    "measure",
    "prompt_fields",
]

#: The two ways to time a sentence.
PROMPT_TIMINGS = ("audio", "estimate")

_warned = False


@dataclass(frozen=True)
class PromptLength:
    """One play of a prompt, measured."""

    seconds: float  # API seconds of one play; 0 means nothing plays
    kind: str  # "speak" (a sentence), "playback" (a file) or "" (nothing plays)
    timing: str  # "audio" (rendered), "estimate" (150 wpm), "file" (fetched and decoded) or "none"
    reason: str = ""  # why a file is not played, or why a sentence was estimated instead of rendered


def check_timing(timing: str) -> str:
    """:raises ValueError: unless ``timing`` is ``"audio"`` or ``"estimate"``."""
    if timing not in PROMPT_TIMINGS:
        raise ValueError(f"prompt_timing must be 'audio' or 'estimate', got {timing!r}")
    return timing


def describe_timing(timing: str) -> str:
    """How sentences are timed under ``timing``, for a repr: says when espeak-ng is missing."""
    from catapult_nb.prompts.tts import engine_available

    if check_timing(timing) == "estimate":
        return "estimate (150 words per minute)"
    if engine_available():
        return "audio (rendered by espeak-ng)"
    return "estimate (150 words per minute): espeak-ng is missing, pip install espeakng-loader"


def prompt_fields(prompt: Any) -> dict[str, Any]:
    """Sentence, voice, locale, gender and file URL of a Prompt, GatherOptions, wire dict or sentence."""
    from catapult_nb.options import GatherOptions, Prompt

    if isinstance(prompt, GatherOptions):
        prompt = prompt.prompt
    if prompt is None:
        return {}
    if isinstance(prompt, str):
        return {"sentence": prompt}
    if isinstance(prompt, dict):
        prompt = Prompt.from_wire(prompt)
    if not isinstance(prompt, Prompt):
        kind = type(prompt).__name__
        raise TypeError(f"a prompt is a Prompt, GatherOptions, wire dict or sentence, got {kind}")
    return {
        "sentence": prompt.sentence, "voice": prompt.voice, "locale": prompt.locale,
        "gender": prompt.gender, "file_url": prompt.file_url,
    }


def _warn_once(message: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(f"{message}; sentences are timed at 150 words per minute meanwhile", stacklevel=3)


def measure(prompt: Any, timing: str = "audio", *, fetch_timeout: float = FETCH_TIMEOUT) -> PromptLength:
    """Measure one play of a prompt.

    :param prompt: a :class:`~catapult_nb.options.Prompt`, :class:`~catapult_nb.options.GatherOptions`,
        a wire dict (``{"sentence": …}``) or a sentence.
    :param timing: ``"audio"`` renders the sentence (falling back to the estimate, with one warning that
        says how to install espeak-ng, where it is missing); ``"estimate"`` uses 150 words per minute.
    :param fetch_timeout: wall seconds a ``fileUrl`` may take to download.
    :returns: the :class:`PromptLength`; a file that cannot be fetched or decoded has ``seconds == 0``
        and the reason.
    """
    check_timing(timing)
    fields = prompt_fields(prompt)
    sentence, file_url = fields.get("sentence"), fields.get("file_url")
    if sentence and sentence.strip():
        if timing == "audio":
            try:
                voice = {k: fields.get(k) for k in ("voice", "locale", "gender")}
                return PromptLength(render(sentence, **voice).duration, "speak", "audio")
            except espeak.EngineMissing as exc:
                _warn_once(str(exc))
                return PromptLength(estimate(sentence), "speak", "estimate", str(exc))
        return PromptLength(estimate(sentence), "speak", "estimate")
    if file_url:
        try:
            info = fetch_audio_sync(file_url, timeout=fetch_timeout)
        except AudioError as exc:
            return PromptLength(0.0, "", "file", str(exc))
        return PromptLength(info.duration, "playback", "file")
    return PromptLength(0.0, "", "none")


def duration(prompt: Any, timing: str = "audio") -> float:
    """Seconds one play of ``prompt`` lasts (0 for no prompt); see :func:`measure`.

    :raises AudioError: the prompt's ``fileUrl`` cannot be fetched or decoded; the message says why. (The
        simulator plays nothing then; :func:`measure` gives that 0 s with the reason, without raising.)
    """
    length = measure(prompt, timing)
    if length.timing == "file" and length.kind == "":
        raise AudioError(f"the prompt's file cannot be played, so it has no length: {length.reason} "
                         "(the simulator skips it: prompts.measure() gives 0 s and this reason)")
    return length.seconds
