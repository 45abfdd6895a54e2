"""Render a prompt's sentence to WAV offline, with the voice, locale and gender the API would use."""

from __future__ import annotations

import html
import io
import threading
import wave
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from catapult_nb.options import check_sentence
from catapult_nb.prompts import espeak
from catapult_nb.prompts.voices import EngineVoice, resolve_voice

if TYPE_CHECKING:
    from catapult_nb.prompts.player import Listen

__all__ = [
    "CACHE_BYTES", "CACHE_SIZE", "WORDS_PER_MINUTE", "CacheInfo", "Rendered", "cache_clear", "cache_info",
    "engine_available", "render",
]

#: Speaking rate given to espeak-ng; the same rate as the old estimate, so the two agree roughly.
WORDS_PER_MINUTE = 150
#: Renders kept in memory (a 10-word sentence is about 170 KB of WAV).
CACHE_SIZE = 256
#: Bytes of WAV kept in memory at most (a 1,000-character sentence is about 2.6 MB); the oldest renders go
#: first, the newest always stays.
CACHE_BYTES = 32 * 1024 * 1024


class CacheInfo(NamedTuple):
    """What the render cache holds: renders and their bytes of WAV."""

    entries: int
    bytes: int


@dataclass(frozen=True, eq=False)
class Rendered:
    """A sentence rendered to speech: the WAV file, its sample rate and its length."""

    text: str  # the sentence as rendered
    voice: EngineVoice  # the v1 voice, locale and gender, and the espeak-ng voice that stood in
    wav: bytes = field(repr=False)  # a complete mono 16-bit WAV file
    sample_rate: int  # Hz
    duration: float  # seconds of audio, which is how long the API would speak it

    @property
    def words(self) -> int:
        return len(self.text.split())

    def listen(self) -> Listen:
        """An IPython ``Audio`` player for this sentence, labelled with its length; it never autoplays."""
        from catapult_nb.prompts.player import Listen  # IPython: not in the lean install

        return Listen(self)

    def __repr__(self) -> str:
        short = self.text if len(self.text) <= 40 else self.text[:37] + "..."
        return (
            f"Rendered({short!r}, {self.duration:.2f} s, voice={self.voice.voice} {self.voice.locale} "
            f"as espeak-ng {self.voice.engine}, {self.sample_rate} Hz)"
        )

    def _repr_html_(self) -> str:
        return self.listen()._repr_html_()

    @property
    def caption(self) -> str:
        """The player's label, as HTML: the length, the words, the v1 voice and the espeak-ng voice."""
        return (
            f"<b>{self.duration:.1f} s spoken</b> · {self.words} words · {html.escape(self.voice.voice)} "
            f"({html.escape(self.voice.locale)}, {self.voice.gender}) approximated by espeak-ng "
            f"<code>{html.escape(self.voice.engine)}</code>"
        )


_CACHE: OrderedDict[tuple[str, EngineVoice], Rendered] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_cache_bytes = 0  # the WAV bytes held in _CACHE


def _wav(pcm: bytes, sample_rate: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm)
    return out.getvalue()


def render(
    text: str, *, voice: str | None = None, locale: str | None = None, gender: str | None = None
) -> Rendered:
    """Speak ``text`` with espeak-ng standing in for the v1 voice; the result is cached.

    The cache key is the sentence with the resolved voice, locale and gender, so ``render("Hi")`` and
    ``render("Hi", voice="susan", locale="en_US")`` are one entry. Rendering is offline: the engine and its
    data ship with the ``espeakng-loader`` package.

    :param text: the sentence, at most 1,000 characters (the API's limit).
    :param voice: a v1 voice (reference §8); see :func:`catapult_nb.prompts.voices.resolve_voice`.
    :param locale: a v1 locale such as ``"es_MX"``.
    :param gender: ``"female"`` or ``"male"``.
    :returns: the :class:`Rendered` sentence.
    :raises catapult_nb.options.OptionError: a sentence over 1,000 characters, an unknown voice, locale or
        gender (the same message as the API's validation error).
    :raises catapult_nb.prompts.EngineMissing: when espeak-ng is not installed (the message says how).
    """
    text = check_sentence(text)
    resolved = resolve_voice(voice, locale, gender)
    key = (text, resolved)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    tts = espeak.engine()
    pcm = tts.synthesize(text, resolved.engine, WORDS_PER_MINUTE) if text.strip() else b""
    rate = tts.sample_rate
    result = Rendered(text, resolved, _wav(pcm, rate), rate, len(pcm) / 2 / rate)
    global _cache_bytes
    with _CACHE_LOCK:
        if key not in _CACHE:  # two threads may render one sentence at once: count it once
            _CACHE[key] = result
            _cache_bytes += len(result.wav)
        while len(_CACHE) > 1 and (len(_CACHE) > CACHE_SIZE or _cache_bytes > CACHE_BYTES):
            _cache_bytes -= len(_CACHE.popitem(last=False)[1].wav)
    return result


def cache_clear() -> None:
    """Drop every cached render (the next :func:`render` of each sentence runs the engine again)."""
    global _cache_bytes
    with _CACHE_LOCK:
        _CACHE.clear()
        _cache_bytes = 0


def cache_info() -> CacheInfo:
    """How many renders the cache holds and their bytes (at most :data:`CACHE_SIZE`, :data:`CACHE_BYTES`)."""
    with _CACHE_LOCK:
        return CacheInfo(len(_CACHE), _cache_bytes)


def engine_available() -> bool:
    """Whether espeak-ng can be started here (it is looked for once per process)."""
    try:
        espeak.engine()
    except espeak.EngineMissing:
        return False
    return True
